"""``python -m bench.offer_sessions``: the agent-offer step as a caller meets it, at a roster's size.

The inbound route's ``choose`` (the agent menu: its page built, read out, the caller pressing 0) runs over a real
FastAGI session (a socket pair, a fake Asterisk answering each command as Asterisk would), on a seeded store;
beside it the floor: a bare route sending the very same AGI commands with nothing behind them. One session at a
time, then ``--sessions`` at once; the ratio of the two is what the offer adds. The seeded store is kept in
``--cache`` between runs (seeding a million evaluations takes minutes).

    python -m bench.offer_sessions --agents 10000 --ratings 1000000 --sessions 200
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import resource
import shlex
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from bench.__main__ import quiet_production_logging
from bench.seed import CATEGORY_IDS, SERVICE, T0, add_ratings, open_world, verify
from callcenter.agi import AGISession, build_env, parse_header_line
from callcenter.agi.protocol import header_block
from callcenter.config import SelfServiceConfig
from callcenter.domain import naming
from callcenter.domain.agents import AgentSpec
from callcenter.domain.policy import Policy
from callcenter.domain.rules import RatingRules
from callcenter.domain.summaries import Scoring
from callcenter.domain.waits import AgentLoad
from callcenter.ivr import inbound as inbound_module
from callcenter.ivr.ask import Asking
from callcenter.ivr.caller_ratings import CallerRatings
from callcenter.ivr.pin_entry import PinEntry
from callcenter.ivr.rating import RatingDialogue
from callcenter.ivr.review import Review
from callcenter.journal import Recorder
from callcenter.store import SqliteStore
from callcenter.usecases.ratings import Ratings

FREE = AgentLoad(True, 0, 0.0)
# every agent free but one in ten busy with a caller waiting: both lists are there (7 is offered)
BUSY = AgentLoad(False, 1, 300.0)


class Queues:
    """Every agent's load from a table (QueueSync's part, without Asterisk)."""

    def __init__(self, agents: Sequence[str]) -> None:
        self.loads = {a: BUSY if i % 10 == 9 else FREE for i, a in enumerate(agents)}

    def load(self, agent_id: str) -> AgentLoad | None:
        return self.loads.get(agent_id)

    def take(self, agent_id: str, caller: str) -> None: ...

    def refresh(self) -> None: ...


class NoPush:
    async def agent_rated(self, agent_id: str) -> None: ...


async def world(cache: Path, agents: int, ratings: int) -> SqliteStore:
    cache.mkdir(parents=True, exist_ok=True)
    name = f"offer-{agents}a-{ratings}r"
    path = cache / f"{name}.db"
    if not path.exists():
        started = time.perf_counter()
        seeded = await open_world(cache, name + ".tmp", agents=agents, clients=1_000)
        try:
            await add_ratings(seeded, ratings)
            await verify(seeded)
        finally:
            await seeded.close()
        (cache / f"{name}.tmp.db").rename(path)
        print(f"seeded {path} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return await SqliteStore.open(path)


async def offer_route(store: SqliteStore) -> Callable[[AGISession], Awaitable[Any]]:
    """The inbound route's agent menu, wired as the app wires it (the kept ranking where this version has one)."""
    asking = Asking(timeout=6.0, attempts=3, reprompt_timeout=3.0)
    rules = RatingRules()
    scoring = Scoring(CATEGORY_IDS, Policy())
    agents = await store.list_agents(SERVICE)
    queues = Queues([a.id for a in agents])
    clock = lambda: T0  # noqa: E731
    dialogue = RatingDialogue(Ratings(store, Recorder(store, None), NoPush(), rules, clock), asking, CATEGORY_IDS)
    review = Review(
        evaluations=store, dialogue=dialogue, asking=asking, selfservice=SelfServiceConfig(), rules=rules, clock=clock
    )
    parts: dict[str, Any] = {
        "store": store,
        "writes": Recorder(store, None),
        "queues": queues,
        "menus": inbound_module.Menus((SERVICE,), 3, 14),
        "scoring": scoring,
        "asking": asking,
        "dialogue": dialogue,
        "caller_ratings": CallerRatings(
            store=store,
            pins=PinEntry(store, asking, SelfServiceConfig(), clock),
            review=review,
            asking=asking,
            selfservice=SelfServiceConfig(),
            clock=clock,
        ),
        "rules": rules,
        "clock": clock,
    }
    if "ranking" in inspect.signature(inbound_module.InboundFlow).parameters:
        from callcenter.usecases.rankings import Rankings  # noqa: PLC0415 - absent before the kept ranking

        specs = [AgentSpec(a.id, a.name, a.services, "dial", a.interface, None) for a in agents]
        rankings = Rankings(store, scoring, specs, clock=clock)
        started = time.perf_counter()
        await rankings.load()
        for agent_id, load in queues.loads.items():
            rankings.load_changed(agent_id, load)
        print(f"kept ranking built in {(time.perf_counter() - started) * 1e3:.0f} ms (once, at start)")
        parts["ranking"] = rankings
    flow = inbound_module.InboundFlow(**parts)
    return lambda session: flow.choose(session, SERVICE, set())


