"""Recency decay of ratings, the pure maths: a rating given at time t counts at time T with weight
2^(-(T - t) / half_life), in (0, 1].

A decayed sum moves to a later time by one multiplication, S(T') = S(T) * 2^(-(T' - T) / half_life), which is
how the store keeps its decayed totals up to date incrementally (its own notes: ``callcenter/store/decay.py``,
which holds a copy of ``Decay`` and ``close_enough`` until the store is pointed here). The policy reads the sums
(``callcenter/domain/policy.py``); ``decayed_tally`` computes one directly, for tests and tools.

A half-life of None, 0 or infinity means no decay: every weight is 1 and the decayed sums equal the plain ones.
A negative age (clock skew) counts as 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

SECONDS_PER_DAY: Final = 86_400.0
# how the "no decay" half-life is written down (the store records its half-life as text)
OFF: Final = "off"
# floating-point slack when a kept sum is compared with one recomputed from the ratings
REL_TOL: Final = 1e-6
ABS_TOL: Final = 1e-6


@dataclass(frozen=True, slots=True)
class Decay:
    """A half-life in days; None, 0 or inf = no decay (all weights 1)."""

    half_life_days: float | None = None

    def __post_init__(self) -> None:
        hl = self.half_life_days
        if hl is not None and not hl >= 0:  # also refuses NaN
            raise ValueError(f"half_life_days must be positive (0 or None: no decay), got {hl!r}")

    @property
    def off(self) -> bool:
        return not self.half_life_days or math.isinf(self.half_life_days)

    @property
    def setting(self) -> str:
        """The half-life as text, compared as text: "off", or the float's repr."""
        return OFF if self.off else repr(float(self.half_life_days or 0))

    def weight_of_age(self, age_days: float) -> float:
        """The weight of a rating ``age_days`` old: 1 when new, 1/2 after one half-life.

        After some 1074 half-lives the weight underflows to 0.0: the rating no longer counts."""
        if self.off:
            return 1.0
        assert self.half_life_days is not None
        return float(2.0 ** (-max(0.0, age_days) / self.half_life_days))

    def weight(self, since: datetime, until: datetime) -> float:
        """The weight at ``until`` of a rating given at ``since``."""
        return self.weight_of_age((until - since).total_seconds() / SECONDS_PER_DAY)


@dataclass(frozen=True, slots=True)
class DecayedTally:
    """A recency-weighted tally: the sum of the scores' weights (each in (0, 1]) and of score * weight."""

    n: float = 0.0
    total: float = 0.0

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n > 0 else None


def decay_weight(age_days: float, half_life_days: float | None) -> float:
    """2^(-age / half-life): ``Decay(half_life_days).weight_of_age(age_days)``; ValueError for a negative
    half-life."""
    if half_life_days is not None and not half_life_days >= 0:
        raise ValueError(f"half_life_days must not be negative, got {half_life_days!r}")
    return Decay(half_life_days).weight_of_age(age_days)


def decayed_tally(scores: Iterable[tuple[int, float]], half_life_days: float | None) -> DecayedTally:
    """The decayed tally of (score, age in days) pairs, computed directly (the store keeps it incrementally)."""
    decay = Decay(half_life_days)
    n = total = 0.0
    for value, age_days in scores:
        weight = decay.weight_of_age(age_days)
        n += weight
        total += value * weight
    return DecayedTally(n, total)


def close_enough(have: float, want: float) -> bool:
    return math.isclose(have, want, rel_tol=REL_TOL, abs_tol=ABS_TOL)
