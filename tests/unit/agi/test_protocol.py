"""The FastAGI wire format, form by form, as Asterisk 22's res_agi.c writes and reads it."""

from __future__ import annotations

from typing import Any

import pytest

from callcenter.agi import (
    AGIProtocolError,
    Reply,
    ReplyAssembler,
    build_env,
    format_command,
    format_reply,
    parse_header_line,
    parse_reply,
)
from callcenter.agi.protocol import MAX_COMMAND_BYTES, HeaderBlock, header_block, only_hangup_lines

from .fake_asterisk import env_for

# ---- replies -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("200 result=1", Reply(200, "1")),
        ("200 result=0", Reply(200, "0")),
        ("200 result=-1", Reply(200, "-1")),
        # GET DATA
        ("200 result=0 (timeout)", Reply(200, "0", "timeout")),
        ("200 result=123 (timeout)", Reply(200, "123", "timeout")),
        ("200 result= (timeout)", Reply(200, "", "timeout")),
        ("200 result=*12", Reply(200, "*12")),
        ("200 result=", Reply(200, "")),
        # GET VARIABLE: the value is everything between the first "(" and the last ")"
        ("200 result=1 (value)", Reply(200, "1", "value")),
        ("200 result=1 (two words)", Reply(200, "1", "two words")),
        ("200 result=1 ()", Reply(200, "1", "")),
        ("200 result=1 (Smith (home))", Reply(200, "1", "Smith (home)")),
        ("200 result=1 (a) b)", Reply(200, "1", "a) b")),
        ("200 result=1 (x) endpos=5)", Reply(200, "1", "x) endpos=5")),
        # STREAM FILE
        ("200 result=49 endpos=12345", Reply(200, "49", endpos=12345)),
        ("200 result=0 endpos=0", Reply(200, "0", endpos=0)),
        ("200 result=-1 endpos=0", Reply(200, "-1", endpos=0)),
        # RECORD FILE
        ("200 result=0 (timeout) endpos=8000", Reply(200, "0", "timeout", 8000)),
        # forms with more after data/endpos: kept verbatim in text, endpos still found
        ("200 result=1 (digit) digit=5 endpos=1600", Reply(200, "1", "digit", 1600, "digit=5 endpos=1600")),
        (
            "200 result=1 (speech) endpos=0 results=1 score0=900 text0=yes",
            Reply(200, "1", "speech", 0, "endpos=0 results=1 score0=900 text0=yes"),
        ),
        ("200 result=1 extra words", Reply(200, "1", text="extra words")),
        # line endings
        ("200 result=1\r\n", Reply(200, "1")),
        ("200 result=1 (v)\n", Reply(200, "1", "v")),
        # errors
        ("510 Invalid or unknown command", Reply(510, text="Invalid or unknown command")),
        (
            "511 Command Not Permitted on a dead channel or intercept routine",
            Reply(511, text="Command Not Permitted on a dead channel or intercept routine"),
        ),
        (
            "520 Invalid command syntax.  Proper usage not available.",
            Reply(520, text="Invalid command syntax.  Proper usage not available."),
        ),
        ("503 result=-2 Memory allocation failure", Reply(503, text="result=-2 Memory allocation failure")),
        ("510", Reply(510)),
    ],
)
def test_parse_reply_single_line(line: str, expected: Reply) -> None:
    assert parse_reply([line]) == expected


USAGE = [
    "520-Invalid command syntax.  Proper usage follows:",
    " Usage: GET DATA <file to be streamed> [timeout] [max digits]",
    "",
    "        Stream the given file, and receive DTMF data.",
    "520 End of proper usage.",
]


def test_parse_reply_520_usage_block_keeps_the_full_text() -> None:
    reply = parse_reply(USAGE)
    assert reply.code == 520
    assert reply.text == "\n".join(
        [
            "Invalid command syntax.  Proper usage follows:",
            " Usage: GET DATA <file to be streamed> [timeout] [max digits]",
            "",
            "        Stream the given file, and receive DTMF data.",
            "End of proper usage.",
        ]
    )
    assert format_reply(reply) == USAGE


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [""],
        ["HANGUP"],
        ["hello"],
        ["20 result=1"],
        ["2000 result=1"],
        ["200result=1"],
        ["200 foo=1"],
        ["200 result=1 (unbalanced"],
        ["200-result=1", "200 result=1"],
        ["520-Invalid command syntax.  Proper usage follows:", " Usage: ..."],
        ["520-a", "520 b", "520 c"],
        ["200 result=1", "200 result=1"],
        ["510 x", "more"],
    ],
)
def test_parse_reply_refuses_malformed(lines: list[str]) -> None:
    with pytest.raises(AGIProtocolError):
        parse_reply(lines)


