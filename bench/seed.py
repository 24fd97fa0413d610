"""Benchmark worlds: a temp on-disk store holding a roster, known callers, rated calls and calls still to rate.

The roster goes through the store's own API (sync_categories / sync_services / sync_roster). Clients, calls
and evaluations are bulk-inserted with ``executemany`` inside one ``Database.transaction()`` each, because
100k evaluations through ``record_evaluation`` one at a time would take minutes; those rows hold exactly
what the API would have written (audit rows and running totals included), and ``verify()`` proves it with
the store's own full recount (``check_invariants``) before anything is measured.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callcenter.domain import naming
from callcenter.store import AgentDef, CategoryDef, ServiceDef, SqliteStore
from callcenter.store.models import AGENT_TO_CLIENT, CLIENT_TO_AGENT, MAX_SCORE, MIN_SCORE, OVERALL
from callcenter.store.timestamps import to_db

T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
SERVICE = "support"
SERVICES = (ServiceDef(SERVICE, "Support"), ServiceDef("sales", "Sales"))
CATEGORIES = (
    CategoryDef("attitude", "service attitude"),
    CategoryDef("knowledge", "professional knowledge"),
    CategoryDef("availability", "availability"),
    CategoryDef("resolution", "problem solved"),
)
CATEGORY_IDS = tuple(c.id for c in CATEGORIES)

Scores = dict[str, int]
Totals = dict[tuple[str | int, str], list[int]]  # (subject, category) -> [n, total]


def number_of(index: int, prefix: str = "+1555") -> str:
    """The canonical caller number of known client ``index`` (already what normalise_number returns)."""
    return f"{prefix}{index:07d}"


def agent_def(index: int) -> AgentDef:
    # every agent serves the offered service; every third one a second service too
    services = (SERVICE, "sales") if index % 3 == 0 else (SERVICE,)
    return AgentDef(
        id=f"a{index:05d}",
        name=f"Agent {index}",
        interface=naming.pjsip_interface(naming.sip_endpoint(str(index))),
        kind="sip",
        services=services,
        queues=(naming.agent_queue(str(index)), *(naming.service_queue(s) for s in services)),
    )


@dataclass(slots=True)
class World:
    """One store and what was put in it, so benchmarks can pick real rows to work on."""

    store: SqliteStore
    rng: random.Random
    agents: list[str] = field(default_factory=list)
    agent_skill: dict[str, float] = field(default_factory=dict)
    clients: list[int] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    # client_to_agent evaluations seeded: (call uniqueid, scores), for update benchmarks
    rated: list[tuple[str, Scores]] = field(default_factory=list)
    # the categories rated: this module's own set, or a service config's (bench.callworld)
    categories: tuple[str, ...] = CATEGORY_IDS
    _calls: int = 0

    def next_uniqueid(self, kind: str) -> str:
        self._calls += 1
        return f"{kind}-{self._calls}"

    def scores_for(self, agent_id: str) -> Scores:
        """Four 1-5 scores around the agent's skill, so rankings have something to rank."""
        skill = self.agent_skill[agent_id]
        return {c: max(MIN_SCORE, min(MAX_SCORE, round(self.rng.gauss(skill, 0.9)))) for c in self.categories}

    async def close(self) -> None:
        await self.store.close()


async def open_world(directory: Path, name: str, *, agents: int, clients: int, seed: int = 20250106) -> World:
    store = await SqliteStore.open(directory / f"{name}.db")
    world = World(store=store, rng=random.Random(seed))
    await store.sync_categories(CATEGORIES)
    await store.sync_services(SERVICES)
    roster = [agent_def(i) for i in range(1, agents + 1)]
    await store.sync_roster(roster, now=T0)
    world.agents = [a.id for a in roster]
    world.agent_skill = {a: world.rng.uniform(2.0, 4.8) for a in world.agents}
    await add_clients(world, clients)
    return world


async def add_clients(world: World, count: int) -> None:
    """``count`` more known callers, as client_for_number would have created them."""
    first = len(world.numbers)
    numbers = [number_of(i) for i in range(first, first + count)]
    at = to_db(T0)
    async with world.store.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO clients (number, created_at) VALUES (?, ?)", [(number, at) for number in numbers]
        )
        rows = await conn.execute_fetchall(
            "SELECT id, number FROM clients WHERE id > ? ORDER BY id", (world.clients[-1] if world.clients else 0,)
        )
    ids = {row[1]: int(row[0]) for row in rows}
    world.numbers.extend(numbers)
    world.clients.extend(ids[number] for number in numbers)


@dataclass(slots=True)
class _Batch:
    """Rows for one bulk insert, built in Python first."""

    calls: list[tuple[object, ...]] = field(default_factory=list)
    evaluations: list[tuple[object, ...]] = field(default_factory=list)
    scores: list[tuple[object, ...]] = field(default_factory=list)
    audit: list[tuple[object, ...]] = field(default_factory=list)
    agent_totals: Totals = field(default_factory=dict)
    client_totals: Totals = field(default_factory=dict)


def _count(totals: Totals, subject: str | int, scores: Scores) -> None:
    """What add_to_totals does per evaluation: one row per category, plus the overall row."""
    for category, score in [*scores.items(), (OVERALL, sum(scores.values()))]:
        entry = totals.setdefault((subject, category), [0, 0])
        entry[0] += 1
        entry[1] += score


