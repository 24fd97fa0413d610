"""What a rater may do with each call they were a party to: their current rating of it, and whether it is
blocked (the rules' refusal, or an operator's removal, which the rater can never undo). One answer for the phone's
review list (``ivr/review.py``) and the web's "my calls" page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from callcenter.domain.rules import Rater, RatingRules, Refusal, may_rate, removed_by_operator
from callcenter.store import Call, Direction, Evaluation
from callcenter.store.api import EvaluationStore

REMOVED: Literal["removed"] = "removed"
Blocked = Refusal | Literal["removed"]


@dataclass(frozen=True, slots=True)
class Reviewed:
    call: Call
    evaluation: Evaluation | None
    scores: Mapping[str, int] | None  # the live rating, in the categories' order; None: not rated (or deleted)
    blocked: Blocked | None  # None: the rater may add, change or delete it now


async def blocked(
    evaluations: EvaluationStore,
    call: Call,
    evaluation: Evaluation | None,
    *,
    rater: Rater,
    now: datetime,
    rules: RatingRules,
) -> Blocked | None:
    """Why ``rater`` may not change their rating of ``call`` now, or None."""
    refusal = may_rate(call, rater, now, rules)
    if refusal is not None:
        return refusal
    if evaluation is not None and evaluation.deleted:
        history = await evaluations.evaluation_history(evaluation.id)
        if history and removed_by_operator(history[-1].action, history[-1].actor):
            return REMOVED
    return None


async def review(
    evaluations: EvaluationStore,
    calls: Sequence[Call],
    *,
    rater: Rater,
    direction: Direction,
    categories: Sequence[str],
    now: datetime,
    rules: RatingRules,
) -> list[Reviewed]:
    """Each of ``calls`` (the rater's served calls, newest first) with the rater's rating and what blocks it."""
    found = []
    for call in calls:
        evaluation = await evaluations.get_evaluation(call.uniqueid, direction)
        live = evaluation.scores if evaluation is not None and not evaluation.deleted else {}
        scores = {c: live[c] for c in categories if c in live} or None
        why = await blocked(evaluations, call, evaluation, rater=rater, now=now, rules=rules)
        found.append(Reviewed(call, evaluation, scores, why))
    return found
