"""`db copy`: a center's whole history from SQLite into PostgreSQL (and back), every row and summary equal."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import structlog

from callcenter.cli import main
from callcenter.demo.seed import DEMO_HISTORY, seed_history
from callcenter.store import copy
from callcenter.store.api import Store
from callcenter.store.errors import StoreError
from callcenter.store.models import AgentDef, CategoryDef
from callcenter.store.opening import StoreUrl, redacted
from callcenter.store.sql.connection import Database
from callcenter.store.sql.store import SqlStore
from callcenter.store.sqlite.conn import SqliteDatabase
from tests.postgres import PostgresServer
from tests.unit.store.helpers import AGENTS, SERVICES, T0, at, existing, serving

PROJECT = Path(__file__).resolve().parents[3]
DEMO_CONFIG = PROJECT / "callcenter/demo/callcenter.toml"
DEMO_CATEGORIES = tuple(CategoryDef(c, c) for c in ("attitude", "knowledge", "availability", "other"))


async def history(store: Store) -> None:
    """The demo's rating history, and what a center collects besides: ratings changed, deleted by their rater,
    removed by an operator and revived, calls that were never answered or cut off, presence changes, PINs, wrong
    PINs, a retired agent and category."""
    await store.sync_categories(DEMO_CATEGORIES)
    await store.sync_services(SERVICES)
    await store.sync_roster(AGENTS, now=T0)
    assert await seed_history(store, DEMO_HISTORY, now=T0 + timedelta(days=30)) == 12
    await store.record_evaluation("seed-1001-0", "client_to_agent", {"attitude": 1}, "client:5551001", at(10))
    await store.delete_evaluation("seed-1002-1", "client_to_agent", "client:5551002", "changed my mind", at(20))
    await store.delete_evaluation("seed-1003-0", "agent_to_client", "operator:ops", "abusive", at(30))
    await store.record_evaluation("seed-1003-0", "agent_to_client", {"other": 2}, "operator:ops", at(40))
    client = await store.client_for_number("5551009", at(50))
    assert client is not None
    await store.start_call("lost-1", "lost-1", client.id, "support", at(50))
    await store.call_queued("lost-1", "service-support", at(52))
    await store.call_ended("lost-1", "abandoned", at(80))
    await store.start_call("cut-1", "cut-1", None, None, at(90))
    await store.call_ended("cut-1", "interrupted", at(95))
    await store.start_call("open-1", "open-1", client.id, "sales", at(99))
    await store.set_presence("1001", "paused", "lunch", actor="agent:1001", via="phone", now=at(100))
    await store.set_presence("1001", "available", None, actor="agent:1001", via="phone", now=at(200))
    await store.set_client_pin(client.id, "pbkdf2-sha256$x", at(300))
    for n in range(3):
        await store.record_pin_attempt("agent:1002", right=False, now=at(400 + n), since=T0, max_failures=5)
    await store.sync_roster(
        [
            *AGENTS[:2],
            AgentDef(id="2001", name="Dora", interface="PJSIP/agent2001", kind="sip", services=("sales",), queues=()),
        ],
        now=at(500),
    )
    await store.sync_categories(DEMO_CATEGORIES[:3])


async def rows(db: Database) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, as the Python values they stand for, in key order."""
    found: dict[str, list[tuple[object, ...]]] = {}
    async with db.read() as conn:
        for table in copy.TABLES:
            listed = await conn.fetch_all(
                f"SELECT {', '.join(table.columns)} FROM {table.name} ORDER BY {', '.join(table.key)}"
            )
            found[table.name] = [copy._values(table, row) for row in listed]
    return found


async def everything(store: SqlStore) -> dict[str, object]:
    """What the store's API says about the whole history."""
    agents = [a.id for a in await store.list_agents(active_only=False)]
    evaluations = await store.list_evaluations(include_deleted=True)
    calls = await store.list_calls(limit=1000)
    clients = sorted({c.client_id for c in calls if c.client_id is not None})
    return {
        "agents": await store.list_agents(active_only=False),
        "services": await store.list_services(active_only=False),
        "categories": await store.list_categories(),
        "calls": calls,
        "evaluations": evaluations,
        "trails": [await store.evaluation_history(e.id) for e in evaluations],
        "changes": await store.evaluation_changes(),
        "agent summaries": await store.agent_summaries(agents, now=at(10**6)),
        "client summaries": [await store.client_summary(c, now=at(10**6)) for c in clients],
        "pins": [await store.client_pin(c) for c in clients],
        "presence": await store.get_presence(agents),
        "pin failures": await store.pin_failures("agent:1002", T0),
        "half-life": await store.rating_half_life(),
    }


@pytest.fixture
async def source(tmp_path: Path) -> StoreUrl:
    url = StoreUrl.sqlite(tmp_path / "source.db")
    async with await serving(url, half_life_days=30) as store:
        await history(store)
        assert await store.check_invariants() == []
    return url


@pytest.fixture
async def target(postgres: PostgresServer) -> StoreUrl:
    return StoreUrl.parse(await postgres.new_place(migrated=False))


