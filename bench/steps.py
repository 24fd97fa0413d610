"""The store-side IVR steps (1-5 and 7): what each costs on a seeded on-disk store, at growing sizes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice

from bench.config import Config, Worlds
from bench.figures import Targets
from bench.report import Section
from bench.seed import CATEGORY_IDS, SERVICE, T0, Scores, World, add_answered_calls, add_clients, number_of
from bench.timing import Op, Parts, Stats, format_count, measure, timed
from callcenter.domain import naming
from callcenter.domain.agents import AgentSpec
from callcenter.domain.pins import ROUNDS, check_client_pin, hash_client_pin
from callcenter.domain.policy import Candidate, Policy, caller_priority, rank, score
from callcenter.domain.summaries import Scoring
from callcenter.domain.summaries import ratings as to_ratings
from callcenter.domain.waits import AgentLoad
from callcenter.store import Direction, PresenceState, SqliteStore
from callcenter.store.models import AGENT_TO_CLIENT, CLIENT_TO_AGENT
from callcenter.usecases.rankings import Rankings

# seeded calls start at T0, 30 s apart (50k calls span ~17 days): the reminder window reaches into them
NOW = T0 + timedelta(days=20)
REMIND_DAYS = 14
TOP = 3


@dataclass(slots=True)
class Context:
    config: Config
    worlds: Worlds
    policy: Policy = field(default_factory=Policy)
    # issue 13's figures beside their targets, printed together at the end of the run
    targets: Targets = field(default_factory=Targets)


def sizes(**values: int) -> str:
    return " ".join(f"{name}={format_count(value)}" for name, value in values.items())


def ns() -> int:
    return time.perf_counter_ns()


# ---- 1. the agent offer ----------------------------------------------------------------------------------


async def offer(ctx: Context, section: Section) -> None:
    c = ctx.config
    points = [(a, c.base_ratings) for a in c.agents_axis]
    points += [(c.base_agents, r) for r in c.ratings_axis if r != c.base_ratings]
    for agents, ratings in points:
        world = await ctx.worlds.get(agents=agents, ratings=ratings)
        parts = Parts(*_OFFER_PARTS)
        label = sizes(agents=agents, ratings=ratings)
        rankings, built = await _kept_ranking(world, ctx.policy)
        section.add("offer top 3 from the kept ranking (now)", label, await measure(_kept_op(rankings), c.budget))
        section.add("  the kept ranking built (once, at start)", label, Stats.of([built]))
        stats = await measure(_offer_op(world.store, ctx.policy, parts), c.budget, parts)
        section.add("offer top 3, store reads + full rank (before)", label, stats)
        for name, what in zip(_OFFER_PARTS, _OFFER_LABELS, strict=True):
            section.add(f"  {what}", label, parts.stats(name))
    section.notes += [
        "now: usecases/rankings.py's kept ranking, walked from the top (free agents, then the first busy one) with",
        "each walked agent's load looked up, as InboundFlow.offered does; no store read on the call path.",
        "before: as InboundFlow.candidates() did it (minus presence): store reads, then score and rank every agent;",
        "categories are known from start-up (not re-read per call). calls stored = ratings / 2.",
        "list_agents reads the service memberships and queues of the service's agents only.",
        "agent_summaries reads the incremental totals (5 rows per agent): flat in ratings; last_answered is one",
        "index seek per agent on calls(agent_id, answered_at) (migration 0002): flat in stored calls too.",
    ]


_OFFER_PARTS = ("list_agents", "agent_summaries", "last_answered", "score+rank")
_OFFER_LABELS = ("list_agents(service)", "agent_summaries(ids)", "last_answered(ids)", "to_ratings + score + rank")


def _offer_op(store: SqliteStore, policy: Policy, parts: Parts) -> Op:
    """What the IVR does before it speaks: the service's agents, their totals, the best three."""

    async def op(_: int) -> None:
        t0 = ns()
        roster = await store.list_agents(SERVICE)
        ids = [a.id for a in roster]
        t1 = ns()
        summaries = await store.agent_summaries(ids)
        t2 = ns()
        last = await store.last_answered(ids)
        t3 = ns()
        candidates = [
            Candidate(
                i, score(to_ratings(summaries[i]), CATEGORY_IDS, policy), last[i].timestamp() if i in last else 0.0
            )
            for i in ids
        ]
        top = rank(candidates)[:TOP]
        t4 = ns()
        assert len(top) == min(TOP, len(roster))
        for name, took in zip(_OFFER_PARTS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            parts.add(name, took)

    return op


async def _kept_ranking(world: World, policy: Policy) -> tuple[Rankings, int]:
    specs = [AgentSpec(a.id, a.name, a.services, "dial", a.interface, None) for a in await world.store.list_agents()]
    rankings = Rankings(world.store, Scoring(CATEGORY_IDS, policy), specs, clock=lambda: NOW)
    t0 = ns()
    await rankings.load()
    for agent_id in world.agents:
        rankings.load_changed(agent_id, _FREE)
    return rankings, ns() - t0


_FREE = AgentLoad(True, 0, 0.0)


def _kept_op(rankings: Rankings) -> Op:
    loads = dict.fromkeys(rankings.order(SERVICE), _FREE)

    async def op(_: int) -> None:
        # the first page's three and one more (is there a page 2), then whether anyone has a wait (key 7)
        free = [c for c in islice(rankings.walk(SERVICE, None, "free"), TOP + 1) if loads.get(c.agent_id)]
        busy = next(rankings.walk(SERVICE, None, "busy"), None)
        assert len(free) == min(TOP + 1, len(loads))
        assert busy is None

    return op


# ---- 2. caller identification and reputation ---------------------------------------------------------------


async def caller(ctx: Context, section: Section) -> None:
    c = ctx.config
    world = await ctx.worlds.fresh("callers", c.base_agents, c.clients_axis[0], c.base_ratings)
    try:
        for level, clients in enumerate(c.clients_axis):
            if clients > len(world.numbers):
                await add_clients(world, clients - len(world.numbers))
            label = sizes(clients=clients, ratings=c.base_ratings)
            for known in (True, False):
                parts = Parts(*_CALLER_PARTS)
                stats = await measure(_identify_op(world, ctx.policy, parts, known=known, level=level), c.budget, parts)
                what = "returning caller" if known else "first-time caller"
                section.add(f"identify+reputation, {what}", label, stats)
                for name, what in zip(_CALLER_PARTS, _CALLER_LABELS, strict=True):
                    section.add(f"  {what}", label, parts.stats(name))
    finally:
        await world.close()
    section.notes += [
        "client_for_number always runs BEGIN IMMEDIATE (INSERT .. ON CONFLICT DO NOTHING), even for a known caller.",
        f"{c.base_ratings // 2:,} agent->caller ratings are spread over all clients: the more clients, the fewer",
        "returning callers have a reputation yet (the pure priority part is then cheaper: nothing to convert).",
    ]


_CALLER_PARTS = ("client_for_number", "unrated_calls", "client_summary", "caller_priority")
_CALLER_LABELS = (
    "client_for_number (write txn)",
    f"unrated_calls({REMIND_DAYS} d, limit 1)",
    "client_summary",
    "to_ratings + caller_priority",
)


def _identify_op(world: World, policy: Policy, parts: Parts, *, known: bool, level: int) -> Op:
    numbers = world.numbers
    rng = world.rng

    async def op(index: int) -> None:
        number = rng.choice(numbers) if known else number_of(index, prefix=f"+1666{level}")
        t0 = ns()
        client = await world.store.client_for_number(number, now=NOW)
        t1 = ns()
        assert client is not None
        # the reminder of a call the caller did not rate yet, asked before the service menu
        await world.store.unrated_calls(
            CLIENT_TO_AGENT, since=NOW - timedelta(days=REMIND_DAYS), client_id=client.id, limit=1
        )
        t2 = ns()
        summary = await world.store.client_summary(client.id)
        t3 = ns()
        caller_priority(to_ratings(summary), policy)
        t4 = ns()
        for name, took in zip(_CALLER_PARTS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            parts.add(name, took)

    return op


# ---- 3. one call's life --------------------------------------------------------------------------------------


async def call(ctx: Context, section: Section) -> None:
    c = ctx.config
    for ratings in c.ratings_axis:
        world = await ctx.worlds.get(ratings=ratings)
        parts = Parts(*_LIFECYCLE)
        label = sizes(ratings=ratings, calls=ratings // 2)
        section.add("call lifecycle (5 write txns)", label, await measure(_call_op(world, parts), c.budget, parts))
        for name in _LIFECYCLE:
            section.add(f"  {name}", label, parts.stats(name))


_LIFECYCLE = ("start_call", "set_call_service", "call_queued", "call_answered", "call_ended")


def _call_op(world: World, parts: Parts) -> Op:
    store = world.store

    async def op(_: int) -> None:
        uniqueid = world.next_uniqueid("bench")
        client = world.rng.choice(world.clients)
        agent = world.rng.choice(world.agents)
        # as the inbound flow does it: the call starts before the caller has picked a service
        t0 = ns()
        await store.start_call(uniqueid, uniqueid, client, None, NOW)
        t1 = ns()
        await store.set_call_service(uniqueid, SERVICE)
        t2 = ns()
        await store.call_queued(uniqueid, naming.service_queue(SERVICE), NOW + timedelta(seconds=5))
        t3 = ns()
        await store.call_answered(uniqueid, agent, NOW + timedelta(seconds=20))
        t4 = ns()
        ended = await store.call_ended(uniqueid, "answered", NOW + timedelta(seconds=200))
        t5 = ns()
        assert ended is not None
        assert ended.talk_seconds == 180
        for name, took in zip(_LIFECYCLE, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            parts.add(name, took)

    return op


# ---- 4. recording an evaluation ------------------------------------------------------------------------------


async def evaluation(ctx: Context, section: Section) -> None:
    c = ctx.config
    for ratings in c.ratings_axis:
        world = await ctx.worlds.get(ratings=ratings)
        label = sizes(ratings=ratings)
        fresh = await add_answered_calls(world, c.budget.capacity)
        section.add("record_evaluation, new (4 scores)", label, await measure(_record_new_op(world, fresh), c.budget))
        section.add("record_evaluation, update existing", label, await measure(_record_update_op(world, c), c.budget))
    section.notes.append(
        "one transaction each: checks, score rows, running totals (+1 row per category, +1 overall), audit row."
    )


def _record_new_op(world: World, fresh: list[str]) -> Op:
    """Rate call ``fresh[index]`` (answered, not yet rated) as its caller would."""

    async def op(index: int) -> None:
        agent = world.rng.choice(world.agents)
        await world.store.record_evaluation(fresh[index], CLIENT_TO_AGENT, world.scores_for(agent), "ivr", NOW)

    return op


def _record_update_op(world: World, config: Config) -> Op:
    """Replace the scores of already rated calls, picked at random; every replacement differs from before."""
    order = world.rng.sample(range(len(world.rated)), min(len(world.rated), config.budget.capacity))
    current: dict[str, Scores] = {}

    async def op(index: int) -> None:
        uniqueid, seeded = world.rated[order[index % len(order)]]
        new = {category: value % 5 + 1 for category, value in current.get(uniqueid, seeded).items()}
        current[uniqueid] = new
        await world.store.record_evaluation(uniqueid, CLIENT_TO_AGENT, new, "ivr", NOW)

    return op


# ---- 5. concurrent writers -------------------------------------------------------------------------------------


async def concurrency(ctx: Context, section: Section) -> None:
    c = ctx.config
    world = await ctx.worlds.get()
    total = c.writer_ops
    for writers in c.writers_axis:
        fresh = await add_answered_calls(world, total + c.budget.warmup)
        record = _record_new_op(world, fresh)
        for index in range(total, total + c.budget.warmup):
            await record(index)
        samples: list[int] = []
        start = ns()
        async with asyncio.TaskGroup() as group:
            for first in range(writers):
                group.create_task(_writer(record, range(first, total, writers), samples))
        wall = ns() - start
        label = sizes(writers=writers, ratings=c.base_ratings)
        section.add("record_evaluation, N tasks at once", label, Stats.of(samples, wall_ns=wall))
    section.notes += [
        "ops/s here is total evaluations / wall time; mean..p95 is each call's latency including its wait for",
        "the store's lock (one connection, one transaction at a time), so latency grows with N, throughput not.",
    ]


async def _writer(record: Op, indices: range, samples: list[int]) -> None:
    for index in indices:
        await timed(record, index, samples)


# ---- 8. self-service: review lists, presence, PINs -------------------------------------------------------------


async def selfservice(ctx: Context, section: Section) -> None:
    c = ctx.config
    for ratings in c.ratings_axis:
        world = await ctx.worlds.get(ratings=ratings)
        label = sizes(ratings=ratings, calls=ratings // 2)
        section.add("caller's review list + first entry", label, await measure(_review_op(world, "client"), c.budget))
        section.add("agent's review list + first entry", label, await measure(_review_op(world, "agent"), c.budget))
    world = await ctx.worlds.get()
    section.add(
        "presence change (write txn)", sizes(agents=c.base_agents), await measure(_presence_op(world), c.budget)
    )
    stored = hash_client_pin("4321")
    section.add(
        "PIN check (PBKDF2 in a worker thread)",
        f"rounds={ROUNDS:,}",
        await measure(_pin_op(stored), c.budget.scaled(0.2)),
    )
    section.notes += [
        "a review list is served_calls(limit 20) on the party's calls index, then get_evaluation of the entry read",
        "out (plus get_client for an agent's list, to name the caller): flat in stored calls and ratings.",
        "a PIN check is CPU work in a thread: it costs the caller that time, not the other calls' IVRs.",
    ]


def _review_op(world: World, who: str) -> Op:
    store = world.store

    async def op(_: int) -> None:
        if who == "client":
            calls = await store.served_calls(client_id=world.rng.choice(world.clients), limit=20)
            direction: Direction = CLIENT_TO_AGENT
        else:
            calls = await store.served_calls(agent_id=world.rng.choice(world.agents), limit=20)
            direction = AGENT_TO_CLIENT
        if calls:
            await store.get_evaluation(calls[0].uniqueid, direction)
            if who == "agent" and calls[0].client_id is not None:
                await store.get_client(calls[0].client_id)

    return op


def _presence_op(world: World) -> Op:
    states: tuple[PresenceState, ...] = ("available", "paused", "logged_out")

    async def op(index: int) -> None:
        state = states[index % 3]
        agent = world.agents[index % len(world.agents)]
        reason = "lunch" if state == "paused" else None
        await world.store.set_presence(agent, state, reason, actor="bench", via="bench", now=NOW)
        await world.store.get_presence([agent])

    return op


def _pin_op(stored: str) -> Op:
    async def op(_: int) -> None:
        assert await asyncio.to_thread(check_client_pin, "4321", stored)

    return op


# ---- 7. invariant check ----------------------------------------------------------------------------------------


async def invariants(ctx: Context, section: Section) -> None:
    c = ctx.config
    for ratings in c.ratings_axis:
        world = await ctx.worlds.get(ratings=ratings)
        stats = await measure(_check_op(world.store), c.slow_budget)
        section.add("check_invariants (full recount)", sizes(ratings=ratings), stats)
    section.notes += [
        "a full recount of every evaluation: operator tooling (a CLI check, a nightly job), never the call path;",
        "it holds the store's only connection while it runs, so calls arriving meanwhile wait behind it.",
    ]


def _check_op(store: SqliteStore) -> Op:
    async def op(_: int) -> None:
        problems = await store.check_invariants()
        assert not problems, problems[:3]

    return op
