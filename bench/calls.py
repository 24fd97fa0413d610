"""Whole calls against the fake Asterisk: the service (``callcenter serve``, as app.py wires it) and the bare-route
floor side by side, interleaved (service, floor, service, floor, ...), at 1, 50 and 200 calls at once, for rosters of
100, 1k and 10k agents with 1M evaluations.

Per roster: the seeded store is copied from the cache (bench/callworld.py), the service starts on it against the fake
AMI (bench/fake_ami.py), a few warm-up calls record the command lines each route sends, and the floor (bench/floor.py)
is started to send exactly those. Then, per level, repetitions of one batch each way: ``calls`` whole calls,
``sessions`` at a time. The service's figures are its own process tree's (bench/proctree.py): CPU seconds over the
batch divided by the calls, peak RSS during the batch. Ratios are per repetition, then their median.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import callworld, fake_calls
from bench.fake_ami import FakeAMI
from bench.figures import Targets, check, ms, pct, ratio, spread, times
from bench.floor import replayable
from bench.processes import floor_argv, free_port, server_process, service_argv
from bench.proctree import Window

OFFER = "inbound: service menu key -> agent menu"
STEP_ORDER = (
    "inbound: connect -> service menu",
    OFFER,
    "inbound: agent menu key -> end",
    "screen: connect -> screening prompt",
    "screen: screening prompt key -> end",
    "connected: connect -> end",
    "after-queue: connect -> rating prompt",
    "after-queue: rating prompt key -> end",
    "call-end: connect -> end",
)
COMMAND = "make bench BENCH='--only calls'"


@dataclass(frozen=True, slots=True)
class CallsPlan:
    rosters: tuple[int, ...]
    evaluations: int
    clients: int
    levels: tuple[int, ...]  # sessions at once
    calls: dict[int, int]  # calls per batch at each level
    reps: int
    cell_budget: float  # seconds per (roster, level): repetitions stop once it is spent (at least one runs)
    warmup: int
    # the history axis: the smallest roster again with this few evaluations, one session at a time
    few_evaluations: int

    @classmethod
    def make(cls, *, quick: bool) -> CallsPlan:
        if quick:
            return cls((100,), 10_000, 1_000, (1, 10), {1: 4, 10: 10}, 2, 5.0, 2, 1_000)
        return cls((100, 1_000, 10_000), 1_000_000, 100_000, (1, 50, 200), {1: 10, 50: 50, 200: 200}, 3, 30.0, 3, 1_000)


@dataclass
class Side:
    """One side (service or floor) at one level: samples and costs over every repetition."""

    samples: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    rep_p99: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    rep_p50: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    cpu_per_call: list[float] = field(default_factory=list)
    calls_per_s: list[float] = field(default_factory=list)
    peak_mb: float = 0.0
    calls: int = 0
    queued: int = 0
    rated: int = 0
    errors: list[str] = field(default_factory=list)

    def take(self, batch: fake_calls.Batch, window: Window) -> None:
        for step, values in batch.samples.items():
            self.samples[step] += values
            self.rep_p99[step].append(pct(values, 0.99))
            self.rep_p50[step].append(pct(values, 0.50))
        self.cpu_per_call.append(window.cpu / max(1, batch.calls))
        self.calls_per_s.append(batch.calls * 1e9 / max(1, batch.wall_ns))
        self.peak_mb = max(self.peak_mb, window.peak_mb)
        self.calls += batch.calls
        self.queued += batch.queued
        self.rated += batch.rated
        self.errors += batch.errors


@dataclass
class Level:
    roster: int
    sessions: int
    service: Side = field(default_factory=Side)
    floor: Side = field(default_factory=Side)
    reps: int = 0

    def step_ratios(self, step: str, which: str = "p99") -> list[float]:
        a = (self.service.rep_p99 if which == "p99" else self.service.rep_p50)[step]
        b = (self.floor.rep_p99 if which == "p99" else self.floor.rep_p50)[step]
        return [ratio(x, y) for x, y in zip(a, b, strict=False)]


def _median(values: Sequence[float]) -> float:
    clean = sorted(v for v in values if not math.isnan(v))
    return clean[len(clean) // 2] if clean else math.nan


async def _batch(
    port: int, files: callworld.ServiceFiles, pid: int, *, calls: int, sessions: int, ami: FakeAMI | None, first: int
) -> tuple[fake_calls.Batch, Window]:
    numbers = files.numbers
    window = Window(pid)
    window.begin()
    batch = await fake_calls.run_batch(
        port,
        calls=calls,
        concurrency=sessions,
        # returning callers, spread over the seeded clients (a prime stride: no two calls of a batch share one)
        number_of=lambda i: numbers[(i * 7919) % len(numbers)],
        fallback_agent=files.agents[0],
        ami=ami,
        run_id=f"b{int(time.time())}",
        first_call=first,
    )
    window.end()
    return batch, window


def _scripts(batch: fake_calls.Batch) -> dict[str, list[str]]:
    if batch.first is None:
        raise RuntimeError(f"no warm-up call completed: {batch.errors[:3]}")
    scripts = {run.route: [line.decode() for line in run.lines] for run in batch.first.runs}
    for route, lines in scripts.items():
        if not replayable(lines):
            raise RuntimeError(f"the floor could not resend route {route}'s commands byte for byte")
    return scripts


async def run_roster(
    plan: CallsPlan,
    directory: Path,
    agents: int,
    log: list[str],
    *,
    evaluations: int | None = None,
    levels_of: tuple[int, ...] | None = None,
) -> list[Level]:
    sizes = callworld.Sizes(
        agents=agents, clients=plan.clients, evaluations=plan.evaluations if evaluations is None else evaluations
    )
    files = await callworld.prepare(directory, sizes, log)
    for line in log:
        print(f"   {line}", flush=True)
    log.clear()
    ami = FakeAMI()
    await ami.start()
    levels: list[Level] = []
    call_no = 0
    try:
        service_port = free_port()
        env = files.with_ports(ami=ami.port, agi=service_port)
        started = time.perf_counter()
        async with server_process(
            service_argv(files.config_path), port=service_port, log_path=directory / "service.log", env=env
        ) as service:
            print(f"   {sizes.label}: service up in {time.perf_counter() - started:.1f} s", flush=True)
            warm, _ = await _batch(
                service_port, files, service.pid, calls=plan.warmup, sessions=1, ami=ami, first=call_no
            )
            call_no += plan.warmup
            scripts = _scripts(warm)
            (directory / "floor.json").write_text(json.dumps(scripts))
            floor_port = free_port()
            async with server_process(
                floor_argv(floor_port, directory / "floor.json"),
                port=floor_port,
                log_path=directory / "floor.log",
            ) as floor:
                await _batch(floor_port, files, floor.pid, calls=plan.warmup, sessions=1, ami=None, first=call_no)
                for sessions in plan.levels if levels_of is None else levels_of:
                    level = Level(agents, sessions)
                    calls = plan.calls[sessions]
                    cell_start = time.perf_counter()
                    while level.reps < plan.reps and (
                        level.reps == 0 or time.perf_counter() - cell_start < plan.cell_budget
                    ):
                        # interleaved: service, floor, service, floor ... so drift hits both alike
                        batch, window = await _batch(
                            service_port, files, service.pid, calls=calls, sessions=sessions, ami=ami, first=call_no
                        )
                        call_no += calls
                        level.service.take(batch, window)
                        batch, window = await _batch(
                            floor_port, files, floor.pid, calls=calls, sessions=sessions, ami=None, first=call_no
                        )
                        call_no += calls
                        level.floor.take(batch, window)
                        level.reps += 1
                    print_level(level, sizes, plan, time.perf_counter() - cell_start)
                    levels.append(level)
    finally:
        await ami.close()
    return levels


def print_level(level: Level, sizes: callworld.Sizes, plan: CallsPlan, took: float) -> None:
    s, f = level.service, level.floor
    cut = " (cell budget spent)" if level.reps < plan.reps else ""
    print(
        f"\n   {sizes.label}, {level.sessions} session(s) at once: {level.reps} rep(s){cut} x "
        f"{plan.calls[level.sessions]} calls each way, {took:.0f} s",
        flush=True,
    )
    print(
        f"   {'IVR step (key or connect -> next prompt)':<44}{'p50':>10}{'p99':>10}{'floor p50':>11}{'floor p99':>11}"
        f"  p99 ratio (median of reps)"
    )
    for step in STEP_ORDER:
        if step not in s.samples:
            continue
        a, b = s.samples[step], f.samples.get(step, [])
        mark = "  <- the offer" if step == OFFER else ""
        print(
            f"   {step:<44}{ms(pct(a, 0.5)):>10}{ms(pct(a, 0.99)):>10}{ms(pct(b, 0.5)):>11}{ms(pct(b, 0.99)):>11}"
            f"  {spread(level.step_ratios(step))}{mark}"
        )
    cpu_s, cpu_f = _median(s.cpu_per_call), _median(f.cpu_per_call)
    print(
        f"   backend CPU per call: service {ms(cpu_s * 1e9)}, floor {ms(cpu_f * 1e9)} "
        f"({times(ratio(cpu_s, cpu_f))}); calls/s (wall): service {_median(s.calls_per_s):.1f}, "
        f"floor {_median(f.calls_per_s):.1f}; peak RSS: service {s.peak_mb:.0f} MB, floor {f.peak_mb:.0f} MB"
    )
    print(f"   calls: {s.calls} ({s.queued} queued, {s.rated} rated), errors: {len(s.errors) + len(f.errors)}")
    for error in (s.errors + f.errors)[:3]:
        print(f"     error: {error}")


def report_targets(levels: list[Level], targets: Targets, evaluations: str) -> None:
    def find(roster: int, sessions: int) -> Level | None:
        return next((lv for lv in levels if lv.roster == roster and lv.sessions == sessions), None)

    top = max(lv.sessions for lv in levels)
    big = max(lv.roster for lv in levels)
    small = min(lv.roster for lv in levels)
    rows = [(big, "agent-offer step")] + ([(small, "same")] if small != big else [])
    for roster, name in rows:
        level = find(roster, top)
        if level is None:
            continue
        s, f = level.service.samples[OFFER], level.floor.samples[OFFER]
        r99 = _median(level.step_ratios(OFFER))
        targets.add(
            f"{name}, {top} sessions at once, {roster} agents / {evaluations} evaluations, vs the bare route",
            f"p99 {ms(pct(s, 0.99))} vs {ms(pct(f, 0.99))}: {spread(level.step_ratios(OFFER))} "
            f"(p50 {spread(level.step_ratios(OFFER, 'p50'))})",
            "p99 <= 5x the floor",
            check(r99, lambda x: x <= 5),
            COMMAND,
        )
    one = find(big, 1)
    if one is not None:
        s, f = one.service.samples[OFFER], one.floor.samples[OFFER]
        p50 = pct(s, 0.5)
        targets.add(
            f"offer step, one session at a time, {big} agents",
            f"p50 {ms(p50)}, p99 {ms(pct(s, 0.99))} (floor p50 {ms(pct(f, 0.5))})",
            "<= 2 ms",
            check(p50, lambda x: x <= 2e6),
            COMMAND,
        )
    busy = find(big, top)
    if busy is not None:
        targets.add(
            f"service memory with {top} offers in flight at {big} agents",
            f"{busy.service.peak_mb:.0f} MB peak RSS (the service's process tree)",
            "<= 200 MB",
            check(busy.service.peak_mb, lambda x: x <= 200),
            COMMAND,
        )


async def calls(directory: Path, *, quick: bool, targets: Targets) -> None:
    plan = CallsPlan.make(quick=quick)
    levels: list[Level] = []
    log: list[str] = []
    for agents in plan.rosters:
        levels += await run_roster(plan, directory / f"calls-{agents}", agents, log)
    small = min(plan.rosters)
    few = await run_roster(
        plan, directory / f"calls-{small}-few", small, log, evaluations=plan.few_evaluations, levels_of=(1,)
    )
    print(
        "\n   notes: the fake Asterisk answers at once (prompts take no time); the service is `callcenter serve` on a "
        "copy of the cached store, logging JSON at info to a file; the fake AMI never sends FullyBooted, so every "
        "agent on duty counts as free (no queue resync); p99 over fewer than 100 samples is the maximum."
    )
    report_targets(levels, targets, callworld.count_label(plan.evaluations))
    many = next(lv for lv in levels if lv.roster == small and lv.sessions == 1)
    history_row(many, few[0], plan, targets)


def history_row(many: Level, few: Level, plan: CallsPlan, targets: Targets) -> None:
    """The rating write and the ranking (the offer) with a long history vs a short one, same roster, one call at a
    time: the service's p50 of each step, the ratio of the long history's to the short one's."""
    rating = "after-queue: rating prompt key -> end"
    parts = []
    worst = 0.0
    for step, what in ((rating, "rating write"), (OFFER, "ranking (offer)")):
        a, b = pct(many.service.samples[step], 0.5), pct(few.service.samples[step], 0.5)
        worst = max(worst, ratio(a, b))
        parts.append(f"{what} {ms(a)} vs {ms(b)}: {times(ratio(a, b))}")
    targets.add(
        f"rating write and ranking, {callworld.count_label(plan.few_evaluations)} vs "
        f"{callworld.count_label(plan.evaluations)} evaluations ({many.roster} agents, one call at a time, p50)",
        "; ".join(parts),
        "keep <= 1.5x",
        check(worst, lambda x: x <= 1.5),
        COMMAND,
    )
