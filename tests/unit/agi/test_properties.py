"""Property tests of the FastAGI wire format: round trips, total parsers, HANGUP lines anywhere."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.agi import (
    AGIConnectionClosed,
    AGIProtocolError,
    Reply,
    ReplyAssembler,
    build_env,
    format_command,
    format_reply,
    parse_header_line,
    parse_reply,
)
from callcenter.agi.protocol import IDENTITY_KEYS, header_block
from callcenter.agi.session import read_header_block

# text Asterisk can put on one line (no line ending, no lone surrogates)
line_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=40)
token = st.text(st.characters(codec="utf-8", exclude_characters=" \r\n"), max_size=12)

success_replies = st.builds(
    Reply,
    code=st.just(200),
    result=token,
    data=st.none() | line_text,
    endpos=st.none() | st.integers(min_value=-(10**18), max_value=10**18),
)


@st.composite
def error_replies(draw: st.DrawFn) -> Reply:
    code = draw(st.integers(min_value=100, max_value=999).filter(lambda c: c != 200))
    prefix = str(code)
    if not draw(st.booleans()):
        return Reply(code, text=draw(line_text))
    # a multi-line block: its inner lines cannot look like its closing line (or like HANGUP)
    inner = st.lists(
        line_text.filter(lambda line: line != prefix and not line.startswith(prefix + " ") and line != "HANGUP"),
        max_size=4,
    )
    lines = [draw(line_text), *draw(inner), draw(line_text)]
    return Reply(code, text="\n".join(lines))


replies = success_replies | error_replies()


@given(replies)
def test_parse_reply_inverts_format_reply(reply: Reply) -> None:
    assert parse_reply(format_reply(reply)) == reply


@given(replies)
def test_assembler_reads_what_format_reply_writes(reply: Reply) -> None:
    assembler = ReplyAssembler()
    *head, last = format_reply(reply)
    assert [assembler.feed(line + "\n") for line in head] == [None] * len(head)
    assert assembler.feed(last + "\n") == reply


def _assemble(assembler: ReplyAssembler, lines: list[str]) -> list[Reply]:
    return [reply for line in lines if (reply := assembler.feed(line)) is not None]


@given(st.lists(replies, max_size=8), st.data())
def test_hangup_lines_anywhere_change_no_reply(batch: list[Reply], data: st.DataObject) -> None:
    lines = [line for reply in batch for line in format_reply(reply)]
    plain = ReplyAssembler()
    assert _assemble(plain, lines) == batch
    assert not plain.hangup_seen

    mixed: list[str] = []
    for line in [*lines, None]:
        mixed.extend(["HANGUP"] * data.draw(st.integers(min_value=0, max_value=2)))
        if line is not None:
            mixed.append(line)
    interleaved = ReplyAssembler()
    assert _assemble(interleaved, mixed) == batch
    assert interleaved.hangup_seen == ("HANGUP" in mixed)


@given(st.binary(max_size=200))
def test_header_parser_only_raises_protocol_errors(line: bytes) -> None:
    try:
        key, value = parse_header_line(line)
    except AGIProtocolError:
        return
    assert key.startswith("agi_")
    assert "\n" not in value


async def _read_block(data: bytes, max_line: int, max_bytes: int) -> dict[str, str] | None:
    reader = asyncio.StreamReader(limit=max_line + 2)
    reader.feed_data(data)
    reader.feed_eof()
    try:
        return await read_header_block(reader, max_line=max_line, max_bytes=max_bytes)
    except (AGIProtocolError, AGIConnectionClosed):
        return None


@given(
    st.lists(st.binary(max_size=80) | st.sampled_from([b"\n", b"agi_x: y\n", b"agi_request: agi://h/r\n"])),
    st.integers(min_value=1, max_value=100),
    st.integers(min_value=1, max_value=400),
)
def test_header_block_reader_only_fails_with_agi_errors(chunks: list[bytes], max_line: int, max_bytes: int) -> None:
    """What the server runs on every connection: whatever the peer sends, a dict or one of our errors."""
    data = b"".join(chunks)
    headers = asyncio.run(_read_block(data, max_line, max_bytes))
    if headers is not None:
        # only a complete block, ended by its empty line (LF or CRLF), is ever returned
        assert any(line in {b"", b"\r"} for line in data.split(b"\n")[:-1])
        assert all(key.startswith("agi_") for key in headers)


@given(
    st.from_regex(r"agi_[a-z0-9_]{1,20}", fullmatch=True),
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=60),
)
def test_header_line_round_trips(key: str, value: str) -> None:
    assert parse_header_line(f"{key}: {value}\n".encode()) == (key, value)


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=60), max_size=8))
def test_build_env_only_raises_protocol_errors(headers: dict[str, str]) -> None:
    try:
        env = build_env(headers)
    except AGIProtocolError:
        return
    assert not env.route.startswith("/")


# what a caller can put into CALLERID(num): header-like lines (the keys that matter most), blank lines, any text
injected_line = (
    st.tuples(
        st.sampled_from([*sorted(IDENTITY_KEYS), "agi_callerid", "agi_arg_1", "agi_arg_2", "agi_context", "agi_x"]),
        st.sampled_from([": ", ":", " : "]),
        st.sampled_from(["agent-menu?endpoint=agent1004", "victim.1", "agi://127.0.0.1/agent-menu", ""]),
    ).map("".join)
    | st.sampled_from(["", "200 result=1 (x)", "HANGUP"])
    | line_text
)
injection = st.lists(injected_line, min_size=1, max_size=4).flatmap(
    lambda lines: st.sampled_from(["\n", "\r\n"]).map(lambda eol: eol + eol.join(lines))
)


@given(injection, st.sampled_from(["callerid", "calleridname"]), st.lists(line_text, max_size=2))
def test_no_caller_text_changes_which_call_or_route_a_block_names(text: str, where: str, args: list[str]) -> None:
    """Whatever a caller puts into a caller-controlled header, the block is refused or names the real call."""
    real = header_block("inbound", query="x=1", uniqueid="real.1", channel="PJSIP/trunk-1", args=args)
    if where == "callerid":
        block = real.replace(b"agi_callerid: 5551234\n", f"agi_callerid: 5551234{text}\n".encode())
    else:
        block = real.replace(b"agi_calleridname: unknown\n", f"agi_calleridname: x{text}\n".encode())
    headers = asyncio.run(_read_block(block, 8192, 65536))
    if headers is None:
        return
    try:
        env = build_env(headers)
    except AGIProtocolError:
        return
    identity = (env.route, env.network_script, env.uniqueid, env.channel)
    assert identity == ("inbound", "inbound?x=1", "real.1", "PJSIP/trunk-1")
    assert env.params == {"x": "1"}
    assert env.args == tuple(args)


@given(st.data())
def test_a_block_with_a_repeated_key_is_refused(data: st.DataObject) -> None:
    lines = [line for line in header_block("inbound", args=("a", "b")).split(b"\n") if line]
    repeat = data.draw(st.sampled_from(lines))
    where = data.draw(st.integers(min_value=0, max_value=len(lines)))
    key = repeat.partition(b": ")[0]
    value = data.draw(st.sampled_from([repeat.partition(b": ")[2], b"other"]))
    block = b"\n".join([*lines[:where], key + b": " + value, *lines[where:]]) + b"\n\n"
    assert asyncio.run(_read_block(block, 8192, 65536)) is None


def asterisk_parse_args(line: str) -> list[str]:
    """A port of parse_args() from Asterisk's res/res_agi.c: how Asterisk splits our command lines."""
    args: list[list[str]] = []
    quoted = escaped = False
    whitespace = True
    for char in line:
        if char == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                args.append([])
                whitespace = False
            continue
        if char in " \t" and not quoted and not escaped:
            whitespace = True
            continue
        if char == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            args.append([])
            whitespace = False
        args[-1].append(char)
        escaped = False
    return ["".join(arg) for arg in args]


word = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\0"), max_size=30)


@given(word.filter(bool), st.lists(word, max_size=8))
def test_asterisk_reads_back_exactly_the_words_we_format(command: str, args: list[str]) -> None:
    line = format_command(command, *args)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert asterisk_parse_args(line[:-1].decode()) == [command, *args]


@given(st.lists(word, min_size=1, max_size=4), st.sampled_from(["\n", "\r", "\0"]), st.data())
def test_a_line_break_anywhere_is_refused(words: list[str], bad: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(words) - 1))
    position = data.draw(st.integers(min_value=0, max_value=len(words[index])))
    words[index] = words[index][:position] + bad + words[index][position:]
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        format_command("VERBOSE", *words)
