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
