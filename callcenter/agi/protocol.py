"""The FastAGI wire format as pure functions: header lines, the call environment, command lines, replies.

Nothing here does I/O, so every rule of the protocol is testable on its own (see res/res_agi.c in Asterisk).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import parse_qsl, urlsplit

from callcenter.agi.errors import AGIProtocolError

# Asterisk reads each command with fgets() into char buf[AGI_BUF_LEN = 2048]: a longer line is cut in two and
# its tail runs as a second command, so a command line (newline included) may hold at most 2047 bytes.
MAX_COMMAND_BYTES = 2047
# The unsolicited line a FastAGI peer gets when the channel hangs up (unless the dialplan set AGISIGHUP=no).
HANGUP_LINE = "HANGUP"
# Keys a telephone keypad can send (DTMF); what STREAM FILE / GET DATA / SAY can report as pressed.
DTMF_DIGITS = frozenset("0123456789*#ABCD")

_HEADER_KEY = re.compile(r"agi_[A-Za-z0-9_]+")
_HEADER_LINE_START = re.compile(r"agi_[A-Za-z0-9_]+:")
_ARG_KEY = re.compile(r"agi_arg_([0-9]{1,6})")
_CODE = re.compile(r"([0-9]{3})(?:([ -])|$)")
# Words that Asterisk's parse_args() treats specially: whitespace splits, '"' toggles quoting, '\' escapes.
_NEEDS_QUOTES = re.compile(r'[ \t"\\]')
_FORBIDDEN_IN_WORD = re.compile(r"[\r\n\0]")
_ENDPOS = re.compile(r"endpos=(-?[0-9]{1,19})")
_DATA_ENDPOS = re.compile(r"\((.*)\) endpos=(-?[0-9]{1,19})")
_DATA_THEN_REST = re.compile(r"\(([^)]*)\) (.*)")
_ENDPOS_TOKEN = re.compile(r"(?:^|\s)endpos=(-?[0-9]{1,19})(?=\s|$)")

_UNKNOWN = "unknown"


# ---------------------------------------------------------------------------------------------------------
# The header block Asterisk sends first
# ---------------------------------------------------------------------------------------------------------


def parse_header_line(line: bytes) -> tuple[str, str]:
    """Split one `agi_key: value` line (line ending optional) into (key, value).

    Asterisk writes every header as "agi_key: %s\\n" (setup_env() in res/res_agi.c), so anything else, even
    `agi_key:value`, is not from Asterisk and raises AGIProtocolError (and only that). Bytes that are not UTF-8
    are replaced rather than refused: a caller name from a SIP peer must not cost the call.
    """
    if line.endswith(b"\n"):
        line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    text = line.decode("utf-8", errors="replace")
    key, sep, value = text.partition(": ")
    if not sep or not _HEADER_KEY.fullmatch(key) or "\n" in value or "\r" in value:
        raise AGIProtocolError(f"not an AGI header line: {text[:80]!r}")
    return key, value


# The keys that say which call this is and which route it runs. Asterisk 22 writes agi_network and
# agi_network_script first, then setup_env() writes agi_request, agi_channel, agi_language, agi_type,
# agi_uniqueid and agi_version, and only then agi_callerid: the first value a caller controls (PJSIP decodes %0A
# in a From user into CALLERID(num), and Asterisk writes it raw). Everything from agi_callerid on (the caller's
# name, dnid, rdnis, extension, the AGI arguments) may therefore carry lines a caller injected. With a repeated key
# refused, an injected identity key would be a repeat of the real one, which came earlier, so it is refused; and
# one Asterisk did not send (a script-less AGI URL has no agi_network_script) is refused for coming after
# agi_callerid.
UNIQUEID = re.compile(r"[A-Za-z0-9._-]{1,150}")
CHANNEL_NAME = re.compile(r"[!-~]{1,256}")
IDENTITY_KEYS = frozenset({"agi_network_script", "agi_request", "agi_channel", "agi_uniqueid"})
FIRST_CALLER_KEY = "agi_callerid"


class HeaderBlock:
    """The header lines of one connection, collected in order, refusing any block Asterisk would not send.

    add() raises AGIProtocolError for a repeated key, an identity key after agi_callerid, and an AGI argument
    that is not the next one (agi_arg_1, agi_arg_2, ...) or a header after the arguments: setup_env() writes the
    arguments last, so an agi_arg_1 injected through the caller ID is followed by real headers and refused.
    """

    def __init__(self) -> None:
        self._headers: dict[str, str] = {}
        self._caller_part = False
        self._args = 0

    def add(self, key: str, value: str) -> None:
        if key in self._headers:
            # never "the last one wins": the last one is the one a caller could have written
            raise AGIProtocolError(f"header {key} sent twice (a caller ID carrying header lines?)")
        if _ARG_KEY.fullmatch(key) is not None:
            if key != f"agi_arg_{self._args + 1}":
                raise AGIProtocolError(f"{key} out of order: Asterisk numbers its arguments from agi_arg_1 on")
            self._args += 1
        elif self._args:
            raise AGIProtocolError(f"{key} after the AGI arguments: Asterisk sends them last")
        if key == FIRST_CALLER_KEY:
            self._caller_part = True
        elif key in IDENTITY_KEYS and self._caller_part:
            raise AGIProtocolError(f"{key} after {FIRST_CALLER_KEY}: Asterisk sends it before any caller data")
        self._headers[key] = value

    @property
    def headers(self) -> dict[str, str]:
        return dict(self._headers)


def only_hangup_lines(data: bytes) -> bool:
    """True if ``data`` (what arrived after the header block, before any command) is nothing but HANGUP lines,
    the last possibly incomplete: the one thing Asterisk sends unasked."""
    *complete, partial = data.split(b"\n")
    expected = HANGUP_LINE.encode()
    return all(line.removesuffix(b"\r") == expected for line in complete) and (
        expected.startswith(partial) or partial == expected + b"\r"
    )


@dataclass(frozen=True, slots=True)
class AGIEnv:
    """What Asterisk told us about the call in the header block.

    callerid and calleridname hold "" where Asterisk wrote its "unknown" placeholder; raw keeps every header
    exactly as sent (keys with their agi_ prefix).
    """

    uniqueid: str
    channel: str
    callerid: str
    calleridname: str
    context: str
    extension: str
    language: str
    network_script: str
    route: str
    params: Mapping[str, str]
    args: tuple[str, ...]
    raw: Mapping[str, str]


def build_env(headers: Mapping[str, str]) -> AGIEnv:
    """Build the AGIEnv of a call from its header mapping (keys as sent: `agi_request`, ...).

    AGIProtocolError when the block names no script, or lacks the uniqueid or channel every call has: a route
    must never run for a call it cannot name (the store keys calls by uniqueid).
    """
    script = headers.get("agi_network_script")
    request = headers.get("agi_request")
    if script is not None and request is not None and _script_of(request) != script:
        # Asterisk derives the one from the other: a mismatch means one of them is not Asterisk's
        raise AGIProtocolError(f"agi_network_script {script[:80]!r} is not the script of agi_request")
    if script is not None:
        path, _, query = script.partition("?")
    else:
        if request is None:
            raise AGIProtocolError("the header block names no script (no agi_network_script, no agi_request)")
        try:
            parts = urlsplit(request)
        except ValueError as exc:
            raise AGIProtocolError(f"unparsable agi_request {request[:80]!r}: {exc}") from None
        path, query = parts.path, parts.query
    route = path.lstrip("/")
    if not route:
        raise AGIProtocolError("the header block names no script (an empty one)")
    for key in ("agi_uniqueid", "agi_channel"):
        if not headers.get(key):
            raise AGIProtocolError(f"the header block has no {key}" if key not in headers else f"empty {key}")
    # what Asterisk names a call and a channel by (AST_MAX_UNIQUEID 150; "main-1796109392.26",
    # "PJSIP/trunk-0000001a"): anything else did not come from Asterisk, and would reach the store, logs and
    # terminals (ESC sequences in `calls list`) and our command lines (a comma splits an EXEC argument)
    if not UNIQUEID.fullmatch(headers["agi_uniqueid"]):
        raise AGIProtocolError(f"agi_uniqueid {headers['agi_uniqueid'][:40]!r} is not an Asterisk uniqueid")
    if not CHANNEL_NAME.fullmatch(headers["agi_channel"]):
        raise AGIProtocolError(f"agi_channel {headers['agi_channel'][:40]!r} is not an Asterisk channel name")
    numbered = sorted(
        (int(match.group(1)), value) for key, value in headers.items() if (match := _ARG_KEY.fullmatch(key)) is not None
    )
    return AGIEnv(
        uniqueid=headers["agi_uniqueid"],
        channel=headers["agi_channel"],
        callerid=_known(headers.get("agi_callerid", "")),
        calleridname=_known(headers.get("agi_calleridname", "")),
        context=headers.get("agi_context", ""),
        extension=headers.get("agi_extension", ""),
        language=headers.get("agi_language", ""),
        network_script=script if script is not None else route + (f"?{query}" if query else ""),
        route=route,
        # later values of a repeated key win, like a plain dict() of the pairs
        params=MappingProxyType(dict(parse_qsl(query, keep_blank_values=True))),
        args=tuple(value for _, value in numbered),
        raw=MappingProxyType(dict(headers)),
    )


def _script_of(request: str) -> str:
    """What Asterisk sends as agi_network_script for this agi_request: everything after the first "/" that
    follows "agi://" (launch_netscript() in res/res_agi.c), "" for a URL without one."""
    _, _, rest = request.partition("://")
    return rest.partition("/")[2]


def _known(value: str) -> str:
    return "" if value == _UNKNOWN else value


# ---------------------------------------------------------------------------------------------------------
# Commands we send
# ---------------------------------------------------------------------------------------------------------


def quote_word(word: str) -> str:
    """One argument as Asterisk's parse_args() will read it back: double-quoted when needed."""
    if _FORBIDDEN_IN_WORD.search(word):
        # a newline would end the command early and run the rest as a second command: refuse, never escape
        raise ValueError(f"AGI arguments cannot contain CR, LF or NUL: {word[:80]!r}")
    if word and not _NEEDS_QUOTES.search(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_command(*words: str | int) -> bytes:
    """One command line, e.g. format_command("STREAM", "FILE", "hello", "12#") -> b'STREAM FILE hello 12#\\n'.

    Each word is one argument for Asterisk: pass "GET", "VARIABLE", name, never "GET VARIABLE". Empty words
    become "" (STREAM FILE needs its escape-digits argument even when there are none). Raises ValueError
    for CR/LF/NUL in a word or a line longer than Asterisk's command buffer.
    """
    if not words or words[0] == "":
        raise ValueError("an AGI command needs a command word")
    line = (" ".join(quote_word(str(word)) for word in words) + "\n").encode("utf-8")
    if len(line) > MAX_COMMAND_BYTES:
        raise ValueError(f"AGI command of {len(line)} bytes exceeds Asterisk's limit of {MAX_COMMAND_BYTES}")
    return line


# ---------------------------------------------------------------------------------------------------------
# Replies we read
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply: `200 result=<result> [(<data>)] [endpos=<n>]`, or an error code with its text.

    For 200 replies `text` is "" unless Asterisk appended something beyond data/endpos (SPEECH RECOGNIZE's
    `results=...`), which is kept there verbatim. For other codes `text` is the message; a multi-line
    block (520 usage) is joined with newlines.
    """

    code: int
    result: str = ""
    data: str | None = None
    endpos: int | None = None
    text: str = ""

    def result_int(self) -> int:
        """The result as a number; AGIProtocolError when it is not one."""
        try:
            return int(self.result)
        except ValueError:
            raise AGIProtocolError(f"expected a numeric result, got {self.result[:40]!r}") from None


def _strip_eol(line: str) -> str:
    return line.removesuffix("\n").removesuffix("\r")


def _ends_block(line: str, code: str) -> bool:
    return line == code or line.startswith(code + " ")


def parse_reply(lines: Sequence[str]) -> Reply:
    """Parse the lines of one reply: a single line, or a `NNN-` ... `NNN ` block. Never takes HANGUP lines."""
    if not lines:
        raise AGIProtocolError("empty reply")
    clean = [_strip_eol(line) for line in lines]
    first = clean[0]
    match = _CODE.match(first)
    if match is None:
        raise AGIProtocolError(f"reply without a status code: {first[:80]!r}")
    code = match.group(1)
    if match.group(2) == "-":
        if code == "200":
            raise AGIProtocolError("a 200 reply cannot span several lines")
        last = clean[-1]
        if len(clean) < 2 or not _ends_block(last, code):
            raise AGIProtocolError(f"{code} block without its closing '{code} ' line")
        if any(_ends_block(line, code) for line in clean[1:-1]):
            raise AGIProtocolError(f"{code} block holds more than one closing line")
        return Reply(code=int(code), text="\n".join([first[4:], *clean[1:-1], last[4:]]))
    if len(clean) != 1:
        raise AGIProtocolError(f"a single-line {code} reply came with {len(clean) - 1} extra lines")
    rest = first[4:]
    if code != "200":
        return Reply(code=int(code), text=rest)
    return _parse_success(rest)


def _parse_success(rest: str) -> Reply:
    if not rest.startswith("result="):
        raise AGIProtocolError(f"200 reply without result=: {rest[:80]!r}")
    result, _, tail = rest.removeprefix("result=").partition(" ")
    data: str | None = None
    endpos: int | None = None
    extra = ""
    if tail.startswith("("):
        if len(tail) >= 2 and tail.endswith(")"):
            # "(%s)\n" is always last when present alone: a variable's value may hold any parentheses
            data = tail[1:-1]
        elif (match := _DATA_ENDPOS.fullmatch(tail)) is not None:
            data, endpos = match.group(1), int(match.group(2))
        elif (match := _DATA_THEN_REST.fullmatch(tail)) is not None:
            data, extra = match.group(1), match.group(2)
        else:
            raise AGIProtocolError(f"unbalanced parenthesis in reply: {rest[:80]!r}")
    elif (match := _ENDPOS.fullmatch(tail)) is not None:
        endpos = int(match.group(1))
    else:
        extra = tail
    if extra and endpos is None and (match := _ENDPOS_TOKEN.search(extra)) is not None:
        endpos = int(match.group(1))
    return Reply(code=200, result=result, data=data, endpos=endpos, text=extra)


def format_reply(reply: Reply) -> list[str]:
    """The lines Asterisk would send for `reply` (without newlines): the inverse of parse_reply.

    Used by tests and fakes; for 200 replies a non-empty `text` is appended after data/endpos.
    """
    if reply.code == 200:
        line = f"200 result={reply.result}"
        if reply.data is not None:
            line += f" ({reply.data})"
        if reply.endpos is not None:
            line += f" endpos={reply.endpos}"
        if reply.text:
            line += f" {reply.text}"
        return [line]
    if "\n" not in reply.text:
        return [f"{reply.code} {reply.text}"]
    first, *middle, last = reply.text.split("\n")
    return [f"{reply.code}-{first}", *middle, f"{reply.code} {last}"]


class ReplyAssembler:
    """Turns the lines Asterisk sends, one at a time, into replies.

    feed() returns the Reply a line completes, or None while a multi-line block is open. The unsolicited
    HANGUP line is never a reply: it is skipped wherever it appears and flagged in `hangup_seen` (sticky).
    """

    def __init__(self, *, max_block_lines: int = 512) -> None:
        self._max_block_lines = max_block_lines
        self._block: list[str] = []
        self.hangup_seen = False

    @property
    def in_block(self) -> bool:
        """True while a multi-line reply is open (more lines needed)."""
        return bool(self._block)

    def feed(self, line: str) -> Reply | None:
        line = _strip_eol(line)
        if line == HANGUP_LINE:
            self.hangup_seen = True
            return None
        if self._block:
            self._block.append(line)
            # the code of the block's first line (it matched _CODE when the block opened)
            if _ends_block(line, self._block[0][:3]):
                lines, self._block = self._block, []
                return parse_reply(lines)
            if len(self._block) > self._max_block_lines:
                raise AGIProtocolError(f"multi-line reply longer than {self._max_block_lines} lines")
            return None
        match = _CODE.match(line)
        if match is not None and match.group(2) == "-" and match.group(1) != "200":
            self._block = [line]
            return None
        if match is None and _HEADER_LINE_START.match(line):
            # the rest of a header block that a blank line in the caller ID ended early
            raise AGIProtocolError(f"a header line where a reply belongs: {line[:40]!r} (header block cut short?)")
        return parse_reply([line])


def header_block(
    route: str = "inbound",
    *,
    query: str = "",
    uniqueid: str = "1700000000.1",
    channel: str = "PJSIP/trunk-00000001",
    callerid: str = "5551234",
    args: Sequence[str] = (),
    port: int = 4573,
) -> bytes:
    """The header block Asterisk 22 sends on connecting, in its order, ended by the empty line (for the tests'
    and the benchmark's fake Asterisk)."""
    script = route + (f"?{query}" if query else "")
    lines = [
        ("agi_network", "yes"),
        ("agi_network_script", script),
        ("agi_request", f"agi://127.0.0.1:{port}/{script}"),
        ("agi_channel", channel),
        ("agi_language", "en"),
        ("agi_type", "PJSIP"),
        ("agi_uniqueid", uniqueid),
        ("agi_version", "22.1.1"),
        ("agi_callerid", callerid),
        ("agi_calleridname", "unknown"),
        ("agi_callingpres", "0"),
        ("agi_callingani2", "0"),
        ("agi_callington", "0"),
        ("agi_callingtns", "0"),
        ("agi_dnid", "100"),
        ("agi_rdnis", "unknown"),
        ("agi_context", "cc-inbound"),
        ("agi_extension", "100"),
        ("agi_priority", "5"),
        ("agi_enhanced", "0.0"),
        ("agi_accountcode", ""),
        ("agi_threadid", "140245123"),
        *((f"agi_arg_{number}", arg) for number, arg in enumerate(args, 1)),
    ]
    return b"".join(f"{key}: {value}\n".encode() for key, value in lines) + b"\n"
