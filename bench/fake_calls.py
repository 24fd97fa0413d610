"""Whole calls against a FastAGI server, the benchmark playing Asterisk: the route sequence of one call as the
dialplan runs it (dialplan/cc-inbound.conf, cc-agent.conf), each route over its own FastAGI connection.

    inbound       the caller: identified, greeted, service menu (key 1), the agent offer, key of the best agent
    screen        the chosen agent's leg, before the bridge: the caller's reputation, key 1 accepts
    connected     Queue()'s AGI on the caller once the agent answers: the call is answered
    after-queue   the agent hung up (Queue option c): the caller rates the agent (a key per category)
    call-end      the caller's hangup handler: the call row closes

Asterisk's side answers every command as Asterisk 22 does (tests/unit/ivr/conftest.py's fake, made generic): a
Read() hears the keys this caller presses at that prompt, GET VARIABLE answers from the channel's variables (set
by the dialplan, or by an earlier route's SET VARIABLE), everything else succeeds at once. Prompts take no time:
what is measured is the backend's work between a key and the next prompt.

Each IVR step is timed from the moment the caller's key is delivered (the reply ending a menu's Read) or the
route connects, to the next menu's Read or the end of the route: what a caller would hear as the pause after a
key press, minus Asterisk's own part.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bench.fake_ami import FakeAMI
from callcenter.agi.protocol import header_block
from callcenter.domain import naming
from callcenter.ivr import speech

_READ = re.compile(r'^EXEC Read "?([^"\n]*)"?\s*$')
SESSION_DEADLINE = 900.0  # a whole route, however slow the backend: a hung benchmark is worse than a failed one

# the prompts that wait for a key, by the file that names them (ivr/speech.py)
MENUS = (
    ("cc/choose-service", "service menu"),
    ("cc/first-available", "agent menu"),
    ("cc/accept-decline", "screening prompt"),
    ("cc/please-rate", "rating prompt"),
    ("cc/unrated-call", "reminder"),
)


def menu_of(files: list[str]) -> str:
    for marker, name in MENUS:
        if marker in files:
            return name
    return "menu"


def keys_for(menu: str, files: list[str], max_digits: int) -> str:
    """What the scripted caller (or agent) presses at ``menu``: service 1, the best offered agent, accept, all 4s."""
    if menu == "service menu":
        return "1"
    if menu == "agent menu":
        offered = [key for key, _ in speech.menu_keys(files)]
        return offered[0] if offered else "0"
    if menu == "screening prompt":
        return "1"
    if menu == "rating prompt":
        return "4" * max_digits
    return ""  # anything else (the reminder of an unrated call): silence, the route's default


@dataclass
class RouteRun:
    """One route's FastAGI session as Asterisk saw it."""

    route: str
    lines: list[bytes] = field(default_factory=list)  # every command line received, in order
    sets: dict[str, str] = field(default_factory=dict)  # SET VARIABLE name -> value
    steps: list[tuple[str, int]] = field(default_factory=list)  # (step name, ns)


def _parse_read(line: str) -> tuple[list[str], int, float] | None:
    """Read(var,files,max,options,attempts,timeout) -> files, max digits, timeout."""
    found = _READ.match(line)
    if found is None:
        return None
    parts = found.group(1).split(",")
    if len(parts) < 6:
        return None
    return parts[1].split("&"), int(parts[2] or "1"), float(parts[5] or "0")


async def run_route(
    port: int, route: str, *, uniqueid: str, callerid: str, variables: Mapping[str, str], query: str = ""
) -> RouteRun:
    """One FastAGI session of ``route``, answered as Asterisk would, with each IVR step timed."""
    run = RouteRun(route)
    mark = time.perf_counter_ns()
    since = "connect"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    channel = dict(variables)
    heard = ""
    try:
        writer.write(
            header_block(
                route,
                query=query,
                uniqueid=uniqueid,
                channel=f"Local/800@cc-inbound-{uniqueid};2",
                callerid=callerid,
                port=port,
            )
        )
        async with asyncio.timeout(SESSION_DEADLINE):
            while raw := await reader.readline():
                run.lines.append(raw)
                line = raw.decode(errors="replace").rstrip("\n")
                read = _parse_read(line) if line.startswith("EXEC Read") else None
                if read is not None:
                    files, max_digits, timeout = read
                    if timeout > 0.1:  # a menu (a say() is a Read with 0.1 s, nobody waits on it)
                        menu = menu_of(files)
                        now = time.perf_counter_ns()
                        run.steps.append((f"{route}: {since} -> {menu}", now - mark))
                        heard = keys_for(menu, files, max_digits)
                        since = f"{menu} key"
                        reply = "200 result=0\n"
                        writer.write(reply.encode())
                        # the key is delivered with this reply: the next step starts now
                        mark = time.perf_counter_ns()
                        continue
                    heard = ""
                    reply = "200 result=0\n"
                elif line.startswith("GET VARIABLE"):
                    name = line.split(maxsplit=2)[2].strip().strip('"')
                    if name == "READSTATUS":
                        reply = f"200 result=1 ({'OK' if heard else 'TIMEOUT'})\n"
                    elif name == naming.DIGITS:
                        reply = f"200 result=1 ({heard})\n" if heard else "200 result=0\n"
                        heard = ""
                    elif name in channel and channel[name] != "":
                        reply = f"200 result=1 ({channel[name]})\n"
                    else:
                        reply = "200 result=0\n"
                elif line.startswith("SET VARIABLE"):
                    words = line.split(maxsplit=3)
                    name = words[2].strip('"')
                    value = words[3].strip('"') if len(words) > 3 else ""
                    channel[name] = value
                    run.sets[name] = value
                    reply = "200 result=1\n"
                elif line.startswith("STREAM FILE"):
                    reply = "200 result=0 endpos=8000\n"
                elif line.startswith("EXEC"):
                    reply = "200 result=0\n"
                else:
                    reply = "200 result=1\n"
                writer.write(reply.encode())
        run.steps.append((f"{route}: {since} -> end", time.perf_counter_ns() - mark))
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return run


