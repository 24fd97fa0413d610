"""``python -m bench.load`` (``make bench-load``): callers through the real Asterisk 22 and the service, under load.

N scripted agents (the demo's three support agents plus generated ones, in four rating tiers) talk for a
configurable time; M scripted callers arrive over T seconds (a Poisson process given its count), choose service 1,
then by a mix of "first available" (0), the best-rated agent (1) or a random offered agent, wait, talk and rate
(or hang up at the rating prompt). Printed: service level (connected within 20 s of joining a queue), hold
p50/p95/max, abandons, calls per agent, agent occupancy, agents never rung (AMI and queue_log), agent-seconds
left idle while callers waited in the shared queue, the service's and Asterisk's CPU, the load average, the
Erlang-C wait for the same arrival rate, handle time and agent count beside the measured one, and the spoken
length of the first agent-menu page.

A benchmark, not a test: it asserts nothing. This machine has 2 cores and other runs may share it: the load
average is printed with the figures.

    python -m bench.load                                  100 callers / 63 agents over 10 s, all first available
    python -m bench.load --callers 200 --agents 100 --over 20
    python -m bench.load --over 100 --talk 50 --exp       a steady load for the Erlang-C comparison
    python -m bench.load --mix first=0.5,best=0.3,random=0.2
    python -m bench.load --conf-from d51e583              Asterisk config (asterisk-conf/, dialplan/) of a commit
    python -m bench.load --quick                          15 agents, 20 callers together, 5 s talk
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.__main__ import quiet_production_logging
from bench.load_world import (
    PROJECT,
    ROOT,
    SERVICE_QUEUE,
    CallerRecord,
    CallerScript,
    LoadDriver,
    Timed,
    World,
    arrivals_over,
    boot_world,
    choices_by_mix,
    place_callers,
    queue_log_agents,
    talk_times,
)
from bench.processes import stop_process
from callcenter.asterisk.sounds import SoundLengths
from callcenter.ivr.ask import Asking
from callcenter.ivr.lengths import silent_path

SERVICE_LEVEL_SECONDS = 20.0
# app_queue rechecks a caller who is not yet due once a second: an agent free this long while a caller waits is
# app_queue's rhythm, not a distribution fault
IDLE_SLACK = 1.5


# -- parameters ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    agents: int = 63
    callers: int = 100
    over: float = 10.0
    talk: float = 30.0
    exp: bool = False  # talk times exponential (mean ``talk``) rather than all equal
    mix: Mapping[str, float] = field(default_factory=lambda: {"first": 1.0})
    rate_share: float = 0.5  # callers who rate the agent afterwards
    patience: float = 300.0
    seed: int = 1
    ring_timeout: int = 20

    def describe(self) -> str:
        mix = ",".join(f"{k}={v:g}" for k, v in self.mix.items())
        talk = f"exponential, mean {self.talk:g} s" if self.exp else f"{self.talk:g} s each"
        return (
            f"{self.callers} callers over {self.over:g} s, {self.agents} scripted support agents, talk {talk}, "
            f"mix {mix}, {self.rate_share:.0%} rate afterwards, patience {self.patience:g} s, seed {self.seed}"
        )


def parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        mix[name.strip()] = float(weight or 1)
    return mix


# -- measuring CPU ---------------------------------------------------------------------------------------------


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of process ``pid`` (all its threads), from /proc."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuWatch:
    pids: dict[str, int | None]
    started: dict[str, float | None] = field(default_factory=dict)
    wall: float = 0.0
    loads: list[tuple[float, float, float]] = field(default_factory=list)

    def begin(self) -> None:
        self.started = {k: cpu_seconds(p) for k, p in self.pids.items()}
        self.wall = time.monotonic()
        self.loads.append(os.getloadavg())

    def sample_load(self) -> None:
        self.loads.append(os.getloadavg())

    def end(self) -> dict[str, tuple[float, float]]:
        """Per process: CPU seconds used and the share of one core over the window."""
        wall = max(1e-9, time.monotonic() - self.wall)
        self.loads.append(os.getloadavg())
        out = {}
        for k, pid in self.pids.items():
            now, then = cpu_seconds(pid), self.started.get(k)
            if now is not None and then is not None:
                out[k] = (now - then, (now - then) / wall)
        return out


# -- the service as a process of its own (its CPU is then its own) ----------------------------------------------


@contextlib.asynccontextmanager
async def service_process(world: World, log_path: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {**os.environ, **world.env, "CALLCENTER_LOG_FORMAT": "json"}
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "callcenter.cli",
            "--config",
            str(PROJECT / "callcenter/demo/callcenter.toml"),
            "serve",
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while b'"callcenter_started"' not in log_path.read_bytes():
                if proc.returncode is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"the service did not start (exit {proc.returncode}):\n{tail}")
                # the service logs to a file we poll: no event to await across processes but the file itself
                await asyncio.sleep(0.2)
            yield proc
        finally:
            await stop_process(proc)


# -- the figures -----------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def erlang_c(agents: int, load: float) -> float:
    """Probability that an arriving caller waits (M/M/c), offered load ``load`` Erlangs; 1 when overloaded."""
    if load <= 0:
        return 0.0
    if load >= agents:
        return 1.0
    b = 1.0  # Erlang B by recursion, then Erlang C from it
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return agents * b / (agents - load * (1 - b))


def erlang_c_wait(agents: int, rate: float, handle: float) -> float:
    """Mean wait in queue (s) of M/M/c with arrival ``rate``/s and mean ``handle`` s: inf when overloaded."""
    load = rate * handle
    if load >= agents:
        return math.inf
    return erlang_c(agents, load) * handle / (agents - load)


def ideal_fifo_wait(arrivals: Sequence[float], handles: Sequence[float], agents: int) -> float:
    """Mean wait if the same callers (arrival, handle time) met an ideal distributor: any free agent takes the
    longest-waiting caller at once."""
    free = [0.0] * agents
    heapq.heapify(free)
    waits = []
    for arrive, handle in sorted(zip(arrivals, handles, strict=True)):
        at = heapq.heappop(free)
        start = max(at, arrive)
        waits.append(start - arrive)
        heapq.heappush(free, start + handle)
    return statistics.fmean(waits) if waits else 0.0


@dataclass
class Attempt:
    member: str
    caller: str
    queue: str
    start: float
    end: float | None = None
    connected: bool = False


def attempts_of(timeline: Sequence[Timed], horizon: float) -> list[Attempt]:
    """Every ring of an agent (AgentCalled) to its end: no answer, or the end of the call it connected.

    app_queue says QueueCallerLeave just before AgentConnect when a ring is answered, so a leave does not end a
    ring; a ring still open at the end (a caller withdrawn or timed out mid-ring) ends at the caller's last leave.
    """
    open_: dict[tuple[str, str], Attempt] = {}
    done: list[Attempt] = []
    left: dict[str, float] = {}
    for t in timeline:
        name, caller, member = t.get("Event"), t.get("Uniqueid"), t.get("MemberName")
        if name == "AgentCalled":
            open_[(caller, member)] = Attempt(member, caller, t.get("Queue"), t.at)
        elif name == "AgentConnect" and (caller, member) in open_:
            open_[(caller, member)].connected = True
        elif name in {"AgentRingNoAnswer", "AgentComplete", "AgentDump"} and (caller, member) in open_:
            attempt = open_.pop((caller, member))
            attempt.end = t.at
            done.append(attempt)
        elif name == "QueueCallerAbandon":
            for key in [k for k, a in open_.items() if k[0] == caller and not a.connected]:
                attempt = open_.pop(key)
                attempt.end = t.at
                done.append(attempt)
        elif name == "QueueCallerLeave":
            left[caller] = t.at
    for attempt in open_.values():
        attempt.end = horizon if attempt.connected else max(attempt.start, left.get(attempt.caller, horizon))
        done.append(attempt)
    return done


def _merged(spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


@dataclass(frozen=True, slots=True)
class Idle:
    agent_seconds: float  # summed over agents: free while a caller sat unrung in the queue
    longest: float  # the longest one agent stayed free while some caller waited so (s)
    by_agent: dict[str, float]  # that longest, per agent


def idle_while_waiting(
    timeline: Sequence[Timed], attempts: Sequence[Attempt], agents: Sequence[str], queue: str
) -> Idle:
    """How long agents were free while a caller sat in ``queue`` with nobody ringing for them.

    An agent is busy from each AgentCalled to the end of that ring or of the call it connected; a caller waits
    unrung from joining to the first ring, and again from a ring that failed to the next.
    """
    wanted = set(agents)
    busy: dict[str, list[tuple[float, float]]] = {a: [] for a in agents}
    for a in attempts:
        if a.member in wanted and a.end is not None:
            busy[a.member].append((a.start, a.end))
    points: list[tuple[float, int, int]] = []  # (at, change in busy agents, change in callers waiting unrung)
    for agent in agents:
        busy[agent] = _merged(busy[agent])
        points += [p for s, e in busy[agent] for p in ((s, 1, 0), (e, -1, 0))]
    ringing: dict[str, int] = defaultdict(int)
    inside: set[str] = set()
    for t in timeline:
        if t.get("Queue") != queue:
            continue
        name, caller = t.get("Event"), t.get("Uniqueid")
        was = caller in inside and ringing[caller] == 0
        if name == "QueueCallerJoin":
            inside.add(caller)
        elif name in {"QueueCallerLeave", "QueueCallerAbandon"}:
            inside.discard(caller)
        elif name == "AgentCalled":
            ringing[caller] += 1
        elif name in {"AgentRingNoAnswer", "AgentConnect", "AgentDump"}:
            ringing[caller] = max(0, ringing[caller] - 1)
        now = caller in inside and ringing[caller] == 0
        if now != was:
            points.append((t.at, 0, 1 if now else -1))
    if not points:
        return Idle(0.0, 0.0, dict.fromkeys(agents, 0.0))
    points.sort()
    n_busy = waiting = 0
    idle = 0.0
    someone_waits: list[tuple[float, float]] = []
    last = points[0][0]
    for at, d_busy, d_wait in points:
        idle += min(max(len(agents) - n_busy, 0), waiting) * (at - last)
        if waiting > 0 and at > last:
            someone_waits.append((last, at))
        n_busy += d_busy
        waiting += d_wait
        last = at
    waits = _merged(someone_waits)
    first, end = points[0][0], points[-1][0]
    by_agent = {}
    for agent, spans in busy.items():
        edges = [first, *(x for span in spans for x in span), end]
        longest = 0.0
        for free_from, free_to in zip(edges[::2], edges[1::2], strict=True):
            for w_from, w_to in waits:
                longest = max(longest, min(free_to, w_to) - max(free_from, w_from))
        by_agent[agent] = longest
    return Idle(idle, max(by_agent.values(), default=0.0), by_agent)


@dataclass
class Figures:
    scenario: str
    agents: int
    calls: int
    connected: int
    abandoned: int
    errors: int
    service_level: float | None
    hold_mean: float | None
    hold_p50: float | None
    hold_p95: float | None
    hold_max: float | None
    # from pressing the agent-menu key to an agent: includes choosing again after a chosen agent was taken
    choice_mean: float | None
    choice_p95: float | None
    choice_max: float | None
    wait_mean: float | None  # join -> the ring that connected (Erlang C's "wait")
    first_ring_p50: float | None  # shared queue: join -> first AgentCalled
    first_ring_p95: float | None
    first_ring_max: float | None
    handle_mean: float | None  # the connecting ring's start -> the end of the call (ring + screening + talk)
    calls_per_agent: tuple[int, int, int]  # min / median / max
    occupancy: float | None
    never_rung: list[str]
    never_rung_while_waited: list[str]  # of those, free for longer than IDLE_SLACK while a caller waited unrung
    rung_queue_log: int
    idle_agent_seconds: float
    idle_longest: float
    max_concurrent_talking: int
    max_ringing: int  # most rings (AgentCalled not yet answered or over) in the shared queue at one moment
    favourite_queue_max: int  # most callers that joined one agent's own queue
    erlang_load: float | None
    erlang_wait: float | None
    ideal_wait: float | None
    ratio: float | None  # measured mean wait / Erlang-C wait
    cpu: dict[str, tuple[float, float]]
    loadavg: list[tuple[float, float, float]]
    menu_seconds: float | None
    menu_to_first_available: float | None
    menu_files: int
    silent_to_queue: float | None  # a caller who never presses a key: from the welcome to Queue()
    window: float


def analyse(
    scenario: Scenario,
    world: World,
    records: Sequence[CallerRecord],
    timeline: Sequence[Timed],
    cpu: dict[str, tuple[float, float]],
    loads: list[tuple[float, float, float]],
    since: float,
    sounds: SoundLengths,
) -> Figures:
    holds = [r.hold for r in records if r.hold is not None]
    choice = [r.connect[0] - r.pressed_at for r in records if r.connect is not None and r.pressed_at is not None]
    connected = [r for r in records if r.connect is not None]
    joined = [r for r in records if r.first_join is not None]
    within = [r for r in joined if r.hold is not None and r.hold <= SERVICE_LEVEL_SECONDS]
    timeline = [t for t in timeline if t.at >= since]
    horizon = max([t.at for t in timeline] + [time.time()])
    attempts = attempts_of(timeline, horizon)
    connecting = {(a.caller, a.member): a for a in attempts if a.connected}
    connect_at = {(t.get("Uniqueid"), t.get("MemberName")): t.at for t in timeline if t.get("Event") == "AgentConnect"}
    waits, handles, arrivals = [], [], []
    for r in connected:
        assert r.connect is not None
        assert r.first_join is not None
        a = connecting.get((r.uniqueid, r.connect[1]))
        if a is not None and a.end is not None:
            waits.append(a.start - r.first_join)
            handles.append(a.end - a.start)
            arrivals.append(r.first_join)
    first_rings = []
    for r in records:
        shared = [j for j, q in r.joins if q == SERVICE_QUEUE]
        rings = [at for at, _, q in r.called if q == SERVICE_QUEUE]
        if shared and rings:
            first_rings.append(min(rings) - shared[0])
    support = set(world.support)
    per_agent = dict.fromkeys(world.support, 0)
    for r in connected:
        assert r.connect is not None
        if r.connect[1] in per_agent:
            per_agent[r.connect[1]] += 1
    qlog = queue_log_agents(world.layout.queue_log)
    rung_qlog = {
        agent
        for agent, events in qlog.items()
        if agent in support and any(events.get(e) for e in ("CONNECT", "RINGNOANSWER", "RINGCANCELED"))
    }
    starts = [r.first_join for r in joined if r.first_join is not None]
    window_start = min(starts) if starts else since
    window = max(1e-9, horizon - window_start)
    busy = sum((a.end or horizon) - a.start for a in attempts if a.member in support)
    idle = idle_while_waiting(timeline, attempts, world.support, SERVICE_QUEUE)
    never_rung = sorted(support - {a.member for a in attempts}, key=int)
    talking = []
    for a in attempts:
        if a.connected and a.end is not None:
            talking += [(connect_at.get((a.caller, a.member), a.start), 1), (a.end, -1)]
    concurrent = peak = 0
    for _, d in sorted(talking):
        concurrent += d
        peak = max(peak, concurrent)
    ringing_points = []
    for a in attempts:
        if a.queue == SERVICE_QUEUE:
            rang_until = a.end if not a.connected else connect_at.get((a.caller, a.member), a.end)
            ringing_points += [(a.start, 1), (rang_until or horizon, -1)]
    ringing = max_ringing = 0
    for _, d in sorted(ringing_points):
        ringing += d
        max_ringing = max(max_ringing, ringing)
    own_queue_joins: dict[str, int] = defaultdict(int)
    for r in records:
        for _, q in r.joins:
            if q.startswith("agent-"):
                own_queue_joins[q] += 1
    counts = sorted(per_agent.values())
    handle = statistics.fmean(handles) if handles else None
    rate = scenario.callers / scenario.over if scenario.over > 0 else math.inf
    load = rate * handle if handle is not None else None
    ec = erlang_c_wait(len(world.support), rate, handle) if handle is not None else None
    wait_mean = statistics.fmean(waits) if waits else None
    menu = next((r.menu for r in records if r.menu), [])
    journey = world.config.journey
    # the path a caller who presses nothing takes to the shared queue, as the service's own measure computes it
    # (ivr/lengths.py: each menu's first pass and wait, then its short re-prompt and wait), from the menus heard
    asking = Asking(journey.input_timeout, journey.attempts, journey.reprompt_timeout)
    services = [s.id for s in world.config.services]
    silent = silent_path(services, menu, asking, sounds).total if menu else None
    upto = menu[: menu.index("cc/first-available") + 1] if "cc/first-available" in menu else menu
    return Figures(
        scenario=scenario.describe(),
        agents=len(world.support),
        calls=len(records),
        connected=len(connected),
        abandoned=sum(r.abandoned and r.connect is None for r in records),
        errors=sum(bool(r.error) for r in records),
        service_level=len(within) / len(joined) if joined else None,
        hold_mean=statistics.fmean(holds) if holds else None,
        hold_p50=percentile(holds, 0.5),
        hold_p95=percentile(holds, 0.95),
        hold_max=max(holds) if holds else None,
        choice_mean=statistics.fmean(choice) if choice else None,
        choice_p95=percentile(choice, 0.95),
        choice_max=max(choice) if choice else None,
        wait_mean=wait_mean,
        first_ring_p50=percentile(first_rings, 0.5),
        first_ring_p95=percentile(first_rings, 0.95),
        first_ring_max=max(first_rings) if first_rings else None,
        handle_mean=handle,
        calls_per_agent=(counts[0], int(statistics.median(counts)), counts[-1]) if counts else (0, 0, 0),
        occupancy=busy / (len(support) * window),
        never_rung=never_rung,
        never_rung_while_waited=[a for a in never_rung if idle.by_agent.get(a, 0.0) > IDLE_SLACK],
        rung_queue_log=len(rung_qlog),
        idle_agent_seconds=idle.agent_seconds,
        idle_longest=idle.longest,
        max_concurrent_talking=peak,
        max_ringing=max_ringing,
        favourite_queue_max=max(own_queue_joins.values(), default=0),
        erlang_load=load,
        erlang_wait=ec,
        ideal_wait=ideal_fifo_wait(arrivals, handles, len(world.support)) if handles else None,
        # a ratio of two waits of a few milliseconds says nothing
        ratio=(wait_mean / ec) if wait_mean is not None and ec is not None and 0.05 <= ec < math.inf else None,
        cpu=cpu,
        loadavg=loads,
        menu_seconds=sounds.seconds(menu) if menu else None,
        menu_to_first_available=sounds.seconds(upto) if menu else None,
        menu_files=len(menu),
        silent_to_queue=silent,
        window=window,
    )


def fmt(value: float | None, unit: str = " s", digits: int = 1) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value:.{digits}f}{unit}"


def report(f: Figures, scenario: Scenario, conf: str) -> str:
    agents = f.agents
    lines = [
        f"== load: {f.scenario}",
        f"   Asterisk config: {conf}",
        f"   load average (1/5/15 min) at start {_load(f.loadavg[0])}, at end {_load(f.loadavg[-1])}, "
        f"highest 1-min during the run {max(x[0] for x in f.loadavg):.2f} ({os.cpu_count()} cores)",
        f"calls                 {f.calls}: {f.connected} connected, {f.abandoned} abandoned, {f.errors} errors",
        f"service level         {fmt(f.service_level and f.service_level * 100, ' %', 0)} connected within "
        f"{SERVICE_LEVEL_SECONDS:g} s of joining a queue",
        f"hold (join->connect)  mean {fmt(f.hold_mean)}, p50 {fmt(f.hold_p50)}, p95 {fmt(f.hold_p95)}, "
        f"max {fmt(f.hold_max)}",
        f"choice->connect       mean {fmt(f.choice_mean)}, p95 {fmt(f.choice_p95)}, max {fmt(f.choice_max)} from "
        "pressing the agent-menu key to an agent (choosing again included)",
        f"first ring (shared)   p50 {fmt(f.first_ring_p50)}, p95 {fmt(f.first_ring_p95)}, "
        f"max {fmt(f.first_ring_max)} from joining {SERVICE_QUEUE} to its first AgentCalled",
        f"calls per agent       min {f.calls_per_agent[0]}, median {f.calls_per_agent[1]}, "
        f"max {f.calls_per_agent[2]} (of {agents} agents); at most {f.max_concurrent_talking} connected and "
        f"{f.max_ringing} ringing or screening (shared queue) at once",
        f"occupancy             {fmt(f.occupancy and f.occupancy * 100, ' %', 0)} (ringing + screening + talking, "
        f"over {f.window:.0f} s from the first join to the last event)",
        f"agents never rung     {len(f.never_rung)} of {agents}"
        + (f": {_ids(f.never_rung)}" if f.never_rung else "")
        + f"; queue_log shows {f.rung_queue_log} of {agents} rung"
        + (
            f"; of them {len(f.never_rung_while_waited)} free > {IDLE_SLACK:g} s while a caller waited"
            if f.never_rung
            else ""
        ),
        f"idle while waiting    {f.idle_agent_seconds:.1f} agent-seconds an agent was free while a caller sat in "
        f"{SERVICE_QUEUE} unrung; the longest one agent stayed free while a caller waited: {f.idle_longest:.1f} s",
        f"favourite's queue     at most {f.favourite_queue_max} callers joined one agent's own queue",
        f"Erlang C (M/M/c)      {agents} agents, {_rate(scenario)} calls/s, handle "
        f"{fmt(f.handle_mean)} (ring + screening + talk): A = {fmt(f.erlang_load, ' Erl', 1)}, "
        + (
            f"expected wait {fmt(f.erlang_wait, ' s', 2)}"
            if f.erlang_wait is not None and not math.isinf(f.erlang_wait)
            else "no steady state (A >= agents: the queue grows while the arrivals last)"
        ),
        f"                      measured wait (join -> the ring that connected) {fmt(f.wait_mean, ' s', 2)}"
        + (f", ratio {f.ratio:.2f}" if f.ratio is not None else "")
        + f"; ideal FIFO distributor on the same arrivals and handle times {fmt(f.ideal_wait, ' s', 2)}"
        + (
            f" (measured - ideal = {f.wait_mean - f.ideal_wait:+.2f} s)"
            if f.wait_mean is not None and f.ideal_wait is not None
            else ""
        ),
        "CPU                   "
        + ", ".join(f"{k} {sec:.1f} s ({share * 100:.0f} % of a core)" for k, (sec, share) in f.cpu.items()),
        f"agent menu            first page {fmt(f.menu_seconds)} of audio ({f.menu_files} files); "
        f"'first available' heard after {fmt(f.menu_to_first_available)}; a caller who presses nothing is "
        f"queued after {fmt(f.silent_to_queue)}",
    ]
    return "\n".join(lines)


def _rate(scenario: Scenario) -> str:
    return f"{scenario.callers / scenario.over:.2f}" if scenario.over > 0 else "all at once"


def _load(x: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.2f}" for v in x)


def _ids(ids: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", ... ({len(ids) - limit} more)" if len(ids) > limit else "")


# -- running one scenario --------------------------------------------------------------------------------------


def conf_from(commit: str, into: Path) -> Path:
    """A project directory with asterisk-conf/ and dialplan/ as of ``commit``, but today's scripted agents
    (dialplan/cc-demo.conf), so an old configuration is measured with the same agents."""
    for folder in ("asterisk-conf", "dialplan"):
        (into / folder).mkdir(parents=True, exist_ok=True)
        listed = subprocess.run(
            ["git", "-C", str(PROJECT), "ls-tree", "--name-only", f"{commit}:{folder}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        for name in listed:
            text = subprocess.run(
                ["git", "-C", str(PROJECT), "show", f"{commit}:{folder}/{name}"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            (into / folder / name).write_text(text)
    shutil.copy(PROJECT / "dialplan/cc-demo.conf", into / "dialplan/cc-demo.conf")
    queues = into / "asterisk-conf/queues.conf"
    text = queues.read_text()
    if "[cc-shared-queue]" not in text:
        # older than the shared queues' own template (render.py names it): they used cc-queue as it was
        include = "#include queues-generated.conf"
        queues.write_text(text.replace(include, f"[cc-shared-queue](!,cc-queue)\n\n{include}"))
    return into


async def run_scenario(
    scenario: Scenario, directory: Path, project: Path, conf: str, *, debug: bool = False
) -> Figures:
    name = f"l{os.getpid() % 100000}"
    world = await boot_world(
        directory,
        scenario.agents,
        name=name,
        settings={"CALLCENTER_JOURNEY_RING_TIMEOUT": str(scenario.ring_timeout)},
        project=project,
        seed=scenario.seed,
    )
    try:
        if debug:
            # app_queue's own reasoning ("It's our turn", "has another call trying", "not available"), into
            # asterisk-logs/debug.log (kept with --keep): the evidence behind the figures
            assert world.sandbox.process is not None
            await world.sandbox.process.cli("logger add channel debug.log debug")
            await world.sandbox.process.cli("core set debug 3 app_queue.so")
        async with (
            service_process(world, directory / "service.log") as service,
            LoadDriver(world.driver_settings) as driver,
        ):
            await driver.set_global("CC_DEMO_TALK", f"{scenario.talk:g}")
            talks = talk_times(scenario.callers, scenario.talk, exponential=scenario.exp, seed=scenario.seed + 2)
            choices = choices_by_mix(scenario.callers, scenario.mix, scenario.seed)
            rated = choices_by_mix(
                scenario.callers, {"first": scenario.rate_share, "best": 1 - scenario.rate_share}, scenario.seed + 1
            )
            scripts = [
                CallerScript(choice, scenario.patience, rate == "first", key_seed=scenario.seed * 1000 + i, talk=talk)
                for i, (choice, rate, talk) in enumerate(zip(choices, rated, talks, strict=True))
            ]
            arrivals = arrivals_over(scenario.callers, scenario.over, scenario.seed)
            watch = CpuWatch({"service": service.pid, "Asterisk": world.asterisk_pid()})
            since = time.time()
            watch.begin()
            placing = asyncio.create_task(place_callers(driver, scripts, arrivals))
            while not placing.done():
                await asyncio.wait({placing}, timeout=5)
                watch.sample_load()
            records = placing.result()
            cpu = watch.end()
            sounds = await asyncio.to_thread(SoundLengths.of_root, ROOT)
            with (directory / "events.jsonl").open("w") as out:
                for t in driver.timeline:
                    out.write(json.dumps({"at": t.at, **{k: str(v) for k, v in t.event.items()}}) + "\n")
            return analyse(scenario, world, records, driver.timeline, cpu, watch.loads, since, sounds)
    finally:
        await world.close()
        world.keep_logs(directory / "asterisk-logs")


def parse_args(argv: list[str]) -> argparse.Namespace:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="python -m bench.load",
        description=doc.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=doc[doc.index("    python") :] if "    python" in doc else None,
    )
    parser.add_argument("--agents", type=int, default=63, help="scripted support agents (default 63)")
    parser.add_argument("--callers", type=int, default=100, help="callers (default 100)")
    parser.add_argument("--over", type=float, default=10.0, help="seconds over which they arrive (default 10)")
    parser.add_argument("--talk", type=float, default=30.0, help="agents' talk time, seconds (default 30)")
    parser.add_argument("--exp", action="store_true", help="talk times exponential with mean --talk")
    parser.add_argument(
        "--mix", type=parse_mix, default={"first": 1.0}, help="choice weights: first=1,best=0,random=0 (default first)"
    )
    parser.add_argument("--rate-share", type=float, default=0.5, help="share of callers who rate (default 0.5)")
    parser.add_argument("--patience", type=float, default=300.0, help="seconds in queue before hanging up")
    parser.add_argument("--ring-timeout", type=int, default=20, help="[journey] ring_timeout (default 20)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="15 agents, 20 callers together, 5 s talk")
    parser.add_argument("--conf-from", metavar="COMMIT", help="measure the Asterisk config of this git commit")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--asterisk-debug", action="store_true", help="app_queue's debug log into the kept asterisk-logs/debug.log"
    )
    parser.add_argument("--keep", type=Path, help="keep the run's directory (logs, queue_log, database) here")
    return parser.parse_args(argv)


def scenario_of(args: argparse.Namespace) -> Scenario:
    if args.quick:
        return Scenario(agents=15, callers=20, over=0.0, talk=5.0, mix=args.mix, seed=args.seed, ring_timeout=10)
    return Scenario(
        agents=args.agents,
        callers=args.callers,
        over=args.over,
        talk=args.talk,
        exp=args.exp,
        mix=args.mix,
        rate_share=args.rate_share,
        patience=args.patience,
        seed=args.seed,
        ring_timeout=args.ring_timeout,
    )


async def main_async(args: argparse.Namespace) -> Figures:
    scenario = scenario_of(args)
    if os.geteuid() != 0:
        raise SystemExit("bench.load runs Asterisk in a chroot and needs root")
    with tempfile.TemporaryDirectory(prefix="cc-load-") as tmp:
        directory = Path(tmp)
        project = PROJECT
        conf = f"this tree ({PROJECT})"
        if args.conf_from:
            project = conf_from(args.conf_from, directory / "project")
            conf = f"commit {args.conf_from} (scripted agents of this tree)"
        figures = await run_scenario(scenario, directory / "run", project, conf, debug=args.asterisk_debug)
        print(report(figures, scenario, conf), flush=True)
        if args.keep:
            shutil.copytree(directory, args.keep, dirs_exist_ok=True)
    if args.json:
        args.json.write_text(json.dumps(asdict(figures), indent=2))
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    quiet_production_logging()
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
