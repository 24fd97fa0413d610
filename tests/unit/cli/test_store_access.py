"""What each command may do to the store (issue #9): read commands nothing at all, remove/reset-pin only their
one change, and none of them creates, migrates or re-syncs a database."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from callcenter.store.sqlite.db import Database
from callcenter.store.sqlite.migrate import bundled_migrations, migrate
from tests.unit.cli.support import DEMO_CONFIG, Dump, Result, digest, dump, err_lines, run

READ_COMMANDS = [
    ("ratings", "show", "--agent", "1001"),
    ("ratings", "show", "--agent", "1001", "--json"),
    ("ratings", "show", "--client", "5551001"),
    ("ratings", "show", "--client", "555-1001", "--json"),
    ("policy", "explain", "--agent", "1002"),
    ("policy", "explain", "--client", "5551002"),
    ("calls", "list"),
    ("calls", "list", "--agent", "1001", "--json"),
    ("evaluations", "list"),
    ("evaluations", "list", "--deleted", "--client", "5551001", "--json"),
    ("evaluations", "history"),
    ("evaluations", "history", "--call", "seed-1001-0", "--json"),
    ("agents", "list"),
    ("agents", "list", "--json"),
    ("db", "check"),
]

# The store's own description of the call center: what a roster sync or a half-life recompute rewrites.
CONFIG_TABLES = (
    "agents",
    "agent_services",
    "agent_queues",
    "services",
    "categories",
    "settings",
    "PRAGMA user_version",
)


@pytest.fixture
def hostile(tmp_path: Path, populated: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config that disagrees with the store about everything a sync would load: no roster, one renamed service,
    no 'sales', two categories, another half-life; and the environment piling on."""
    config = tmp_path / "other.toml"
    config.write_text(
        f'state_dir = "{populated.parent}"\n'
        "[policy]\nhalf_life_days = 7\n"
        '[[services]]\nid = "support"\nname = "help desk"\n'
        '[[categories]]\nid = "attitude"\nlabel = "attitude"\n'
        '[[categories]]\nid = "speed"\nlabel = "speed"\n'
    )
    monkeypatch.setenv("CALLCENTER_POLICY_HALF_LIFE_DAYS", "30")
    return config


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
@pytest.mark.parametrize("which", ["demo config", "hostile config", "empty roster"])
def test_read_commands_change_nothing_whatever_the_config_says(
    populated: Path,
    hostile: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
    which: str,
) -> None:
    before, file_before = dump(populated), digest(populated)
    config = hostile if which == "hostile config" else DEMO_CONFIG
    if which == "empty roster":
        monkeypatch.setenv("CALLCENTER_ROSTER", "")
    result = run(capsys, "--config", str(config), *command)
    assert result.code == 0, result.err
    assert dump(populated) == before
    assert digest(populated) == file_before  # not a byte of the database file changed
    if "--json" in command:
        json.loads(result.out)  # stdout is only the JSON; the store line went to stderr


