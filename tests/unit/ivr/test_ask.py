"""read_keys: the Read() it runs, and the reply deadline that follows what it plays and waits for."""

from __future__ import annotations

import asyncio

import pytest

from callcenter.agi import AGITimeout
from callcenter.asterisk.sounds import SoundLengths
from callcenter.ivr.ask import DIGIT_TIMEOUT, read_keys, read_wait
from tests.unit.agi.fake_asterisk import session_and_fake


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
