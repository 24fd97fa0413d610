"""read_keys: the Read() it runs, and the reply deadline that follows what it plays and waits for."""

from __future__ import annotations

import asyncio

import pytest

from callcenter.agi import AGITimeout
from callcenter.asterisk.sounds import SoundLengths
from callcenter.ivr.ask import DIGIT_TIMEOUT, INVALID, NO_INPUT, Asking, ask, read_keys, read_wait, silent_seconds
from tests.unit.agi.fake_asterisk import session_and_fake
from tests.unit.ivr.conftest import Transcript, phone_call


def test_read_waits_for_each_key() -> None:
    assert read_wait(1, 6.0) == 6.0
    assert read_wait(4, 6.0) == 24.0
    # a short wait for the first key, but TIMEOUT(digit) for the next ones once a key came during a prompt
    assert read_wait(2, 0.1) == pytest.approx(0.1 + DIGIT_TIMEOUT)


async def test_the_read_deadline_is_its_prompts_length_plus_its_input_timeout() -> None:
    sounds = SoundLengths({"cc/press": 0.3, "digits/1": 0.2, "cc/for": 0.2, "cc/agent-1001": 0.3})
    files = ["cc/press", "digits/1", "cc/for", "cc/agent-1001"]
    async with session_and_fake(command_timeout=5.0, sounds=sounds, media_margin=0.2) as (session, fake):
        loop = asyncio.get_running_loop()
        started = loop.time()
        task = asyncio.create_task(read_keys(session, files, 1, 0.3))
        await fake.expect(b"EXEC Read CC_DIGITS,cc/press&digits/1&cc/for&cc/agent-1001,1,t(),1,0.3\n")
        # a silent Asterisk: the Read gets 1.0 s of prompts x 1.05 + 4 files x 0.1 + 0.3 s wait + 0.2 s margin
        with pytest.raises(AGITimeout, match="EXEC"):
            await task
        assert 1.95 - 0.05 < loop.time() - started < 1.95 + 0.5
        # the journey's 6 s input timeout: its prompts and 6 s (and the margin), not 300 s
        assert session.media_deadline(files, read_wait(1, 6.0)) == pytest.approx(1.05 + 0.4 + 6.0 + 0.2)


MENU = ["cc/choose-service", "cc/key-1", "cc/service-support"]
REPROMPT = ["cc/or-hold-for", "cc/service-support"]


def reads(transcript: Transcript) -> list[list[str]]:
    """The files of each Read, in order."""
    return [line.decode().split(",")[1].split("&") for line in transcript.commands if line.startswith(b"EXEC Read")]


async def test_a_silent_caller_hears_the_first_pass_then_the_short_reprompt_then_gets_the_default() -> None:
    asking = Asking(timeout=6.0, attempts=3, reprompt_timeout=3.0)
    async with phone_call({}, route="inbound") as (session, transcript):
        assert await ask(session, MENU, "1".__eq__, asking, step="service", reprompt=REPROMPT) is None
    assert reads(transcript) == [MENU, REPROMPT]
    # each waits its own time for a key: the menu input_timeout, the re-prompt reprompt_timeout
    waits = [line.decode().rstrip().rsplit(",", 1)[1] for line in transcript.commands if line.startswith(b"EXEC Read")]
    assert waits == ["6", "3"]


async def test_a_key_after_the_reprompt_is_taken() -> None:
    async with phone_call({}, route="inbound", reads=["", "1"]) as (session, transcript):
        assert await ask(session, MENU, "1".__eq__, Asking(), step="service", reprompt=REPROMPT) == "1"
    assert reads(transcript) == [MENU, REPROMPT]


async def test_wrong_keys_hear_invalid_and_the_whole_menu_again_up_to_the_attempts() -> None:
    # each Read hears the next keys, the "not a valid choice" notices included (they are Reads too)
    pressed = ["7", "", "", "8", "", "9"]
    async with phone_call({}, route="inbound", reads=pressed) as (session, transcript):
        assert await ask(session, MENU, "1".__eq__, Asking(attempts=4), step="service", reprompt=REPROMPT) is None
    # 7: invalid, the menu; silence: the re-prompt; 8: invalid, the menu; 9, the fourth wrong try: the default
    assert reads(transcript) == [MENU, [INVALID], MENU, REPROMPT, [INVALID], MENU]


async def test_without_a_reprompt_silence_hears_no_input_and_the_menu_again() -> None:
    async with phone_call({}, route="inbound") as (session, transcript):
        assert await ask(session, MENU, "1".__eq__, Asking(attempts=2), step="review") is None
    assert reads(transcript) == [MENU, [NO_INPUT], MENU]


def test_the_silent_callers_time_in_a_menu_is_what_it_plays_and_waits() -> None:
    sounds = SoundLengths({"cc/choose-service": 1.5, "cc/key-1": 1.0, "cc/service-support": 1.5, "cc/or-hold-for": 2.0})
    sounds = sounds.overlay(SoundLengths({NO_INPUT: 1.8}))
    asking = Asking(timeout=6.0, attempts=3, reprompt_timeout=3.0)
    assert silent_seconds(MENU, asking, sounds, REPROMPT) == pytest.approx(4.0 + 6.0 + 3.5 + 3.0)
    assert silent_seconds(MENU, asking, sounds, None) == pytest.approx(3 * (4.0 + 6.0) + 2 * 1.8)
