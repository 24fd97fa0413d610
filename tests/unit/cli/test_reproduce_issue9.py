"""Issue #9 as reported: read-only operator commands rewrote the store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callcenter.store import SqliteStore
from tests.unit.cli.support import DEMO_CONFIG, dump, run


def test_ratings_show_without_config_leaves_the_roster_alone(
    populated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = dump(populated)
    # built-in defaults (one service, no roster) used to be loaded into the store
    assert run(capsys, "ratings", "show", "--agent", "1001").code == 2
    assert dump(populated) == before


def test_calls_list_with_an_empty_roster_leaves_the_agents_active(
    populated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = dump(populated)
    monkeypatch.setenv("CALLCENTER_ROSTER", "")
    assert run(capsys, "--config", str(DEMO_CONFIG), "calls", "list").code == 0
    assert dump(populated) == before


def test_ratings_show_with_another_half_life_does_not_break_the_running_service(
    populated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def service_rates_after(other: str) -> None:
        async with await SqliteStore.open(populated) as service:
            await asyncio.to_thread(other_process, other)
            await service.record_evaluation(
                "seed-1001-0", "client_to_agent", {"attitude": 1}, "client:5551001", datetime.now(UTC)
            )
            assert await service.check_invariants() == []

    def other_process(command: str) -> None:
        monkeypatch.setenv("CALLCENTER_POLICY_HALF_LIFE_DAYS", "30")
        run(capsys, "--config", str(DEMO_CONFIG), "ratings", "show", "--agent", command)

    asyncio.run(service_rates_after("1001"))