@dataclass
class CallResult:
    runs: list[RouteRun]
    queued: bool  # the inbound route sent the caller to a queue (CC_RESULT=QUEUE)
    rated: bool  # the caller's rating was read back
    error: str = ""


async def one_call(
    port: int, call: int, number: str, fallback_agent: str, ami: FakeAMI | None, run_id: str
) -> CallResult:
    """One caller's whole call, route after route, as the dialplan would run them."""
    uniqueid = f"{run_id}.{call}"
    runs: list[RouteRun] = []
    base = {"CHANNEL(linkedid)": uniqueid}
    inbound = await run_route(port, naming.ROUTE_INBOUND, uniqueid=uniqueid, callerid=number, variables=base)
    runs.append(inbound)
    queued = inbound.sets.get(naming.RESULT) == naming.RESULT_QUEUE
    rated = False
    if queued:
        chosen = inbound.sets.get(naming.CHOSEN, "")
        agent = chosen or fallback_agent
        leg = {naming.CALL: uniqueid, naming.AGENT: agent, naming.WAITING_IN: inbound.sets.get(naming.QUEUE, "")}
        runs.append(
            await run_route(port, naming.ROUTE_SCREEN, uniqueid=f"{uniqueid}-a", callerid=number, variables=leg)
        )
        runs.append(
            await run_route(
                port, naming.ROUTE_CONNECTED, uniqueid=uniqueid, callerid=number, variables={"MEMBERNAME": agent}
            )
        )
        if ami is not None:
            # what Asterisk says when the bridge is made: the caller left the queue, the agent is on a call
            queue = inbound.sets.get(naming.QUEUE, naming.agent_queue(agent))
            ami.emit({"Event": "QueueCallerLeave", "Queue": queue, "Uniqueid": uniqueid, "Channel": "bench"})
        after = await run_route(
            port,
            naming.ROUTE_AFTER_QUEUE,
            uniqueid=uniqueid,
            callerid=number,
            variables={naming.CHOSEN: chosen, "MEMBERNAME": agent},
            query="status=CONTINUE",
        )
        runs.append(after)
        rated = any(b"please-rate" in line for line in after.lines)
    runs.append(
        await run_route(
            port, naming.ROUTE_CALL_END, uniqueid=uniqueid, callerid=number, variables={naming.LAST_OUTCOME: ""}
        )
    )
    return CallResult(runs, queued, rated)


@dataclass
class Batch:
    """``calls`` whole calls, ``concurrency`` at a time: their per-step samples and wall time."""

    samples: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    calls: int = 0
    queued: int = 0
    rated: int = 0
    wall_ns: int = 0
    errors: list[str] = field(default_factory=list)
    first: CallResult | None = None


async def run_batch(
    port: int,
    *,
    calls: int,
    concurrency: int,
    number_of: Callable[[int], str],
    fallback_agent: str,
    ami: FakeAMI | None,
    run_id: str,
    first_call: int = 0,
) -> Batch:
    batch = Batch()
    todo: asyncio.Queue[int] = asyncio.Queue()
    for i in range(first_call, first_call + calls):
        todo.put_nowait(i)

    async def caller() -> None:
        while not todo.empty():
            i = todo.get_nowait()
            try:
                result = await one_call(port, i, number_of(i), fallback_agent, ami, run_id)
            except (OSError, TimeoutError, ValueError) as exc:
                batch.errors.append(f"call {i}: {exc!r}")
                continue
            batch.calls += 1
            batch.queued += result.queued
            batch.rated += result.rated
            if batch.first is None:
                batch.first = result
            for run in result.runs:
                for step, took in run.steps:
                    batch.samples[step].append(took)

    start = time.perf_counter_ns()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(caller())
    batch.wall_ns = time.perf_counter_ns() - start
    return batch
