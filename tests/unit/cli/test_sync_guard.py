"""serve, run, db migrate and agents sync load the config's roster, but refuse what is almost surely the wrong
config (every agent deactivated, a service with calls deactivated or renamed) unless --force."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from callcenter.store import SqliteStore
from tests.unit.cli.support import DEMO_CONFIG, dump, err_lines, run

SYNCS = [("agents", "sync"), ("db", "migrate")]


def active_agents(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT id FROM agents WHERE active = 1 ORDER BY id")]
    finally:
        conn.close()


def services(path: Path) -> list[tuple[str, str, int]]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.execute("SELECT id, name, active FROM services ORDER BY id"))
    finally:
        conn.close()


def config_file(tmp: Path, services: str, roster: str | None = None) -> Path:
    lines = []
    if roster is not None:
        (tmp / "agents.toml").write_text(roster)
        lines.append('roster = "agents.toml"')
    path = tmp / "other.toml"
    path.write_text("\n".join([*lines, services]) + "\n")
    return path


ONLY_SALES = (
    '[[services]]\nid = "sales"\nname = "sales"\n',
    '[[agent]]\nid = "1001"\nname = "Alice"\nservices = ["sales"]\ndial = "Local/1001@cc-demo-agent/n"\n',
)
RENAMED = '[[services]]\nid = "support"\nname = "support"\n[[services]]\nid = "sales"\nname = "sales"\n'
DEMO_ROSTER = (Path(DEMO_CONFIG).parent / "agents.toml").read_text()


@pytest.mark.parametrize("command", SYNCS, ids=" ".join)
def test_an_empty_roster_refuses_to_deactivate_every_agent_unless_forced(
    populated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: tuple[str, str]
) -> None:
    monkeypatch.setenv("CALLCENTER_ROSTER", "")
    before = dump(populated)
    refused = run(capsys, "--config", str(DEMO_CONFIG), *command)
    assert refused.code == 1
    (line,) = err_lines(refused)
    assert line == (
        f"callcenter: error: refusing to load the config into the store {populated}: it would deactivate every "
        "active agent (1001 Alice, 1002 Bob, 1003 Carol, 1004 Dave, 1005 Erin: the config has no roster, so it "
        "names none of them). Check --config, or pass --force if that is what you want"
    )
    assert dump(populated) == before

    forced = run(capsys, "--config", str(DEMO_CONFIG), *command, "--force")
    assert forced.code == 0, forced.err
    assert "agents: 0 added, 0 changed, 5 deactivated" in forced.out
    assert "roster_sync_forced" in forced.err
    assert active_agents(populated) == []


def test_a_service_with_calls_is_not_renamed_unless_forced(
    populated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path, f'state_dir = "{populated.parent}"\nroster = "{DEMO_CONFIG.parent}/agents.toml"')
    config.write_text(config.read_text() + RENAMED)
    before = dump(populated)
    refused = run(capsys, "--config", str(config), "agents", "sync")
    assert refused.code == 1
    assert "it would rename service 'support' from 'technical support' to 'support' (12 calls on record)." in (
        refused.err
    )
    assert dump(populated) == before
    assert run(capsys, "--config", str(config), "agents", "sync", "--force").code == 0
    assert services(populated) == [("sales", "sales", 1), ("support", "support", 1)]


def test_a_service_with_calls_is_not_deactivated_unless_forced(
    populated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    service, roster = ONLY_SALES
    config = config_file(tmp_path, f'state_dir = "{populated.parent}"\n{service}', roster)
    before = dump(populated)
    refused = run(capsys, "--config", str(config), "db", "migrate")
    assert refused.code == 1
    (line,) = err_lines(refused)
    # Alice stays, so not every agent goes: only the service is named
    assert "it would deactivate service 'support' (12 calls on record). Check --config" in line
    assert dump(populated) == before
    assert run(capsys, "--config", str(config), "db", "migrate", "--force").code == 0
    assert services(populated) == [("sales", "sales", 1), ("support", "technical support", 0)]
    assert active_agents(populated) == ["1001"]


def test_every_drastic_change_is_named_in_the_one_line(
    populated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path, f'state_dir = "{populated.parent}"\n[[services]]\nid = "sales"\nname = "Sales"')
    (line,) = err_lines(run(capsys, "--config", str(config), "agents", "sync"))
    assert "deactivate every active agent (1001 Alice, 1002 Bob" in line
    assert "; deactivate service 'support' (12 calls on record)" in line


def test_changes_that_touch_no_history_need_no_force(
    populated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 'sales' has no calls on record: renaming it is harmless; one agent leaving is a roster change
    roster = DEMO_ROSTER.replace('id = "1005"', 'id = "1006"')
    services = '[[services]]\nid = "support"\nname = "technical support"\n[[services]]\nid = "sales"\nname = "Sales"'
    config = config_file(tmp_path, f'state_dir = "{populated.parent}"\n{services}', roster)
    result = run(capsys, "--config", str(config), "agents", "sync")
    assert result.code == 0, result.err
    assert "agents: 1 added, 0 changed, 1 deactivated; services: 0 added, 1 changed, 0 deactivated" in result.out
    assert active_agents(populated) == ["1001", "1002", "1003", "1004", "1006"]


def test_a_fresh_database_takes_any_roster(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "--config", str(DEMO_CONFIG), "agents", "sync")
    assert result.code == 0, result.err
    assert "agents: 5 added" in result.out
    assert "migrated, roster loaded" in result.err


def test_serve_refuses_before_it_touches_asterisk(
    populated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLCENTER_ROSTER", "")
    monkeypatch.setenv("CALLCENTER_AMI_SECRET", "unused")
    monkeypatch.setenv("CALLCENTER_AMI_PORT", "1")  # nothing listens there: reaching AMI would be another error
    before = dump(populated)
    result = run(capsys, "--config", str(DEMO_CONFIG), "serve")
    assert result.code == 1
    (line,) = err_lines(result)
    assert line.startswith("callcenter: error: refusing to load the config into the store")
    assert dump(populated) == before


def test_the_service_half_life_is_not_db_migrates_business(
    populated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLCENTER_POLICY_HALF_LIFE_DAYS", "30")
    assert run(capsys, "--config", str(DEMO_CONFIG), "db", "migrate").code == 0

    async def kept() -> float | None:
        async with await SqliteStore.open_existing(populated) as store:
            return await store.rating_half_life()

    assert asyncio.run(kept()) is None