async def _next_id(world: World, table: str) -> int:
    async with world.store.db.read() as conn:
        rows = list(await conn.execute_fetchall(f"SELECT COALESCE(MAX(id), 0) FROM {table}"))
    return int(rows[0][0]) + 1


async def add_ratings(world: World, evaluations: int) -> None:
    """``evaluations`` more live evaluations: answered, ended calls rated both ways (caller->agent and back)."""
    calls = evaluations // 2
    batch = _Batch()
    call_id = await _next_id(world, "calls")
    evaluation_id = await _next_id(world, "evaluations")
    for _ in range(calls):
        uniqueid = world.next_uniqueid("seed")
        agent = world.rng.choice(world.agents)
        client = world.rng.choice(world.clients)
        start = T0 + timedelta(seconds=30 * (call_id % 1_000_000))
        batch.calls.append(_call_row(call_id, uniqueid, client, agent, start))
        done = to_db(start + timedelta(minutes=5))
        for direction, subject in ((CLIENT_TO_AGENT, agent), (AGENT_TO_CLIENT, client)):
            scores = world.scores_for(agent) if direction == CLIENT_TO_AGENT else _client_scores(world)
            batch.evaluations.append((evaluation_id, call_id, direction, agent, client, done, done))
            batch.scores.extend((evaluation_id, c, s) for c, s in scores.items())
            batch.audit.append((evaluation_id, done, "ivr", "create", _to_json(scores)))
            if direction == CLIENT_TO_AGENT:
                _count(batch.agent_totals, subject, scores)
                world.rated.append((uniqueid, scores))
            else:
                _count(batch.client_totals, subject, scores)
            evaluation_id += 1
        call_id += 1
    await _write(world, batch)


async def add_answered_calls(world: World, count: int) -> list[str]:
    """``count`` answered, ended, not yet rated calls (what record_evaluation is called on); their uniqueids."""
    batch = _Batch()
    call_id = await _next_id(world, "calls")
    uniqueids = []
    for _ in range(count):
        uniqueid = world.next_uniqueid("open")
        start = T0 + timedelta(seconds=30 * (call_id % 1_000_000))
        batch.calls.append(
            _call_row(call_id, uniqueid, world.rng.choice(world.clients), world.rng.choice(world.agents), start)
        )
        uniqueids.append(uniqueid)
        call_id += 1
    await _write(world, batch)
    return uniqueids


def _call_row(call_id: int, uniqueid: str, client: int, agent: str, start: datetime) -> tuple[object, ...]:
    return (
        call_id,
        uniqueid,
        uniqueid,
        client,
        agent,
        SERVICE,
        naming.agent_queue(_queue_agent(agent)),
        to_db(start),
        to_db(start + timedelta(seconds=1)),
        to_db(start + timedelta(seconds=21)),
        to_db(start + timedelta(seconds=261)),
        20,
        240,
        "answered",
    )


def _queue_agent(agent: str) -> str:
    """The id in the agent's queue name: this module's "a00042" is agent 42; a roster's own ids are digits."""
    return agent if agent.isdigit() else str(int(agent[1:]))


def _client_scores(world: World) -> Scores:
    # agents rate callers on the same categories in this benchmark; mostly polite callers
    return {c: world.rng.choice((3, 4, 4, 5, 5)) for c in world.categories}


def _to_json(scores: Scores) -> str:
    # exactly how the store writes audit scores: sorted keys, compact
    return json.dumps(dict(sorted(scores.items())), separators=(",", ":"))


def _upserts(totals: Totals) -> Iterable[tuple[object, ...]]:
    return [(subject, category, n, total) for (subject, category), (n, total) in totals.items()]


async def _write(world: World, batch: _Batch) -> None:
    async with world.store.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO calls (id, uniqueid, linkedid, client_id, agent_id, service_id, queue, started_at, "
            "joined_at, answered_at, ended_at, hold_seconds, talk_seconds, outcome) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            batch.calls,
        )
        await conn.executemany(
            "INSERT INTO evaluations (id, call_id, direction, agent_id, client_id, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            batch.evaluations,
        )
        await conn.executemany(
            "INSERT INTO evaluation_scores (evaluation_id, category_id, score) VALUES (?, ?, ?)", batch.scores
        )
        await conn.executemany(
            "INSERT INTO evaluation_audit (evaluation_id, at, actor, action, old_scores, new_scores) "
            "VALUES (?, ?, ?, ?, NULL, ?)",
            batch.audit,
        )
        for table, key, totals in (
            ("agent_rating_totals", "agent_id", batch.agent_totals),
            ("client_rating_totals", "client_id", batch.client_totals),
        ):
            await conn.executemany(
                f"INSERT INTO {table} ({key}, category_id, n, total) VALUES (?, ?, ?, ?) "
                f"ON CONFLICT ({key}, category_id) DO UPDATE SET n = n + excluded.n, total = total + excluded.total",
                _upserts(totals),
            )
            # the store runs without decay here, so its decayed sums equal the plain ones (migration 0003), as of
            # the newest rating
            await conn.execute(
                f"UPDATE {table} SET dn = n, dtotal = total, as_of = (SELECT MAX(updated_at) FROM evaluations)"
            )


async def verify(world: World) -> None:
    """Refuse to benchmark a store whose totals do not match a full recount (a wrong seed would lie)."""
    problems = await world.store.check_invariants()
    if problems:
        raise RuntimeError("seeded store is inconsistent: " + "; ".join(problems[:5]))