def floor_route(commands: Sequence[bytes]) -> Callable[[AGISession], Awaitable[Any]]:
    """The same AGI commands as the offer sent, with nothing computed: what any route pays for them."""
    lines = [shlex.split(line.decode()) for line in commands]

    async def route(session: AGISession) -> None:
        for words in lines:
            await session.command(*words)

    return route


async def asterisk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, heard: list[bytes]) -> None:
    """Asterisk's side: each Read hears nothing, then the caller's 0 is the digits variable."""
    while line := await reader.readline():
        heard.append(line)
        if line.startswith(f"GET VARIABLE {naming.DIGITS}".encode()):
            reply = b"200 result=1 (0)\n"
        elif line.startswith(b"GET VARIABLE"):
            reply = b"200 result=0\n"
        elif line.startswith(b"STREAM FILE"):
            reply = b"200 result=0 endpos=8000\n"
        else:
            reply = b"200 result=0\n"
        writer.write(reply)
        await writer.drain()
    writer.close()


async def session_once(route: Callable[[AGISession], Awaitable[Any]], index: int) -> tuple[float, list[bytes]]:
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    their_reader, their_writer = await asyncio.open_connection(sock=theirs)
    heard: list[bytes] = []
    answering = asyncio.create_task(asterisk(their_reader, their_writer, heard))
    block = header_block("inbound", uniqueid=f"bench.{index}")
    env = build_env(dict(parse_header_line(line) for line in block.split(b"\n") if line))
    session = AGISession(reader, writer, env, command_timeout=600.0, max_line=8192)
    started = time.perf_counter()
    await route(session)
    took = time.perf_counter() - started
    writer.close()
    await answering
    return took, heard


async def timings(route: Callable[[AGISession], Awaitable[Any]], *, single: int, at_once: int) -> dict[str, float]:
    alone = [(await session_once(route, i))[0] for i in range(single)]
    started = time.perf_counter()
    together = [t for t, _ in await asyncio.gather(*(session_once(route, i) for i in range(at_once)))]
    wall = time.perf_counter() - started
    q = statistics.quantiles(together, n=100) if len(together) > 1 else [together[0]] * 99
    return {
        "one p50": statistics.median(alone),
        "at once p50": statistics.median(together),
        "at once p99": q[98],
        "wall": wall,
    }


async def main(args: argparse.Namespace) -> None:
    quiet_production_logging()
    store = await world(args.cache, args.agents, args.ratings)
    try:
        offer = await offer_route(store)
        _, commands = await session_once(offer, 0)  # warm, and the commands the floor repeats
        floor = floor_route(commands)
        for name, route in (("floor", floor), ("offer", offer), ("floor", floor)):
            t = await timings(route, single=args.single, at_once=args.sessions)
            print(
                f"{name:5}  agents={args.agents} ratings={args.ratings} commands={len(commands)}: "
                f"one at a time p50 {t['one p50'] * 1e3:8.2f} ms   {args.sessions} at once "
                f"p50 {t['at once p50'] * 1e3:9.1f} ms  p99 {t['at once p99'] * 1e3:9.1f} ms  (wall {t['wall']:.2f} s)"
            )
        # the whole benchmark process: the store's cache, the kept ranking, the fake Asterisk and the sessions
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    finally:
        await store.close()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.offer_sessions", description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=200, help="sessions at once")
    parser.add_argument("--single", type=int, default=30, help="sessions one at a time")
    parser.add_argument("--cache", type=Path, default=Path("/var/tmp/callcenter-bench-offer"))
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
