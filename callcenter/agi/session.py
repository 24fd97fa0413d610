"""One FastAGI conversation with Asterisk: one command at a time, each with a deadline, typed outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from callcenter.agi.errors import (
    AGICommandError,
    AGIConnectionClosed,
    AGIError,
    AGIHangup,
    AGIProtocolError,
    AGISoundError,
    AGITimeout,
)
from callcenter.agi.protocol import (
    DTMF_DIGITS,
    AGIEnv,
    HeaderBlock,
    Reply,
    ReplyAssembler,
    format_command,
    only_hangup_lines,
    parse_header_line,
)

log: structlog.typing.FilteringBoundLogger = structlog.get_logger(__name__)

# Asterisk gives no progress while a prompt plays, so a media command's reply deadline is what it plays (a PlayTime
# knows each sound's length) plus what it then waits for (its digit timeouts), plus slack: a few percent for
# playback running slow on a loaded host, a little per file (opening it; Read() waits 50 ms for a key between
# prompts), and MEDIA_MARGIN for everything else (answering the channel, scheduling). Everything else gets the
# session's short command_timeout. A peer that never answers holds its slot no longer than that.
MEDIA_MARGIN = 2.0
_PLAYBACK_SLACK = 0.05
_PER_FILE_SECONDS = 0.1
# A sound no PlayTime knows counts this long: more than any prompt of ours (under 10 s) or stock sound a menu plays.
UNKNOWN_SOUND_SECONDS = 30.0
# GET DATA with timeout 0 waits Asterisk's default response timeout per digit (10 s unless the dialplan
# set TIMEOUT(response)); our deadline assumes that.
_DEFAULT_DIGIT_WAIT = 10.0
# GET DATA collects into char data[1024]
_MAX_GET_DATA_DIGITS = 1023
_APP_NAME = re.compile(r"[A-Za-z0-9_]+")
# AGI commands whose name takes two words (GET FULL VARIABLE takes three)
_MULTIWORD = frozenset(
    {"ASYNCAGI", "CHANNEL", "CONTROL", "DATABASE", "GET", "RECEIVE", "RECORD", "SAY", "SEND", "SET", "SPEECH"}
    | {"STREAM", "TDD", "WAIT"}
)
# res_agi.c answers 510 (unknown command), 520 (usage), 503 (out of memory), 511 (dead channel) besides 200
_COMMAND_ERROR_CODES = frozenset({503, 510, 520})


class PlayTime(Protocol):
    """How long sound files play one after another, in seconds ("" plays nothing); the composition root gives the
    server one that knows every prompt (callcenter.asterisk.sounds.SoundLengths)."""

    def seconds(self, files: Sequence[str]) -> float: ...


@dataclass(frozen=True, slots=True)
class UnknownSounds:
    """A PlayTime that knows no sound: each file counts as ``per_file`` seconds (the server's default)."""

    per_file: float = UNKNOWN_SOUND_SECONDS

    def seconds(self, files: Sequence[str]) -> float:
        return self.per_file * sum(1 for name in files if name)


async def read_line(reader: asyncio.StreamReader, max_line: int) -> bytes:
    """One line from Asterisk without its line ending (LF or CRLF).

    AGIConnectionClosed at EOF (also with a partial line pending), AGIProtocolError beyond max_line bytes.
    """
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise AGIConnectionClosed(
                f"connection closed in the middle of a line ({len(exc.partial)} bytes pending)"
            ) from None
        raise AGIConnectionClosed("connection closed by the peer") from None
    except asyncio.LimitOverrunError:
        raise AGIProtocolError(f"line longer than {max_line} bytes") from None
    except OSError as exc:
        raise AGIConnectionClosed(f"connection lost: {exc!r}") from exc
    line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    if len(line) > max_line:
        raise AGIProtocolError(f"line of {len(line)} bytes is longer than {max_line}")
    return line


async def read_header_block(reader: asyncio.StreamReader, *, max_line: int, max_bytes: int) -> dict[str, str]:
    """The `agi_*` header block up to its empty line, as a mapping; AGIProtocolError for any block Asterisk would
    not send (see HeaderBlock: a repeated key, an identity key after the caller ID, ...).

    A caller ID holding CR LF CR LF ends the block early, and whatever the caller wrote after it would be read as
    the reply to our first command. Asterisk sends nothing after the block until it gets a command (but a HANGUP
    line), and it writes the caller ID with the rest of its line in one write, so such a tail is already here when
    the block ends: refused. (The real header lines after the caller ID may come later; AGISession refuses a
    header line where a reply belongs.)

    The caller bounds it in time; here it is bounded in size: AGIProtocolError past max_bytes.
    """
    block = HeaderBlock()
    total = 0
    while True:
        line = await read_line(reader, max_line)
        total += len(line) + 1
        if total > max_bytes:
            raise AGIProtocolError(f"header block longer than {max_bytes} bytes")
        if not line:
            pending = _buffered(reader)
            if not only_hangup_lines(pending):
                raise AGIProtocolError(
                    f"{len(pending)} bytes after the header block before any command (a caller ID ending the block?)"
                )
            return block.headers
        block.add(*parse_header_line(line))


def _buffered(reader: asyncio.StreamReader) -> bytes:
    """What the reader holds but nobody has read yet. StreamReader has no public peek; CPython has kept this in
    its `_buffer` bytearray since asyncio began, and test_session checks that it still does."""
    buffer = getattr(reader, "_buffer", None)
    return bytes(buffer) if isinstance(buffer, bytes | bytearray) else b""


@dataclass(frozen=True, slots=True)
class Digits:
    """What GET DATA collected: the digits, and whether it stopped because the caller stopped typing."""

    digits: str
    timed_out: bool


def _check_escape_digits(escape_digits: str) -> None:
    if not set(escape_digits) <= DTMF_DIGITS:
        raise ValueError(f"escape digits must be DTMF keys (0-9 * # A-D), got {escape_digits!r}")


class AGISession:
    """The route's handle on one call: send a command, get its reply, within a deadline.

    Commands never overlap (Asterisk aborts a running command when it receives another, and that command
    then never replies): concurrent callers queue on a lock. A command whose reply did not arrive (timeout,
    cancellation, broken reply) leaves the conversation out of step, so every later command raises.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        env: AGIEnv,
        *,
        command_timeout: float,
        max_line: int,
        sounds: PlayTime | None = None,
        media_margin: float = MEDIA_MARGIN,
    ) -> None:
        if command_timeout <= 0 or media_margin <= 0 or max_line <= 0:
            raise ValueError("command_timeout, media_margin and max_line must be positive")
        self._reader = reader
        self._writer = writer
        self._env = env
        self._command_timeout = command_timeout
        self._sounds: PlayTime = UnknownSounds() if sounds is None else sounds
        self._media_margin = media_margin
        self._max_line = max_line
        self._lock = asyncio.Lock()
        self._assembler = ReplyAssembler()
        self._hung_up = False
        self._unusable: tuple[type[AGIError], str] | None = None
        # resolved once per session, not per line: a debug line per AGI command is then one no-op method call when
        # debug is off (the module's lazy proxy would look the configured logger up on every line)
        self._log: structlog.typing.FilteringBoundLogger = log.bind()

    @property
    def env(self) -> AGIEnv:
        return self._env

    def media_deadline(self, files: Sequence[str], wait: float = 0.0) -> float:
        """The reply deadline of a command that plays ``files`` one after another, then waits up to ``wait``
        seconds for keys (see MEDIA_MARGIN). For Read() and other applications run with exec(timeout=...)."""
        if wait < 0:
            raise ValueError("wait must be >= 0")
        played = [name for name in files if name]
        playing = self._sounds.seconds(played)
        return playing * (1 + _PLAYBACK_SLACK) + _PER_FILE_SECONDS * len(played) + wait + self._media_margin

    @property
    def hung_up(self) -> bool:
        """True once the channel is known to have hung up (HANGUP line, 511 reply, failed media command)."""
        return self._hung_up

    # ---- the one primitive ------------------------------------------------------------------------------

    async def command(self, *words: str | int, timeout: float | None = None) -> Reply:
        """Send one command (one word per argument, quoted as needed) and return its reply.

        Raises AGIHangup (511, or result -1 once the hangup was announced), AGICommandError (510, 520 with
        its usage text, 503), AGITimeout (no reply within `timeout`, default command_timeout),
        AGIConnectionClosed, AGIProtocolError (also for a code Asterisk never sends); ValueError before sending
        for CR/LF/NUL.
        """
        name = _command_name(words)
        reply = await self._exchange(words, name, self._command_timeout if timeout is None else timeout)
        if reply.code == 511:
            self._hung_up = True
            raise AGIHangup(f"{name}: {reply.code} {reply.text}")
        if reply.code in _COMMAND_ERROR_CODES:
            # Asterisk refusing what we sent: our bug, worth its traceback
            raise AGICommandError(reply.code, reply.text, command=name)
        if reply.code != 200:
            # not Asterisk (whatever connected to us): the peer's fault, a warning like any garbage
            self._unusable = (AGIProtocolError, f"an earlier {name} got reply code {reply.code}")
            raise AGIProtocolError(f"{name}: reply code {reply.code} is not one Asterisk sends")
        if self._hung_up and reply.result == "-1":
            raise AGIHangup(f"{name} failed: the channel hung up")
        return reply

    async def _exchange(self, words: tuple[str | int, ...], name: str, deadline: float) -> Reply:
        line = format_command(*words)  # ValueError here, before anything is sent
        async with self._lock:
            if self._unusable is not None:
                error_type, reason = self._unusable
                raise error_type(f"{name} not sent: {reason}")
            try:
                async with asyncio.timeout(deadline):
                    self._writer.write(line)
                    await self._writer.drain()
                    reply = await self._read_reply()
            except TimeoutError:
                self._unusable = (AGIProtocolError, f"an earlier {name} got no reply within {deadline:g} s")
                raise AGITimeout(f"no reply to {name} within {deadline:g} s") from None
            except OSError as exc:
                self._unusable = (AGIConnectionClosed, f"connection lost during {name}")
                raise AGIConnectionClosed(f"connection lost while sending {name}: {exc!r}") from exc
            except AGIConnectionClosed as exc:
                self._unusable = (AGIConnectionClosed, f"connection closed during {name}: {exc}")
                raise
            except AGIProtocolError as exc:
                self._unusable = (AGIProtocolError, f"broken reply to {name}: {exc}")
                raise
            except BaseException:
                # cancelled while Asterisk still owes a reply: the next reply read would be this one's
                self._unusable = (AGIProtocolError, f"an earlier {name} was cancelled before its reply")
                raise
        # GET DATA's result is what was keyed, PINs included: its length only, even at debug level
        result = f"<{len(reply.result)} keys>" if name.upper() == "GET DATA" else reply.result
        self._log.debug("agi_command", command=name, code=reply.code, result=result)
        return reply

    async def _read_reply(self) -> Reply:
        while True:
            raw = await read_line(self._reader, self._max_line)
            reply = self._assembler.feed(raw.decode("utf-8", errors="replace"))
            if self._assembler.hangup_seen and not self._hung_up:
                self._hung_up = True
                log.info("agi_hangup_announced")
            if reply is not None:
                return reply

    async def _channel_alive(self) -> bool:
        """Ask Asterisk: CHANNEL STATUS is refused (511) on a dead channel, even with AGISIGHUP=no."""
        if self._hung_up:
            return False
        reply = await self._exchange(("CHANNEL", "STATUS"), "CHANNEL STATUS", self._command_timeout)
        if reply.code == 511 or (reply.code == 200 and reply.result == "-1"):
            self._hung_up = True
        return not self._hung_up

    async def _digit_or_failure(self, name: str, file: str, reply: Reply) -> str | None:
        value = reply.result_int()
        if value == 0:
            return None
        if value > 0:
            digit = chr(value) if value < 128 else ""
            if digit not in DTMF_DIGITS:
                raise AGIProtocolError(f"{name} reported key code {value}, not a DTMF key")
            return digit
        # -1: the channel hung up (no HANGUP line with AGISIGHUP=no) or the sound failed; ask which
        if not await self._channel_alive():
            raise AGIHangup(f"{name} {file!r} stopped: the channel hung up")
        raise AGISoundError(f"{name} {file!r} failed on a live channel (missing sound file?)", file=file, command=name)

    # ---- typed conveniences ---------------------------------------------------------------------------

    async def answer(self) -> None:
        reply = await self.command("ANSWER")
        if reply.result_int() == 0:
            return
        if not await self._channel_alive():
            raise AGIHangup("ANSWER failed: the channel hung up")
        raise AGICommandError(200, f"ANSWER failed with result={reply.result}", command="ANSWER")

    async def hangup(self) -> None:
        """Hang the channel up. Idempotent: nothing is sent once the channel is known to be gone."""
        if self._hung_up:
            return
        with contextlib.suppress(AGIHangup):
            await self.command("HANGUP")
        self._hung_up = True

    async def get_variable(self, name: str) -> str | None:
        """A channel variable or dialplan function (`CALLERID(num)`): None when unset, "" when empty."""
        if not name:
            raise ValueError("variable name is empty")
        reply = await self.command("GET", "VARIABLE", name)
        if reply.result == "0":
            return None
        if reply.result == "1":
            return reply.data if reply.data is not None else ""
        raise AGIProtocolError(f"unexpected GET VARIABLE result {reply.result[:40]!r}")

    async def set_variable(self, name: str, value: str) -> None:
        if not name:
            raise ValueError("variable name is empty")
        await self.command("SET", "VARIABLE", name, value)

    async def exec(self, app: str, *args: str, timeout: float | None = None) -> Reply:
        """Run a dialplan application, args joined with "," as in the dialplan; returns its raw reply.

        The default deadline is command_timeout, right for quick applications (UserEvent, Set...): pass
        `timeout` for any that plays or waits (Read: media_deadline(files, wait); Playback, Dial, Queue...).
        Raises AGICommandError when Asterisk has no such application (result -2), ValueError for an
        argument holding "," (the application would split it).
        """
        if not _APP_NAME.fullmatch(app):
            raise ValueError(f"not an application name: {app!r}")
        for arg in args:
            if "," in arg:
                raise ValueError(f"EXEC argument {arg!r} contains ','; pass pre-joined options to command()")
        words: tuple[str, ...] = ("EXEC", app, ",".join(args)) if args else ("EXEC", app)
        reply = await self.command(*words, timeout=timeout)
        if reply.result == "-2":
            raise AGICommandError(200, f"no application {app!r} in this Asterisk", command="EXEC")
        return reply

    async def stream_file(
        self,
        file: str,
        escape_digits: str = "",
        *,
        timeout: float | None = None,
    ) -> str | None:
        """Play a sound file; returns the escape digit that interrupted it, or None if it played through.

        AGIHangup if the channel hung up, AGISoundError if the file could not be played on a live channel.
        """
        _check_escape_digits(escape_digits)
        reply = await self.command(
            "STREAM", "FILE", file, escape_digits, timeout=self.media_deadline([file]) if timeout is None else timeout
        )
        return await self._digit_or_failure("STREAM FILE", file, reply)

    async def get_data(
        self,
        file: str,
        timeout_ms: int,
        max_digits: int,
        *,
        timeout: float | None = None,
    ) -> Digits:
        """Play `file` (may be "", or "a&b") and collect up to max_digits keys, `#` ending early.

        timeout_ms is Asterisk's wait for each key (0: its default). The deadline defaults to the file's
        length + max_digits x timeout_ms (see media_deadline). AGIHangup if the caller hung up.
        """
        if timeout_ms < 0:
            raise ValueError("timeout_ms must be >= 0 (0: Asterisk's default)")
        if not 1 <= max_digits <= _MAX_GET_DATA_DIGITS:
            raise ValueError(f"max_digits must be 1..{_MAX_GET_DATA_DIGITS}")
        if timeout is None:
            per_digit = timeout_ms / 1000 if timeout_ms else _DEFAULT_DIGIT_WAIT
            timeout = self.media_deadline(file.split("&"), max_digits * per_digit)
        reply = await self.command("GET", "DATA", file, timeout_ms, max_digits, timeout=timeout)
        if reply.result == "-1":
            self._hung_up = True
            raise AGIHangup(f"GET DATA {file!r} stopped: the channel hung up")
        if not set(reply.result) <= DTMF_DIGITS:
            raise AGIProtocolError(f"GET DATA returned {reply.result[:40]!r}, not DTMF digits")
        return Digits(digits=reply.result, timed_out=reply.data == "timeout")


def _command_name(words: tuple[str | int, ...]) -> str:
    """The command's keywords ("GET DATA"), for logs and errors: never its arguments (caller data)."""
    keywords = [str(word) for word in words[:3]]
    upper = [word.upper() for word in keywords]
    if len(upper) >= 3 and upper[:2] == ["GET", "FULL"]:
        return " ".join(keywords[:3])
    if len(upper) >= 2 and upper[0] in _MULTIWORD:
        return " ".join(keywords[:2])
    return keywords[0] if keywords else "command"
