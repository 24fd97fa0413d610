"""Rating, changing, deleting and removing ratings: the rules checked once, the write, the penalty pushed to
Asterisk, the event emitted. The IVR (after-call survey, reminder, review menus), the CLI (an operator's
removal) and, later, a web console go through here, so each of those steps lives once.

A rater asks for a ``Permit`` first (``permit``: the rules, ``callcenter/domain/rules.py``), before they are asked
for any key; ``rate`` and ``unrate`` take the permit, so no path writes without the check, and none checks twice.
The store refuses on its own as well (one rating per call per direction, a removed rating stays removed): its
``EvaluationRefused`` reaches the front end, which says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import structlog

from callcenter.domain import naming
from callcenter.domain.rules import Rater, RatingRules, Refusal, may_rate
from callcenter.store import Direction, Evaluation
from callcenter.store.api import CallStore, EvaluationStore
from callcenter.store.models import CLIENT_TO_AGENT
from callcenter.usecases.ports import Clock, EmitEvent, PenaltyPush, RatingWrites

log = structlog.get_logger(__name__)

RATER_DELETED = "deleted by the rater by phone"


@dataclass(frozen=True, slots=True)
class Permit:
    """The rules let ``rater`` add, change or delete their ``direction`` rating of ``call`` (checked at ``at``)."""

    call: str
    direction: Direction
    rater: Rater
    at: datetime


class DirectWrites:
    """Ratings written straight to the store: nothing kept for later, a failure is the front end's to report (the
    CLI's removal runs while nobody waits on the phone, so it fails loudly instead of journaling)."""

    def __init__(self, store: EvaluationStore) -> None:
        self.store = store

    async def record_evaluation(
        self, call: str, direction: Direction, scores: Mapping[str, int], actor: str, now: datetime
    ) -> Evaluation | None:
        return await self.store.record_evaluation(call, direction, scores, actor, now)

    async def delete_evaluation(
        self, call: str, direction: Direction, actor: str, reason: str, now: datetime
    ) -> Evaluation | None:
        return await self.store.delete_evaluation(call, direction, actor, reason, now)

    def waiting(self, call: str, kind: str | None = None) -> bool:
        return False


class Ratings:
    def __init__(
        self, calls: CallStore, writes: RatingWrites, penalties: PenaltyPush, rules: RatingRules, clock: Clock
    ) -> None:
        self.calls = calls
        self.writes = writes
        self.penalties = penalties
        self.rules = rules
        self.clock = clock

    async def permit(self, call: str, direction: Direction, rater: Rater) -> Permit | Refusal:
        """A permit, or why ``rater`` may not add, change or delete their rating of ``call`` now."""
        record = await self.calls.get_call(call)
        now = self.clock()
        refusal = Refusal.NOT_ANSWERED if record is None else may_rate(record, rater, now, self.rules)
        return Permit(call, direction, rater, now) if refusal is None else refusal

    async def rate(
        self, permit: Permit, scores: Mapping[str, int], *, emit: EmitEvent | None = None
    ) -> Evaluation | None:
        """Store the scores; None when the store cannot take them now (journaled: written when it is back).

        EvaluationRefused when the store refuses (an operator removed this rating)."""
        p = permit
        evaluation = await self.writes.record_evaluation(p.call, p.direction, scores, p.rater.actor, self.clock())
        if evaluation is None:
            return None
        log.info("rating_stored", call=p.call, direction=p.direction, scores=dict(scores), evaluation=evaluation.id)
        await self._changed(evaluation)
        if emit is not None:
            # for dashboards and the tests: the same fact on AMI, from the channel that gave the rating
            await emit(naming.EVENT_RATED, _event_fields(evaluation))
        return evaluation

    async def unrate(self, permit: Permit, *, emit: EmitEvent | None = None) -> bool:
        """Delete the rater's rating (soft: it leaves the aggregates, stays in the audit trail); False if there
        was none. A delete journaled (the store is down now) counts as done: it is written when the store is back."""
        p = permit
        deleted = await self.writes.delete_evaluation(p.call, p.direction, p.rater.actor, RATER_DELETED, self.clock())
        if deleted is None:
            return self.writes.waiting(p.call, "unrate")
        log.info("rating_deleted", call=p.call, direction=p.direction, evaluation=deleted.id)
        await self._changed(deleted)
        if emit is not None:
            await emit(naming.EVENT_RATING_DELETED, _event_fields(deleted))
        return True

    async def remove(
        self, call: str, direction: Direction, *, operator: str, reason: str, emit: EmitEvent | None = None
    ) -> Evaluation | None:
        """An operator removes one evaluation (e.g. abusive), whatever its age; the reason and the operator go into
        its audit trail, and the rater can never put it back. None: journaled (a journaling writer only).

        ValueError without a reason; LookupError for an unknown call or one with nothing to remove."""
        if not reason.strip():
            raise ValueError("a reason is required: it is kept in the audit trail")
        record = await self.calls.get_call(call)
        if record is None:
            raise LookupError(f"no call {call!r} on record (see `callcenter calls list`)")
        operator_rater = Rater("operator", operator)
        now = self.clock()
        refusal = may_rate(record, operator_rater, now, self.rules)
        if refusal is not None:
            raise LookupError(f"call {call} has no evaluation to remove ({refusal})")
        removed = await self.writes.delete_evaluation(call, direction, operator_rater.actor, reason.strip(), now)
        if removed is None:
            if self.writes.waiting(call, "unrate"):
                return None
            raise LookupError(f"call {call} has no {direction} evaluation")
        log.info("rating_removed", call=call, direction=direction, evaluation=removed.id, operator=operator)
        await self._changed(removed)
        if emit is not None:
            # the other service processes on this store read that agent's ratings again (ami/rating_events.py)
            await emit(naming.EVENT_RATING_DELETED, _event_fields(removed))
        return removed

    async def _changed(self, evaluation: Evaluation) -> None:
        if evaluation.direction == CLIENT_TO_AGENT:
            # before anything else is said: a rater who hangs up now must not keep the new penalty from Asterisk
            # (the push itself does not make them wait: see PenaltyPush)
            await self.penalties.agent_rated(evaluation.agent_id)


def _event_fields(evaluation: Evaluation) -> list[str]:
    e = evaluation
    # Agent: every service process on this store reads that agent's ratings again (ami/rating_events.py)
    return [f"Call: {e.call_uniqueid}", f"Direction: {e.direction}", f"Evaluation: {e.id}", f"Agent: {e.agent_id}"]


def penalty_follows(penalties: PenaltyPush) -> Callable[[Evaluation], Awaitable[None]]:
    """For the journal's replay: a rating the store took late moves its agent's penalty like any other."""

    async def landed(evaluation: Evaluation) -> None:
        if evaluation.direction == CLIENT_TO_AGENT:
            await penalties.agent_rated(evaluation.agent_id)

    return landed
