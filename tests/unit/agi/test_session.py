"""AGISession against a fake Asterisk on a socket pair: command bytes, reply handling, typed failures."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from callcenter.agi import (
    UNKNOWN_SOUND_SECONDS,
    AGICommandError,
    AGIConnectionClosed,
    AGIHangup,
    AGIProtocolError,
    AGISession,
    AGISoundError,
    AGITimeout,
    Digits,
    Reply,
)
from callcenter.agi.session import _buffered
from callcenter.asterisk.sounds import SoundLengths

from .fake_asterisk import session_and_fake

USAGE_BLOCK = (
    b"520-Invalid command syntax.  Proper usage follows:\n"
    b" Usage: GET DATA <file to be streamed> [timeout] [max digits]\n"
    b"        Stream the given file, and receive DTMF data.\n"
    b"520 End of proper usage.\n"
)


async def test_get_variable_value_unset_and_empty() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.get_variable("CALLERID(num)"))
        await fake.expect(b"GET VARIABLE CALLERID(num)\n", b"200 result=1 (5551234)\n")
        assert await task == "5551234"

        task = asyncio.create_task(session.get_variable("CC_NOPE"))
        await fake.expect(b"GET VARIABLE CC_NOPE\n", b"200 result=0\n")
        assert await task is None

        task = asyncio.create_task(session.get_variable("CC_EMPTY"))
        await fake.expect(b"GET VARIABLE CC_EMPTY\n", b"200 result=1 ()\n")
        assert await task == ""

        task = asyncio.create_task(session.get_variable("CALLERID(name)"))
        await fake.expect(b"GET VARIABLE CALLERID(name)\n", b"200 result=1 (Smith (home))\r\n")
        assert await task == "Smith (home)"


async def test_set_variable_answer_exact_bytes() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.set_variable("CC_RESULT", "DONE"))
        await fake.expect(b"SET VARIABLE CC_RESULT DONE\n", b"200 result=1\n")
        await task

        task = asyncio.create_task(session.set_variable("CC_NOTE", 'a "quoted" value'))
        await fake.expect(b'SET VARIABLE CC_NOTE "a \\"quoted\\" value"\n', b"200 result=1\n")
        await task

        answer = asyncio.create_task(session.answer())
        await fake.expect(b"ANSWER\n", b"200 result=0\n")
        await answer


async def test_injected_newline_is_refused_and_nothing_is_sent() -> None:
    async with session_and_fake() as (session, fake):
        with pytest.raises(ValueError, match="CR, LF or NUL"):
            await session.set_variable("CC_RESULT", "DONE\nHANGUP")
        task = asyncio.create_task(session.get_variable("X"))
        # the next line on the wire is the next valid command: nothing of the refused one went out
        await fake.expect(b"GET VARIABLE X\n", b"200 result=0\n")
        assert await task is None


async def test_unknown_command_and_usage_block_raise_command_error() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.command("FROB"))
        await fake.expect(b"FROB\n", b"510 Invalid or unknown command\n")
        with pytest.raises(AGICommandError) as unknown:
            await task
        assert unknown.value.code == 510
        assert unknown.value.command == "FROB"

        task = asyncio.create_task(session.command("GET", "DATA"))
        await fake.expect(b"GET DATA\n", USAGE_BLOCK)
        with pytest.raises(AGICommandError) as usage:
            await task
        assert usage.value.code == 520
        assert "Usage: GET DATA <file to be streamed>" in usage.value.text
        assert usage.value.text.endswith("End of proper usage.")

        # the session is still in step after both
        noop = asyncio.create_task(session.command("NOOP"))
        await fake.expect(b"NOOP\n", b"200 result=0\n")
        assert await noop == Reply(200, "0")


async def test_a_reply_code_asterisk_never_sends_is_a_protocol_error() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.command("GOSUB", "ctx", "s", "1"))
        await fake.expect(b"GOSUB ctx s 1\n", b"503 result=-2 Memory allocation failure\n")
        with pytest.raises(AGICommandError) as failure:
            await task
        assert failure.value.code == 503

        variable = asyncio.create_task(session.get_variable("X"))
        await fake.expect(b"GET VARIABLE X\n", b"999 whatever\n")
        with pytest.raises(AGIProtocolError, match="999"):
            await variable
        # a peer that is not Asterisk: nothing more is sent to it
        with pytest.raises(AGIProtocolError, match="reply code 999"):
            await session.get_variable("Y")


async def test_511_is_a_hangup() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.stream_file("cc/welcome"))
        await fake.expect(
            b'STREAM FILE cc/welcome ""\n',
            b"511 Command Not Permitted on a dead channel or intercept routine\n",
        )
        with pytest.raises(AGIHangup):
            await task
        assert session.hung_up


async def test_hangup_line_before_the_reply_is_skipped_and_flagged() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.get_variable("A"))
        await fake.expect(b"GET VARIABLE A\n", b"HANGUP\n200 result=1 (a)\n")
        assert await task == "a"
        assert session.hung_up

        # after the announced hangup a -1 is a hangup, without asking Asterisk anything more
        playback = asyncio.create_task(session.exec("Playback", "beep"))
        await fake.expect(b"EXEC Playback beep\n", b"200 result=-1\n")
        with pytest.raises(AGIHangup):
            await playback
        variable = asyncio.create_task(session.get_variable("C"))
        await fake.expect(b"GET VARIABLE C\n", b"200 result=0\n")
        assert await variable is None


async def test_hangup_line_between_commands_is_skipped_and_flagged() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.get_variable("A"))
        await fake.expect(b"GET VARIABLE A\n", b"200 result=1 (a)\nHANGUP\n")
        assert await task == "a"
        # the HANGUP line is read with the next reply, which is still the right one
        task = asyncio.create_task(session.get_variable("B"))
        await fake.expect(b"GET VARIABLE B\n", b"200 result=1 (b)\n")
        assert await task == "b"
        assert session.hung_up


async def test_stream_file_digit_or_none() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.stream_file("cc/menu", "12#"))
        await fake.expect(b"STREAM FILE cc/menu 12#\n", b"200 result=49 endpos=12345\n")
        assert await task == "1"

        task = asyncio.create_task(session.stream_file("cc/menu", "#"))
        await fake.expect(b"STREAM FILE cc/menu #\n", b"200 result=35 endpos=800\n")
        assert await task == "#"

        task = asyncio.create_task(session.stream_file("cc/welcome"))
        await fake.expect(b'STREAM FILE cc/welcome ""\n', b"200 result=0 endpos=64000\n")
        assert await task is None


async def test_stream_file_failure_on_a_dead_channel_is_a_hangup() -> None:
    # with AGISIGHUP=no Asterisk sends no HANGUP line: the session asks CHANNEL STATUS, refused when dead
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.stream_file("cc/welcome"))
        await fake.expect(b'STREAM FILE cc/welcome ""\n', b"200 result=-1 endpos=1600\n")
        await fake.expect(b"CHANNEL STATUS\n", b"511 Command Not Permitted on a dead channel\n")
        with pytest.raises(AGIHangup):
            await task
        assert session.hung_up


async def test_stream_file_failure_on_a_live_channel_is_a_sound_error() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.stream_file("cc/missing"))
        await fake.expect(b'STREAM FILE cc/missing ""\n', b"200 result=-1 endpos=0\n")
        await fake.expect(b"CHANNEL STATUS\n", b"200 result=6\n")
        with pytest.raises(AGISoundError) as failure:
            await task
        assert failure.value.file == "cc/missing"
        assert isinstance(failure.value, AGICommandError)
        assert not session.hung_up


async def test_stream_file_after_announced_hangup_needs_no_probe() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.stream_file("cc/welcome"))
        await fake.expect(b'STREAM FILE cc/welcome ""\n', b"HANGUP\n200 result=-1 endpos=10\n")
        with pytest.raises(AGIHangup):
            await task
        # the next line the fake reads is the next command, not a CHANNEL STATUS probe
        task_b = asyncio.create_task(session.get_variable("X"))
        await fake.expect(b"GET VARIABLE X\n", b"200 result=0\n")
        await task_b


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (b"200 result=1234\n", Digits("1234", timed_out=False)),
        (b"200 result=12 (timeout)\n", Digits("12", timed_out=True)),
        (b"200 result=0 (timeout)\n", Digits("0", timed_out=True)),
        (b"200 result= (timeout)\n", Digits("", timed_out=True)),
        (b"200 result=\n", Digits("", timed_out=False)),
        (b"200 result=*9\n", Digits("*9", timed_out=False)),
    ],
)
async def test_get_data(reply: bytes, expected: Digits) -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.get_data("cc/enter-code", 5000, 4))
        await fake.expect(b"GET DATA cc/enter-code 5000 4\n", reply)
        assert await task == expected


async def test_get_data_hangup() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.get_data("beep", 5000, 4))
        await fake.expect(b"GET DATA beep 5000 4\n", b"200 result=-1\n")
        with pytest.raises(AGIHangup):
            await task
        assert session.hung_up


async def test_get_data_refuses_non_digits() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.get_data("beep", 5000, 4))
        await fake.expect(b"GET DATA beep 5000 4\n", b"200 result=x1\n")
        with pytest.raises(AGIProtocolError):
            await task


async def test_exec_joins_arguments_like_the_dialplan() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.exec("Playback", "foo&bar"))
        await fake.expect(b"EXEC Playback foo&bar\n", b"200 result=0\n")
        assert await task == Reply(200, "0")

        task = asyncio.create_task(session.exec("Verbose", "two words", "1"))
        await fake.expect(b'EXEC Verbose "two words,1"\n', b"200 result=0\n")
        await task

        task = asyncio.create_task(session.exec("Answer"))
        await fake.expect(b"EXEC Answer\n", b"200 result=0\n")
        await task

        task = asyncio.create_task(session.exec("NoSuchApp", "x"))
        await fake.expect(b"EXEC NoSuchApp x\n", b"200 result=-2\n")
        with pytest.raises(AGICommandError, match="NoSuchApp"):
            await task


async def test_hangup_is_idempotent() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.hangup())
        await fake.expect(b"HANGUP\n", b"200 result=1\n")
        await task
        assert session.hung_up
        await session.hangup()  # sends nothing: the next line on the wire is the next command
        variable = asyncio.create_task(session.get_variable("X"))
        await fake.expect(b"GET VARIABLE X\n", b"200 result=0\n")
        await variable


async def test_hangup_of_a_dead_channel_is_quiet() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.hangup())
        await fake.expect(b"HANGUP\n", b"511 Command Not Permitted on a dead channel\n")
        await task
        assert session.hung_up


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.stream_file("x", "z"),
        lambda s: s.get_data("x", -1, 4),
        lambda s: s.get_data("x", 1000, 0),
        lambda s: s.exec("Bad App"),
        lambda s: s.exec("Dial", "PJSIP/1,30"),
        lambda s: s.get_variable(""),
    ],
)
async def test_argument_validation(call: Callable[[AGISession], Awaitable[object]]) -> None:
    async with session_and_fake() as (session, _fake):
        with pytest.raises(ValueError, match=r"."):
            await call(session)


async def test_no_reply_in_time_is_a_timeout_and_the_session_stays_out_of_step() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.command("NOOP", timeout=0.05))
        await fake.expect(b"NOOP\n")  # and never answer
        with pytest.raises(AGITimeout):
            await task
        # a late reply would now be taken for the next command's: refuse to go on
        with pytest.raises(AGIProtocolError, match=r"out of step|no reply"):
            await session.get_variable("X")


async def test_cancelled_command_leaves_the_session_unusable() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.get_variable("X"))
        await fake.expect(b"GET VARIABLE X\n")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(AGIProtocolError, match="cancelled"):
            await session.get_variable("Y")


async def test_eof_and_partial_line_are_connection_closed() -> None:
    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.get_variable("X"))
        await fake.expect(b"GET VARIABLE X\n", b"200 resu")
        fake.writer.write_eof()
        with pytest.raises(AGIConnectionClosed, match="middle of a line"):
            await task
        with pytest.raises(AGIConnectionClosed):
            await session.get_variable("Y")

    async with session_and_fake() as (session, fake):
        task = asyncio.create_task(session.answer())
        await fake.expect(b"ANSWER\n")
        fake.writer.write_eof()
        with pytest.raises(AGIConnectionClosed):
            await task


async def test_oversized_reply_line_is_a_protocol_error() -> None:
    async with session_and_fake(max_line=64) as (session, fake):
        task = asyncio.create_task(session.get_variable("X"))
        await fake.expect(b"GET VARIABLE X\n", b"200 result=1 (" + b"x" * 500 + b")\n")
        with pytest.raises(AGIProtocolError, match="longer than 64"):
            await task


async def test_commands_never_overlap() -> None:
    async with session_and_fake() as (session, fake):
        journal = fake.journal
        assert journal is not None
        first = asyncio.create_task(session.get_variable("A"))
        second = asyncio.create_task(session.get_variable("B"))
        await fake.expect(b"GET VARIABLE A\n", b"200 result=1 (a)\n")
        await fake.expect(b"GET VARIABLE B\n", b"200 result=1 (b)\n")
        assert (await first, await second) == ("a", "b")
        # B went out only after A's reply came in
        assert journal == [
            ("sent", b"GET VARIABLE A\n"),
            ("reply", b"200 result=1 (a)\n"),
            ("sent", b"GET VARIABLE B\n"),
            ("reply", b"200 result=1 (b)\n"),
        ]


class TimeoutSpy(AGISession):
    """Records the deadline each command got."""

    deadlines: list[float | None]

    async def command(self, *words: str | int, timeout: float | None = None) -> Reply:
        self.deadlines.append(timeout)
        return Reply(200, "0")


async def test_reply_deadlines_follow_the_command() -> None:
    sounds = SoundLengths({"cc/menu": 2.0, "digits/1": 0.5, "digits/star": 0.5}, unknown=30.0)
    async with session_and_fake(command_timeout=5.0, sounds=sounds, media_margin=1.0, session_class=TimeoutSpy) as (
        spy,
        _fake,
    ):
        assert isinstance(spy, TimeoutSpy)
        spy.deadlines = []
        await spy.get_variable("X")
        await spy.set_variable("X", "1")
        await spy.answer()
        await spy.exec("UserEvent", "CallCenterRated", "Call: 1.2")
        await spy.stream_file("cc/menu")
        await spy.get_data("cc/menu", 5000, 4)
        await spy.get_data("cc/menu", 0, 1)
        await spy.get_data("", 3000, 2)
        await spy.stream_file("cc/nobody-knows")
        await spy.get_data("cc/menu", 5000, 4, timeout=7.0)
    # None: the session's command_timeout. Media: 5 % playback slack, 0.1 s per file, the 1 s margin, the waits
    assert spy.deadlines == [
        None,
        None,
        None,
        None,
        pytest.approx(2.0 * 1.05 + 0.1 + 1.0),
        pytest.approx(2.0 * 1.05 + 0.1 + 4 * 5.0 + 1.0),
        pytest.approx(2.0 * 1.05 + 0.1 + 10.0 + 1.0),  # timeout 0: Asterisk's 10 s per digit
        pytest.approx(2 * 3.0 + 1.0),  # no file: only the digits' wait
        pytest.approx(30.0 * 1.05 + 0.1 + 1.0),  # an unknown sound: the conservative fallback
        7.0,
    ]


async def test_without_known_sounds_each_file_counts_as_the_fallback() -> None:
    async with session_and_fake(media_margin=1.0) as (session, _fake):
        assert session.media_deadline(["a", "b", ""], 6.0) == pytest.approx(
            2 * UNKNOWN_SOUND_SECONDS * 1.05 + 0.2 + 6.0 + 1.0
        )


async def test_a_silent_peer_is_cut_off_at_the_media_commands_own_deadline() -> None:
    async with session_and_fake(command_timeout=60.0, sounds=SoundLengths({"cc/short": 0.2}), media_margin=0.2) as (
        session,
        fake,
    ):
        started = asyncio.get_running_loop().time()
        task = asyncio.create_task(session.stream_file("cc/short"))
        await fake.expect(b'STREAM FILE cc/short ""\n')  # and never answer
        with pytest.raises(AGITimeout, match="STREAM FILE"):
            await task
        assert asyncio.get_running_loop().time() - started < 1.0


async def test_the_header_reader_can_see_what_arrived_after_the_block() -> None:
    """read_header_block refuses data that came with the block's end; it peeks into StreamReader's buffer, which
    has no public API: this fails loudly if a Python release renames it."""
    reader = asyncio.StreamReader()
    reader.feed_data(b"agi_x: 1\n200 res")
    assert await reader.readline() == b"agi_x: 1\n"
    assert _buffered(reader) == b"200 res"