def test_result_int() -> None:
    assert Reply(200, "-1").result_int() == -1
    with pytest.raises(AGIProtocolError):
        Reply(200, "").result_int()


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, "1"),
        Reply(200, "", "timeout"),
        Reply(200, "1", "a (b) c"),
        Reply(200, "49", endpos=12345),
        Reply(200, "0", "timeout", 8000),
        Reply(510, text="Invalid or unknown command"),
        Reply(520, text="first\n usage\nlast"),
    ],
)
def test_format_reply_round_trips(reply: Reply) -> None:
    assert parse_reply(format_reply(reply)) == reply


# ---- the assembler ---------------------------------------------------------------------------------------


def test_assembler_single_lines() -> None:
    assembler = ReplyAssembler()
    assert assembler.feed("200 result=1\n") == Reply(200, "1")
    assert assembler.feed("510 Invalid or unknown command\n") == Reply(510, text="Invalid or unknown command")
    assert not assembler.hangup_seen
    assert not assembler.in_block


def test_assembler_waits_for_the_end_of_a_block() -> None:
    assembler = ReplyAssembler()
    for line in USAGE[:-1]:
        assert assembler.feed(line + "\n") is None
        assert assembler.in_block
    assert assembler.feed(USAGE[-1] + "\n") == parse_reply(USAGE)
    assert not assembler.in_block
    assert assembler.feed("200 result=0") == Reply(200, "0")


def test_assembler_skips_and_flags_hangup_lines() -> None:
    assembler = ReplyAssembler()
    assert assembler.feed("HANGUP\n") is None
    assert assembler.hangup_seen
    assert assembler.feed("200 result=-1") == Reply(200, "-1")
    # inside a block too, and the flag stays set
    assert assembler.feed(USAGE[0]) is None
    assert assembler.feed("HANGUP\r\n") is None
    for line in USAGE[1:-1]:
        assert assembler.feed(line) is None
    assert assembler.feed(USAGE[-1]) == parse_reply(USAGE)
    assert assembler.hangup_seen


def test_assembler_bounds_a_block() -> None:
    assembler = ReplyAssembler(max_block_lines=3)
    assembler.feed("520-start")
    assembler.feed("one")
    assembler.feed("two")
    with pytest.raises(AGIProtocolError):
        assembler.feed("three")


def test_assembler_refuses_garbage() -> None:
    with pytest.raises(AGIProtocolError):
        ReplyAssembler().feed("garbage")
    with pytest.raises(AGIProtocolError):
        ReplyAssembler().feed("200-result=1")


# ---- commands ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (("ANSWER",), b"ANSWER\n"),
        (("HANGUP",), b"HANGUP\n"),
        (("GET", "DATA", "beep", 5000, 4), b"GET DATA beep 5000 4\n"),
        (("STREAM", "FILE", "hello", "12#"), b"STREAM FILE hello 12#\n"),
        (("STREAM", "FILE", "hello", ""), b'STREAM FILE hello ""\n'),
        (("SET", "VARIABLE", "CC_RESULT", "OK"), b"SET VARIABLE CC_RESULT OK\n"),
        (("SET", "VARIABLE", "CC_NOTE", "two words"), b'SET VARIABLE CC_NOTE "two words"\n'),
        (("GET", "VARIABLE", "CALLERID(num)"), b"GET VARIABLE CALLERID(num)\n"),
        (("EXEC", "Playback", "foo&bar"), b"EXEC Playback foo&bar\n"),
        (("VERBOSE", "msg", 1), b"VERBOSE msg 1\n"),
        (("VERBOSE", 'say "hi"', 1), b'VERBOSE "say \\"hi\\"" 1\n'),
        (("VERBOSE", "C:\\dir", 1), b'VERBOSE "C:\\\\dir" 1\n'),
        (("VERBOSE", "tab\there", 1), b'VERBOSE "tab\there" 1\n'),
        (("VERBOSE", "caf\u00e9", 1), "VERBOSE caf\u00e9 1\n".encode()),
        (("SAY", "NUMBER", -5, ""), b'SAY NUMBER -5 ""\n'),
    ],
)
def test_format_command(words: tuple[str | int, ...], expected: bytes) -> None:
    assert format_command(*words) == expected


@pytest.mark.parametrize(
    "words",
    [
        ("SET", "VARIABLE", "X", "evil\nHANGUP"),
        ("SET", "VARIABLE", "X", "evil\rHANGUP"),
        ("SET", "VARIABLE", "X", "nul\0"),
        ("ANSWER\n",),
        (),
        ("",),
        ("VERBOSE", "x" * MAX_COMMAND_BYTES),
    ],
)
def test_format_command_refuses_injection_and_overflow(words: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match=r"."):
        format_command(*words)


