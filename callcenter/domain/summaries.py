"""The store's running rating totals as the pure policy's input: the one adapter every reader of scores uses (the
IVR, the queue penalties, reports, ``policy explain``), so they all see the same numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from callcenter.domain.decay import DecayedTally
from callcenter.domain.policy import Policy, Ratings, Score, Tally, score
from callcenter.store.models import RatingSummary


def ratings(summary: RatingSummary) -> Ratings:
    """Plain and time-decayed sums of a summary; the policy picks which to use."""
    return Ratings(
        count=summary.count,
        overall=Tally(
            summary.score_count,
            summary.score_total,
            DecayedTally(summary.decayed_score_count, summary.decayed_score_total),
        ),
        per_category={
            k: Tally(v.n, v.total, DecayedTally(v.decayed_n, v.decayed_total)) for k, v in summary.per_category.items()
        },
    )


def summary_score(summary: RatingSummary, categories: Sequence[str], policy: Policy) -> Score:
    return score(ratings(summary), categories, policy)


@dataclass(frozen=True, slots=True)
class Scoring:
    """The configured categories and policy, applied to a store summary: how the IVR, the queue penalties and the
    reports all turn ratings into scores."""

    categories: tuple[str, ...]
    policy: Policy

    def __call__(self, summary: RatingSummary) -> Score:
        return summary_score(summary, self.categories, self.policy)