def test_a_read_command_says_which_config_and_store_in_one_stderr_line(
    populated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(capsys, "--config", str(DEMO_CONFIG), "ratings", "show", "--agent", "1001", "--json")
    assert json.loads(result.out)["agent"]["id"] == "1001"
    (line,) = err_lines(result)
    assert "store_opened" in line
    assert f"{DEMO_CONFIG} (--config)" in line
    assert str(populated) in line
    assert "read-only" in line


def test_reports_use_the_half_life_the_store_keeps_not_the_commands(
    populated: Path, hostile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The service owns the half-life: what `ratings show` prints must be what callers hear."""
    plain = run(capsys, "--config", str(DEMO_CONFIG), "ratings", "show", "--agent", "1001", "--json")
    other = run(capsys, "--config", str(hostile), "policy", "explain", "--agent", "1001")
    assert other.code == 0
    assert "decayed" not in other.out  # the store keeps no decay: nothing decayed is shown
    assert "half_life_differs" in other.err
    again = run(capsys, "--config", str(hostile), "ratings", "show", "--agent", "1001", "--json")
    assert json.loads(again.out)["overall"] == json.loads(plain.out)["overall"]


def test_db_check_notes_a_config_half_life_the_store_does_not_keep(
    populated: Path, hostile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(capsys, "--config", str(hostile), "db", "check")
    assert result.code == 0
    assert result.out.splitlines() == [
        "note: the decayed ratings are kept for half_life_days = 0, this config says 30 "
        "(a service started with it recomputes them)",
        "aggregates consistent",
    ]


def one_error_line(result: Result) -> str:
    (line,) = err_lines(result)
    assert line.startswith("callcenter: error: ")
    return line.removeprefix("callcenter: error: ")


WRITE_COMMANDS = [
    ("evaluations", "remove", "--call", "seed-1001-0", "--direction", "caller-to-agent", "--reason", "abuse"),
    ("clients", "reset-pin", "5551001"),
]


@pytest.mark.parametrize("command", READ_COMMANDS + WRITE_COMMANDS, ids=" ".join)
def test_a_missing_database_is_one_line_and_never_created(
    state_dir: Path, capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    result = run(capsys, "--config", str(DEMO_CONFIG), *command)
    assert result.code == 1
    path = state_dir / "callcenter.db"
    assert one_error_line(result) == (
        f"no database at {path}: `callcenter db migrate` (or starting the service) creates it"
    )
    assert not state_dir.exists()


def old_database(path: Path, version: int) -> None:
    async def make() -> None:
        async with await Database.open(path) as db:
            await migrate(db, bundled_migrations()[:version])

    asyncio.run(make())


@pytest.mark.parametrize("command", READ_COMMANDS[:1] + READ_COMMANDS[-1:] + WRITE_COMMANDS[-1:], ids=" ".join)
def test_an_older_schema_is_one_line_and_is_not_migrated(
    state_dir: Path, capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    path = state_dir / "callcenter.db"
    state_dir.mkdir()
    old_database(path, 3)
    before = dump(path)
    result = run(capsys, "--config", str(DEMO_CONFIG), *command)
    assert result.code == 1
    assert one_error_line(result) == (
        f"database {path} is at schema version 3, this callcenter needs version {len(bundled_migrations())}: "
        "run `callcenter db migrate` (the service also migrates when it starts)"
    )
    assert dump(path) == before


def test_a_newer_schema_is_one_line(populated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    newer = len(bundled_migrations()) + 1
    conn = sqlite3.connect(populated)
    conn.execute(f"PRAGMA user_version = {newer}")
    conn.close()
    result = run(capsys, "--config", str(DEMO_CONFIG), "calls", "list")
    assert result.code == 1
    assert one_error_line(result).startswith(f"database {populated} is at schema version {newer}, this callcenter")
    assert "upgrade callcenter" in result.err


def changed_tables(before: Dump, after: Dump) -> set[str]:
    return {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


def test_evaluations_remove_changes_the_evaluation_and_nothing_about_the_call_center(
    populated: Path, hostile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = dump(populated)
    result = run(capsys, "--config", str(hostile), *WRITE_COMMANDS[0], "--operator", "ops")
    assert result.code == 0, result.err
    assert "removed evaluation #" in result.out
    assert "read-write, not migrated, roster not loaded" in result.err
    after = dump(populated)
    assert changed_tables(before, after) == {"evaluations", "evaluation_audit", "agent_rating_totals"}
    assert not changed_tables({t: before[t] for t in CONFIG_TABLES}, {t: after[t] for t in CONFIG_TABLES})
    assert len(after["evaluation_audit"]) == len(before["evaluation_audit"]) + 1


def test_clients_reset_pin_changes_that_pin_only(
    populated: Path, hostile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = dump(populated)
    result = run(capsys, "--config", str(hostile), *WRITE_COMMANDS[1])
    assert result.code == 0, result.err
    after = dump(populated)
    assert changed_tables(before, after) == {"clients"}
    assert [row for row in after["clients"] if row[2] is not None] == []  # pin_hash cleared