def test_format_command_fits_asterisk_buffer_exactly() -> None:
    line = format_command("VERBOSE", "x" * (MAX_COMMAND_BYTES - len("VERBOSE \n")))
    assert len(line) == MAX_COMMAND_BYTES


# ---- headers and the environment -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"agi_request: agi://127.0.0.1:4573/route?x=1\n", ("agi_request", "agi://127.0.0.1:4573/route?x=1")),
        (b"agi_channel: PJSIP/trunk-00000001", ("agi_channel", "PJSIP/trunk-00000001")),
        (b"agi_accountcode: \n", ("agi_accountcode", "")),
        (b"agi_calleridname: Smith: Home\r\n", ("agi_calleridname", "Smith: Home")),
        (b"agi_calleridname:  two spaces\n", ("agi_calleridname", " two spaces")),
        (b"agi_callerid: unknown\n", ("agi_callerid", "unknown")),
        (b"agi_calleridname: M\xfcller\n", ("agi_calleridname", "M\ufffdller")),
        (b"agi_arg_1: a:b\n", ("agi_arg_1", "a:b")),
    ],
)
def test_parse_header_line(line: bytes, expected: tuple[str, str]) -> None:
    assert parse_header_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"\n",
        b"GET / HTTP/1.1\r\n",
        b"Host: example.org\r\n",
        b"agi_: x",
        b"agi request: x",
        b"no colon",
        # Asterisk always writes "agi_key: value", with the blank, even for an empty value
        b"agi_accountcode:\n",
        b"agi_x:y",
        b"agi_callerid: 555\r1234",
    ],
)
def test_parse_header_line_refuses_non_agi(line: bytes) -> None:
    with pytest.raises(AGIProtocolError):
        parse_header_line(line)


def test_env_from_a_real_header_block() -> None:
    env = env_for("inbound", query="token=42&lang=fr", args=("first", "second arg"))
    assert env.uniqueid == "1700000000.1"
    assert env.channel == "PJSIP/trunk-00000001"
    assert env.callerid == "5551234"
    assert env.calleridname == ""  # Asterisk wrote "unknown"
    assert env.raw["agi_calleridname"] == "unknown"
    assert env.context == "cc-inbound"
    assert env.extension == "100"
    assert env.language == "en"
    assert env.network_script == "inbound?token=42&lang=fr"
    assert env.route == "inbound"
    assert dict(env.params) == {"token": "42", "lang": "fr"}
    assert env.args == ("first", "second arg")
    assert env.raw["agi_accountcode"] == ""
    assert env.raw["agi_network"] == "yes"


# what every call's header block holds besides its script
CALL = {"agi_uniqueid": "1700000000.1", "agi_channel": "PJSIP/trunk-00000001"}


def test_env_params_last_value_wins_and_are_decoded() -> None:
    env = build_env({"agi_network_script": "route?a=1&a=2&b=x%20y&c=&d=caf%C3%A9", **CALL})
    assert dict(env.params) == {"a": "2", "b": "x y", "c": "", "d": "caf\u00e9"}


def test_env_args_in_numeric_order() -> None:
    headers = {f"agi_arg_{n}": f"v{n}" for n in (10, 2, 1, 11, 3, 4, 5, 6, 7, 8, 9)}
    env = build_env({"agi_network_script": "route", **headers, **CALL})
    assert env.args == tuple(f"v{n}" for n in range(1, 12))


@pytest.mark.parametrize(
    ("headers", "route", "query"),
    [
        ({"agi_network_script": "route"}, "route", {}),
        ({"agi_network_script": "/route"}, "route", {}),
        ({"agi_network_script": "flows/inbound?x=1"}, "flows/inbound", {"x": "1"}),
        ({"agi_request": "agi://127.0.0.1:4573/route?x=1"}, "route", {"x": "1"}),
        ({"agi_request": "agi://127.0.0.1:4573/route?x=1", "agi_network_script": "route?x=1"}, "route", {"x": "1"}),
    ],
)
def test_env_route(headers: dict[str, str], route: str, query: dict[str, str]) -> None:
    env = build_env({**headers, **CALL})
    assert env.route == route
    assert dict(env.params) == query


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"agi_channel": "PJSIP/x", "agi_uniqueid": "u.1"}, "names no script"),
        ({**CALL, "agi_request": "agi://[::1/route"}, "unparsable"),
        ({**CALL, "agi_request": "agi://127.0.0.1/"}, "names no script"),
        ({**CALL, "agi_network_script": ""}, "names no script"),
        ({**CALL, "agi_network_script": "/"}, "names no script"),
        # the one is derived from the other: a mismatch means one of them is not Asterisk's
        ({**CALL, "agi_network_script": "agent-menu", "agi_request": "agi://127.0.0.1/inbound"}, "not the script"),
        ({"agi_network_script": "r", "agi_channel": "PJSIP/x"}, "no agi_uniqueid"),
        ({"agi_network_script": "r", "agi_channel": "PJSIP/x", "agi_uniqueid": ""}, "empty agi_uniqueid"),
        ({"agi_network_script": "r", "agi_uniqueid": "u.1"}, "no agi_channel"),
        ({"agi_network_script": "r", "agi_uniqueid": "u.1", "agi_channel": ""}, "empty agi_channel"),
    ],
)
def test_env_of_a_block_that_cannot_name_its_call_or_route_is_a_protocol_error(
    headers: dict[str, str], error: str
) -> None:
    with pytest.raises(AGIProtocolError, match=error):
        build_env(headers)


