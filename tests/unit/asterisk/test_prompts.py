from __future__ import annotations

import wave
from pathlib import Path

from callcenter.asterisk.prompts import ensure_prompts, roster_prompts, sound_dir


async def test_prompts_are_8khz_mono_and_regenerated_only_when_their_text_changes(tmp_path: Path) -> None:
    assert await ensure_prompts(tmp_path, {"hello": "Hello there."}) == 1
    path = sound_dir(tmp_path) / "hello.wav"
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getnframes() > 4000  # about a second of speech, not an empty file
    assert await ensure_prompts(tmp_path, {"hello": "Hello there."}) == 0
    assert await ensure_prompts(tmp_path, {"hello": "Hello again."}) == 1
    assert sorted(p.name for p in sound_dir(tmp_path).iterdir()) == ["hello.txt", "hello.wav"]


def test_roster_prompts_name_agents_services_and_categories() -> None:
    names = roster_prompts([("1001", "Alice")], [("support", "technical support")], [("knowledge", "knowledge")])
    assert names == {"agent-1001": "Alice", "service-support": "technical support", "cat-knowledge": "knowledge"}
