"""Pure rating maths and routing decisions: no I/O, no Asterisk, no database. Everything here is a function of
numbers in and numbers out, so it is tested exhaustively and the call flows only ask it questions.

Scores are 1-5. A mean over few ratings is noisy, so every score is shrunk toward a prior (a Bayesian average):
    score = (prior_mean * prior_weight + total) / (prior_weight + n)
With prior_weight = 3, one 5-star rating gives 3.875 while fifty 4.8s give 4.74: a newcomer neither jumps the
ranking nor sinks to the bottom of it forever.

Optionally old ratings fade: with a half-life h, a rating given ``age`` days ago counts with weight
2^(-age / h), in (0, 1]. The store keeps such weighted sums per tally (``DecayedTally``); ``score(...,
decayed=True)`` shrinks those instead of the plain ones. The prior keeps its full weight, so a subject whose
ratings have all faded drifts back toward the prior mean. With no half-life (None or 0) every weight is 1 and
the decayed score is the plain one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from callcenter.domain import naming
from callcenter.domain.decay import DecayedTally

SCORE_MIN = 1
SCORE_MAX = 5


@dataclass(frozen=True, slots=True)
class Tally:
    """How many scores and their sum (the store's running aggregate for one subject and one category).

    ``decayed``: the same scores weighted by age, when the store keeps them; ``score(..., decayed=True)`` uses it
    and counts a tally without it undecayed.
    """

    n: int = 0
    total: int = 0
    decayed: DecayedTally | None = None

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None


@dataclass(frozen=True, slots=True)
class Ratings:
    """Everything known about one rated party: evaluations counted, and per-category tallies."""

    count: int = 0
    overall: Tally = Tally()
    per_category: Mapping[str, Tally] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Policy:
    prior_mean: float = 3.5
    prior_weight: float = 3.0
    # below this many evaluations an agent is announced as "new" and a caller as "new caller"
    min_ratings: int = 3
    # QUEUE_PRIO for callers: higher is answered first; unknown callers get the neutral value
    priority_min: int = 0
    priority_max: int = 10
    priority_neutral: int = 5
    # member penalty in shared queues: 0 for the best agents, up to penalty_max for the weakest
    penalty_max: int = 4
    # callers whose priority reaches this join the agent's preferred queue (agent-<id>-vip), which app_queue
    # serves first when the agent is free (queue weight); above priority_max: never
    preferred_priority: int = 8
    # old ratings fade: a rating this many days old weighs half as much as a new one (0: no decay)
    half_life_days: float = 0.0

    def __post_init__(self) -> None:
        if not SCORE_MIN <= self.prior_mean <= SCORE_MAX:
            raise ValueError("prior_mean must be within 1-5")
        if self.prior_weight <= 0:
            raise ValueError("prior_weight must be positive")
        if not self.priority_min <= self.priority_neutral <= self.priority_max:
            raise ValueError("priority_neutral must lie within priority_min..priority_max")
        if not math.isfinite(self.half_life_days) or self.half_life_days < 0:
            raise ValueError("half_life_days must be a number of days, not negative (0 turns decay off)")
        if not all(math.isfinite(v) for v in (self.prior_mean, self.prior_weight)):
            raise ValueError("prior_mean and prior_weight must be numbers")
        if self.penalty_max < 0 or self.min_ratings < 0:
            raise ValueError("penalty_max and min_ratings must not be negative")


def shrunk(tally: Tally, policy: Policy) -> float:
    """The Bayesian average of a tally: the prior with no data, the plain mean with a great deal of it."""
    return (policy.prior_mean * policy.prior_weight + tally.total) / (policy.prior_weight + tally.n)


@dataclass(frozen=True, slots=True)
class Score:
    """What a caller hears about an agent (or an agent about a caller), and what ranking uses."""

    overall: float
    per_category: Mapping[str, float]
    count: int
    is_new: bool


def score(ratings: Ratings, categories: Sequence[str], policy: Policy, *, decayed: bool | None = None) -> Score:
    """The shrunk scores of ``ratings``; ``decayed=True`` shrinks the tallies' decayed sums instead (where a tally
    has none, its plain ones). ``count`` and ``is_new`` always count real evaluations: decay changes how much a
    rating weighs, not whether it was given."""
    if decayed is None:
        decayed = policy.half_life_days > 0
    value = _shrunk_decayed if decayed else shrunk
    return Score(
        overall=value(ratings.overall, policy),
        per_category={c: value(ratings.per_category.get(c, Tally()), policy) for c in categories},
        count=ratings.count,
        is_new=ratings.count < policy.min_ratings,
    )


def _shrunk_decayed(tally: Tally, policy: Policy) -> float:
    return shrunk(tally, policy) if tally.decayed is None else shrunk_decayed(tally.decayed, policy)


def shrunk_decayed(tally: DecayedTally, policy: Policy) -> float:
    """The Bayesian average of a decayed tally: the prior (at full weight) pulls harder as ratings fade."""
    return (policy.prior_mean * policy.prior_weight + tally.total) / (policy.prior_weight + tally.n)


@dataclass(frozen=True, slots=True)
class Grades:
    """Lowest shrunk score of each letter grade; anything below ``d`` is an E."""

    a: float = 4.5
    b: float = 4.0
    c: float = 3.5
    d: float = 2.5

    def __post_init__(self) -> None:
        if not SCORE_MAX >= self.a >= self.b >= self.c >= self.d >= SCORE_MIN:
            raise ValueError("grade thresholds must satisfy 5 >= a >= b >= c >= d >= 1")


GRADES = Grades()


def grade(value: float, count: int, policy: Policy, grades: Grades = GRADES) -> str | None:
    """A letter A-E for a shrunk score, or None with fewer than ``policy.min_ratings`` evaluations (no grade yet).

    The score is rounded to 6 decimals first (as ``rank`` does), so 4.4999999999 from float error is an A.
    """
    if count < policy.min_ratings:
        return None
    value = round(value, 6)
    for letter, threshold in (("A", grades.a), ("B", grades.b), ("C", grades.c), ("D", grades.d)):
        if value >= threshold:
            return letter
    return "E"


@dataclass(frozen=True, slots=True)
class Candidate:
    agent_id: str
    score: Score
    # seconds since epoch of the agent's last answered call; 0 = never. Ties go to who waited longest.
    last_call_at: float = 0.0


# (minus the score rounded to 6 decimals, last answered call, agent id): ascending is best first
RankKey = tuple[float, float, str]


def rank_key(candidate: Candidate, by: str | None = None) -> RankKey:
    """Where ``candidate`` stands by overall score or by one category: the one ordering ``rank`` sorts by and the
    kept ranking (``callcenter/domain/ranking.py``) keeps, so the two cannot disagree. Rounded to 6 decimals so
    float noise does not split a tie that belongs to the tie-breakers."""
    c = candidate
    value = c.score.overall if by is None else c.score.per_category.get(by, c.score.overall)
    return (-round(value, 6), c.last_call_at, c.agent_id)


def rank(candidates: Sequence[Candidate], by: str | None = None) -> list[Candidate]:
    """Best first, by overall score or by one category; ties to the agent idle longest, then the lower id."""
    return sorted(candidates, key=lambda c: rank_key(c, by))


def caller_priority(reputation: Ratings | None, policy: Policy) -> int:
    """QUEUE_PRIO from agents' evaluations of the caller: neutral when unknown or new, bounded, monotone."""
    if reputation is None or reputation.count < policy.min_ratings:
        return policy.priority_neutral
    value = shrunk(reputation.overall, policy)
    # map the score linearly so that the prior mean lands on the neutral priority
    if value >= policy.prior_mean:
        span = (value - policy.prior_mean) / (SCORE_MAX - policy.prior_mean)
        prio = policy.priority_neutral + span * (policy.priority_max - policy.priority_neutral)
    else:
        span = (policy.prior_mean - value) / (policy.prior_mean - SCORE_MIN)
        prio = policy.priority_neutral - span * (policy.priority_neutral - policy.priority_min)
    return max(policy.priority_min, min(policy.priority_max, round(prio)))


def choose_queue(agent_id: str, priority: int, policy: Policy) -> str:
    """Which of the agent's own queues the caller joins: the preferred one (higher queue weight, served first
    when the agent has callers in both) for callers with a good reputation, the normal one otherwise."""
    return naming.preferred_queue(agent_id) if priority >= policy.preferred_priority else naming.agent_queue(agent_id)


def member_penalty(agent: Score, policy: Policy) -> int:
    """Penalty of an agent in a shared queue: 0 for a 5.0 agent, penalty_max for a 1.0 agent (lower rings first)."""
    fraction = (SCORE_MAX - agent.overall) / (SCORE_MAX - SCORE_MIN)
    return max(0, min(policy.penalty_max, round(fraction * policy.penalty_max)))


def spoken_score(value: float) -> tuple[int, int]:
    """A score as the caller hears it: 4.56 -> (4, 6), "four point six"; always one decimal, never 5.0 -> (4, 10)."""
    tenths = round(value * 10)
    return tenths // 10, tenths % 10