def real_pairs(**kwargs: Any) -> list[tuple[str, str]]:
    return [parse_header_line(line) for line in header_block(**kwargs).split(b"\n") if line]


def collect(pairs: list[tuple[str, str]]) -> dict[str, str]:
    block = HeaderBlock()
    for key, value in pairs:
        block.add(key, value)
    return block.headers


def test_header_block_takes_what_asterisk_sends_in_its_order() -> None:
    pairs = real_pairs(route="screen", query="agent=1001", args=("a", "b"))
    assert collect(pairs) == dict(pairs)


def inserted_after_callerid(*extra: tuple[str, str], **kwargs: Any) -> list[tuple[str, str]]:
    pairs = real_pairs(**kwargs)
    at = [key for key, _ in pairs].index("agi_callerid") + 1
    return [*pairs[:at], *extra, *pairs[at:]]


@pytest.mark.parametrize(
    ("pairs", "error"),
    [
        (inserted_after_callerid(("agi_network_script", "agent-menu?endpoint=agent1004")), "sent twice"),
        (inserted_after_callerid(("agi_request", "agi://127.0.0.1/agent-menu")), "sent twice"),
        (inserted_after_callerid(("agi_uniqueid", "victim.1")), "sent twice"),
        (inserted_after_callerid(("agi_channel", "PJSIP/agent1004-1")), "sent twice"),
        (inserted_after_callerid(("agi_callerid", "5550000")), "sent twice"),
        (inserted_after_callerid(("agi_calleridname", "x")), "sent twice"),
        (inserted_after_callerid(("agi_arg_1", "evil")), "after the AGI arguments"),
        (inserted_after_callerid(("agi_arg_2", "evil"), args=("a",)), "out of order"),
        ([*real_pairs(args=("a",)), ("agi_arg_3", "evil")], "out of order"),
        ([*real_pairs(args=("a",)), ("agi_evil", "x")], "after the AGI arguments"),
    ],
)
def test_header_block_refuses_what_asterisk_never_sends(pairs: list[tuple[str, str]], error: str) -> None:
    with pytest.raises(AGIProtocolError, match=error):
        collect(pairs)


def test_identity_key_after_the_caller_id_is_refused_even_when_asterisk_sent_none() -> None:
    pairs = [(k, v) for k, v in real_pairs() if k != "agi_network_script"]
    at = [key for key, _ in pairs].index("agi_callerid") + 1
    with pytest.raises(AGIProtocolError, match="after agi_callerid"):
        collect([*pairs[:at], ("agi_network_script", "agent-menu"), *pairs[at:]])


@pytest.mark.parametrize(
    ("data", "only_hangups"),
    [
        (b"", True),
        (b"HANGUP\n", True),
        (b"HANGUP\r\nHANGUP\n", True),
        (b"HANG", True),  # the rest is on its way
        (b"HANGUP\r", True),
        (b"HANGUP\n200 result=1\n", False),
        (b"200 result=1 (x)\n", False),
        (b"agi_calleridname: x\n", False),
        (b"\n", False),
        (b"HANGUPX", False),
    ],
)
def test_only_hangup_lines(data: bytes, only_hangups: bool) -> None:
    assert only_hangup_lines(data) is only_hangups


def test_a_header_line_where_a_reply_belongs_is_a_protocol_error() -> None:
    with pytest.raises(AGIProtocolError, match="header line where a reply belongs"):
        ReplyAssembler().feed("agi_calleridname: unknown\n")


def test_env_is_immutable() -> None:
    env = env_for()
    with pytest.raises(TypeError):
        env.params["x"] = "y"  # type: ignore[index]
    with pytest.raises(AttributeError):
        env.route = "other"  # type: ignore[misc]


def test_header_block_helper_is_what_the_parser_reads() -> None:
    lines = header_block("r").split(b"\n")
    assert lines[-2:] == [b"", b""]  # the block ends with an empty line
    assert all(parse_header_line(line) for line in lines[:-2])
