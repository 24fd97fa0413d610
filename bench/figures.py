"""The call benchmarks' figures: percentiles, ratios over repetitions, and the issue's targets beside them.

Issue 13's table is the yardstick: each figure printed here names the row it measures and its target, and the
run ends with all of them together (``Targets.print``), so a before/after comparison is two runs' last lines.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


def pct(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1): the smallest sample at least ``q`` of the samples do not exceed."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ms(ns: float) -> str:
    if math.isnan(ns):
        return "-"
    value = ns / 1e6
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 and not math.isnan(a) and not math.isnan(b) else math.nan


def times(x: float) -> str:
    if math.isnan(x):
        return "-"
    return f"x{x:,.0f}" if x >= 100 else f"x{x:.2f}" if x < 10 else f"x{x:.1f}"


def spread(ratios: Sequence[float]) -> str:
    """The median of per-repetition ratios, with their range: 'x4.2 (x3.9-x4.6, 3 reps)'."""
    clean = [r for r in ratios if not math.isnan(r)]
    if not clean:
        return "-"
    middle = statistics.median(clean)
    if len(clean) == 1:
        return f"{times(middle)} (1 rep)"
    return f"{times(middle)} ({times(min(clean))}-{times(max(clean))}, {len(clean)} reps)"


@dataclass(frozen=True, slots=True)
class Target:
    row: str  # the row
    measured: str
    target: str
    met: bool | None  # None: not comparable (not measured in this run)
    command: str  # what measures it


@dataclass
class Targets:
    rows: list[Target] = field(default_factory=list)

    def add(self, row: str, measured: str, target: str, met: bool | None, command: str) -> None:
        self.rows.append(Target(row, measured, target, met, command))
        print(f"   target: {row}: {measured}  [target {target}: {_verdict(met)}]", flush=True)

    def print(self) -> None:
        if not self.rows:
            return
        print("\n== issue 13's table: each figure beside its target")
        for t in self.rows:
            print(f" - {t.row}")
            print(f"     measured {t.measured}")
            print(f"     target   {t.target}: {_verdict(t.met)}    ({t.command})")


def _verdict(met: bool | None) -> str:
    return "not measured" if met is None else "met" if met else "NOT met"


def check(value: float, good: Callable[[float], bool]) -> bool | None:
    return None if math.isnan(value) else good(value)
