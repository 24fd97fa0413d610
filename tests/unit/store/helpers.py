"""Shared test data and builders for the store tests (a plain module so tests can import it)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

import pytest

from callcenter.store import opening
from callcenter.store.api import Store
from callcenter.store.models import AgentDef, Call, CategoryDef, CategoryStat, RatingSummary, ServiceDef
from callcenter.store.opening import StoreUrl
from callcenter.store.postgres import PostgresStore
from callcenter.store.sql.connection import Conn, Database, Params, Row
from callcenter.store.sql.store import SqlStore
from callcenter.store.sqlite import SqliteStore
from tests.postgres import PostgresServer

# the store contract suite runs on each (conftest.py)
BACKENDS: Final = ("sqlite", "postgresql")

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

CATEGORIES = (
    CategoryDef("attitude", "service attitude"),
    CategoryDef("knowledge", "professional knowledge"),
    CategoryDef("availability", "availability"),
)
SERVICES = (ServiceDef("support", "Support"), ServiceDef("sales", "Sales"))
AGENTS = (
    AgentDef(
        id="1001",
        name="Alice",
        interface="PJSIP/agent1001",
        kind="sip",
        services=("support",),
        queues=("agent-1001", "service-support"),
        pin_hash="pbkdf2-sha256$aa",
    ),
    AgentDef(
        id="1002",
        name="Bob",
        interface="Local/+15551234567@cc-outbound",
        kind="external",
        services=("support", "sales"),
        queues=("agent-1002", "service-support", "service-sales"),
    ),
    AgentDef(
        id="1003",
        name="Carol",
        interface="PJSIP/agent1003",
        kind="sip",
        services=("sales",),
        queues=("agent-1003", "service-sales"),
    ),
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def seed(store: Store) -> None:
    await store.sync_categories(CATEGORIES)
    await store.sync_services(SERVICES)
    await store.sync_roster(AGENTS, now=T0)


async def answered_call(store: Store, uniqueid: str, *, number: str | None = "+15550001", agent: str = "1001") -> Call:
    """A call that reached ``agent`` after 10 s in the queue; ``number=None`` makes it anonymous."""
    client = await store.client_for_number(number, now=T0)
    await store.start_call(uniqueid, uniqueid, None if client is None else client.id, "support", T0)
    await store.call_queued(uniqueid, "service-support", at(2))
    call = await store.call_answered(uniqueid, agent, at(12))
    assert call is not None
    return call


def summary(*evaluations: Mapping[str, int]) -> RatingSummary:
    """What a summary must say for these live evaluations, computed the obvious way."""
    per: dict[str, list[int]] = {}
    for scores in evaluations:
        for category, score in scores.items():
            per.setdefault(category, []).append(score)
    all_scores = [s for scores in per.values() for s in scores]
    return RatingSummary(
        count=len(evaluations),
        score_count=len(all_scores),
        score_total=sum(all_scores),
        per_category={c: CategoryStat(len(v), sum(v), sum(v) / len(v)) for c, v in sorted(per.items())},
        overall_mean=sum(all_scores) / len(all_scores) if all_scores else None,
    )


# --- opening a store at a place, as the processes do (callcenter/store/opening.py) -----------------------------


async def serving(place: StoreUrl, half_life_days: float | None = None) -> SqlStore:
    """The serving process's handle: creates, migrates, owns the half-life."""
    return _sql(await opening.open_serving(place, busy_timeout=5.0, half_life_days=half_life_days))


async def migrated(place: StoreUrl) -> SqlStore:
    """``db migrate``'s handle: creates, migrates, follows the recorded half-life."""
    return _sql(await opening.open_migrated(place, busy_timeout=5.0))


async def existing(place: StoreUrl, *, readonly: bool = True) -> SqlStore:
    """An operator command's handle: nothing created or migrated."""
    return _sql(await opening.open_existing(place, readonly=readonly))


def _sql(store: Store) -> SqlStore:
    assert isinstance(store, SqlStore)
    return store


class Recording:
    """A Database that notes every transaction, read and Conn call the repositories make through it: how many
    queries an operation costs, on either backend."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.calls: list[str] = []

    @property
    def name(self) -> str:
        return self._db.name

    @property
    def readonly(self) -> bool:
        return self._db.readonly

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        self.calls.append("transaction")
        async with self._db.transaction() as conn:
            yield self._recorded(conn)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        self.calls.append("read")
        async with self._db.read() as conn:
            yield self._recorded(conn)

    async def query(self, sql: str, params: Params = ()) -> list[Row]:
        self.calls.append("query")
        return await self._db.query(sql, params)

    async def query_in(self, sql: str, keys: Sequence[object], params: Params = ()) -> list[Row]:
        self.calls.append("query_in")
        return await self._db.query_in(sql, keys, params)

    async def close(self) -> None:
        await self._db.close()

    def _recorded(self, conn: Conn) -> Conn:
        calls = self.calls

        class Recorded:
            def __getattr__(self, name: str) -> Any:
                calls.append(name)
                return getattr(conn, name)

        return cast(Conn, Recorded())


@contextlib.asynccontextmanager
async def fresh_store(server: PostgresServer | None, half_life_days: float | None = None) -> AsyncIterator[SqlStore]:
    """A serving store in a place of its own, for one example of a property test: SQLite in memory without a
    server, else a new database on it."""
    if server is None:
        async with await SqliteStore.open(":memory:", half_life_days=half_life_days) as memory:
            yield memory
        return
    url = await server.new_place()
    try:
        async with await PostgresStore.open(url, half_life_days=half_life_days) as store:
            yield store
    finally:
        await server.release(url)


def server_for(backend: str, request: pytest.FixtureRequest) -> PostgresServer | None:
    """The session's PostgreSQL server for the postgresql backend (started on first use), None for SQLite."""
    if backend == "sqlite":
        return None
    server: PostgresServer = request.getfixturevalue("postgres")
    return server
