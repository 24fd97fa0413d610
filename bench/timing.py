"""Timing one awaitable operation many times, and the statistics the report prints.

Every sample is one operation timed alone with ``time.perf_counter_ns`` (the clock is read outside the
operation, so the few hundred nanoseconds of the loop itself are included and negligible next to a
database round trip). Throughput of a sequential measurement is 1 / mean; of a concurrent one it is the
operations completed divided by the wall time of the whole batch.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

Op = Callable[[int], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Budget:
    """How long to measure one row: at least ``min_ops`` samples, then until ``seconds`` or ``max_ops``.

    ``warmup`` operations run first and are not counted. An operation receives its index (0 ..
    ``capacity - 1``), so an operation that consumes something (a fresh call to rate) can be given
    exactly ``capacity`` of them.
    """

    min_ops: int
    max_ops: int
    seconds: float
    warmup: int = 3

    @property
    def capacity(self) -> int:
        return self.warmup + self.max_ops

    def scaled(self, factor: float) -> Budget:
        return Budget(
            min_ops=max(1, math.ceil(self.min_ops * factor)),
            max_ops=max(1, math.ceil(self.max_ops * factor)),
            seconds=self.seconds * factor,
            warmup=self.warmup,
        )


@dataclass(frozen=True, slots=True)
class Stats:
    ops: int
    mean_ns: float
    median_ns: float
    p95_ns: float
    ops_per_s: float

    @classmethod
    def of(cls, samples: Sequence[int], *, wall_ns: int | None = None) -> Stats:
        """Statistics of per-operation samples; with ``wall_ns``, throughput is ops over that wall time."""
        if not samples:
            raise ValueError("no samples")
        ordered = sorted(samples)
        mean = statistics.fmean(ordered)
        # nearest-rank percentile: the smallest sample that at least 95 % of samples do not exceed
        p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
        throughput = len(ordered) * 1e9 / wall_ns if wall_ns is not None else 1e9 / mean
        return cls(
            ops=len(ordered),
            mean_ns=mean,
            median_ns=float(statistics.median(ordered)),
            p95_ns=float(p95),
            ops_per_s=throughput,
        )


class Parts:
    """Sub-timings inside one operation (e.g. the store read vs the pure ranking), one list per part.

    ``measure`` clears them after warm-up, so they line up with the operation's own samples.
    """

    def __init__(self, *names: str) -> None:
        self._samples: dict[str, list[int]] = {name: [] for name in names}

    def add(self, name: str, ns: int) -> None:
        self._samples[name].append(ns)

    def reset(self) -> None:
        for samples in self._samples.values():
            samples.clear()

    def stats(self, name: str) -> Stats:
        return Stats.of(self._samples[name])


async def measure(op: Op, budget: Budget, parts: Parts | None = None) -> Stats:
    """Run ``op`` sequentially within ``budget`` and return the statistics of the timed runs."""
    for index in range(budget.warmup):
        await op(index)
    if parts is not None:
        parts.reset()
    samples: list[int] = []
    index = budget.warmup
    deadline = time.perf_counter_ns() + int(budget.seconds * 1e9)
    while len(samples) < budget.max_ops and (len(samples) < budget.min_ops or time.perf_counter_ns() < deadline):
        start = time.perf_counter_ns()
        await op(index)
        samples.append(time.perf_counter_ns() - start)
        index += 1
    return Stats.of(samples)


async def timed(op: Op, index: int, into: list[int]) -> None:
    """Run ``op(index)`` once, appending its duration to ``into`` (for concurrent measurements)."""
    start = time.perf_counter_ns()
    await op(index)
    into.append(time.perf_counter_ns() - start)


def format_duration(ns: float) -> str:
    if ns < 1_000_000:
        return f"{ns / 1_000:.1f} us"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.2f} ms"
    return f"{ns / 1_000_000_000:.2f} s"


def format_rate(per_s: float) -> str:
    return f"{per_s:,.0f}" if per_s >= 100 else f"{per_s:,.1f}"


def format_count(n: int) -> str:
    """1000 -> 1k, 100000 -> 100k, 1500 -> 1500: compact size labels for the table."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)