async def test_copy_moves_every_row_and_summary_and_verifies_it(source: StoreUrl, target: StoreUrl) -> None:
    report = await copy.copy_between(source, target, busy_timeout=5)
    assert report.ok, "\n".join(report.lines())
    counts = {t.table: t.source_rows for t in report.tables}
    assert counts["evaluations"] == 24
    assert counts["evaluation_audit"] == 28  # 24 created, 1 changed, 2 deleted, 1 revived
    assert counts["calls"] == 15
    assert report.agents_compared == 4
    assert report.target_problems == ()
    async with await existing(source) as before, await existing(target, readonly=False) as after:
        assert await rows(before.sql) == await rows(after.sql)
        assert await everything(before) == await everything(after)
        # the copy is a working store: new rows get new ids (the sequences were moved past the copied ones)
        client = await after.client_for_number("5557777", at(600))
        assert client is not None
        assert client.id > max(c.client_id or 0 for c in await before.list_calls(limit=1000))
        call = await after.start_call("new-1", "new-1", client.id, "support", at(600))
        assert call.id == 16
        await after.call_answered("new-1", "1001", at(610))
        rated = await after.record_evaluation("new-1", "client_to_agent", {"attitude": 5}, "ivr", at(620))
        assert rated.id == 25
        assert await after.check_invariants() == []


async def test_copy_refuses_a_store_that_is_not_empty_and_changes_nothing(source: StoreUrl, target: StoreUrl) -> None:
    assert (await copy.copy_between(source, target, busy_timeout=5)).ok
    async with await existing(target) as copied:
        before = await rows(copied.sql)
    with pytest.raises(StoreError, match=r"is not empty \(table services has rows\): db copy only fills an empty"):
        await copy.copy_between(source, target, busy_timeout=5)
    with pytest.raises(StoreError, match="is the configured store itself"):
        await copy.copy_between(source, source, busy_timeout=5)
    async with await existing(target) as copied:
        assert await rows(copied.sql) == before


async def test_a_copy_goes_back_from_postgresql_to_sqlite_as_well(
    source: StoreUrl, target: StoreUrl, tmp_path: Path
) -> None:
    assert (await copy.copy_between(source, target, busy_timeout=5)).ok
    back = StoreUrl.sqlite(tmp_path / "back.db")
    report = await copy.copy_between(target, back, busy_timeout=5)
    assert report.ok, "\n".join(report.lines())
    async with await existing(source) as first, await existing(back) as last:
        assert await rows(first.sql) == await rows(last.sql)


async def test_the_copy_knows_every_column_of_both_schemas(db: Database) -> None:
    """A column a later migration adds must be added to copy.TABLES, or db copy would leave it behind."""
    async with db.read() as conn:
        for table in copy.TABLES:
            row = await conn.fetch_one(f"SELECT * FROM {table.name} LIMIT 1")
            assert row is None or table.name == copy.SETTINGS
        listed = await conn.fetch_all(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            if isinstance(db, SqliteDatabase)
            else "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    names = {row["name"] for row in listed} - {"schema_version"}
    assert names == {t.name for t in copy.TABLES}
    for table in copy.TABLES:
        async with db.read() as conn:
            # every listed column exists: this SELECT fails otherwise
            await conn.fetch_all(f"SELECT {', '.join(table.columns)} FROM {table.name} LIMIT 0")
            total = await conn.fetch_value(
                f"SELECT COUNT(*) FROM pragma_table_info('{table.name}')"
                if isinstance(db, SqliteDatabase)
                else "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() "
                f"AND table_name = '{table.name}'"
            )
        assert total == len(table.columns), table.name


# --- the command line, on a real PostgreSQL ----------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The demo config, its state in a temporary directory; logging restored after `main` reconfigured it."""
    for key in list(os.environ):
        if key.startswith("CALLCENTER_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CALLCENTER_STATE_DIR", str(tmp_path / "state"))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield tmp_path / "state"
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--log-level", "error", "--config", str(DEMO_CONFIG), *argv])
    return code, capsys.readouterr().out


def test_db_migrate_check_and_copy_from_the_command_line(
    cli_env: Path, postgres: PostgresServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the demo center on SQLite, with its history, as `make run` leaves it
    assert cli(capsys, "db", "migrate")[0] == 0
    sqlite_url = StoreUrl.sqlite(cli_env / "callcenter.db")

    async def seed() -> None:
        async with await serving(sqlite_url) as store:
            assert await seed_history(store, DEMO_HISTORY) == 12

    asyncio.run(seed())
    target = asyncio.run(postgres.new_place(migrated=False))
    code, out = cli(capsys, "db", "copy", "--to", target)
    assert code == 0, out
    assert "evaluation_audit" in out
    assert f"copied to {target}: every check passed" in out
    # and the center runs on it: db check and db migrate on PostgreSQL
    monkeypatch.setenv("CALLCENTER_STORE_URL", target)
    code, out = cli(capsys, "db", "check")
    assert (code, out.splitlines()[-1]) == (0, "aggregates consistent")
    code, out = cli(capsys, "db", "migrate")
    assert code == 0
    assert f"store {target} is up to date" in out
    code, out = cli(capsys, "db", "copy", "--to", target)
    assert code == 1  # onto itself: refused


def test_db_copy_refuses_while_the_journal_holds_what_the_store_has_not_taken(
    cli_env: Path, postgres: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "db", "migrate")[0] == 0
    journal = cli_env / "callcenter.db.pending.jsonl"
    journal.write_text('{"kind": "rating"}\n')
    target = asyncio.run(postgres.new_place(migrated=False))
    code, out = cli(capsys, "db", "copy", "--to", target)
    assert code == 1
    assert f"refusing to copy: {journal} still holds calls or ratings" in out


def test_no_password_is_shown_wherever_the_url_carries_it() -> None:
    shown = redacted("postgresql://cc:s3cret@db.example:5432/cc?sslmode=require&password=t0p&application_name=x")
    assert "s3cret" not in shown
    assert "t0p" not in shown
    assert shown == "postgresql://cc:***@db.example:5432/cc?sslmode=require&password=***&application_name=x"
    assert str(StoreUrl.parse("postgresql://cc@h/db?password=t0p")) == "postgresql://cc@h/db?password=***"
