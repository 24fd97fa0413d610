"""Asking one side of a call to rate the other: one digit 1-5 per category, read back, stored at once."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from callcenter.agi import AGISession
from callcenter.evaluation.rules import Rater, Refusal, may_rate
from callcenter.flows import speech
from callcenter.flows.ask import ask, say
from callcenter.flows.deps import FlowDeps
from callcenter.store import Direction, EvaluationRefused, RefusalReason
from callcenter.store.models import CLIENT_TO_AGENT

log = structlog.get_logger(__name__)

SKIP = "*"


async def refusal_for(deps: FlowDeps, call: str, rater: Rater) -> Refusal | None:
    """Why ``rater`` may not add, change or delete their rating of ``call`` now (the rules), or None."""
    record = await deps.store.get_call(call)
    if record is None:
        return Refusal.NOT_ANSWERED
    return may_rate(record, rater, deps.clock(), deps.rules)


async def rate(
    session: AGISession, deps: FlowDeps, *, call: str, direction: Direction, rater: Rater, subject: Sequence[str]
) -> bool:
    """Ask for the scores of ``subject`` on ``call`` and store them; False if skipped or refused.

    The rules (only the parties, minimum talk time, edit window) are checked before the caller is asked anything.
    """
    refusal = await refusal_for(deps, call, rater)
    if refusal is not None:
        log.info("rating_not_offered", call=call, direction=direction, reason=str(refusal))
        return False
    actor = f"{rater.kind}:{rater.id}"
    categories = deps.categories
    count = len(categories)

    def valid(keys: str) -> bool:
        return keys.startswith(SKIP) or (len(keys) == count and all(k in "12345" for k in keys))

    keys = await ask(
        session,
        speech.rating_request(*subject, categories=categories),
        valid,
        deps.asking,
        max_digits=count,
        step=f"rate_{direction}",
    )
    if keys is None or keys.startswith(SKIP):
        log.info("rating_skipped", call=call, direction=direction)
        return False
    scores = dict(zip(categories, (int(k) for k in keys), strict=True))
    try:
        evaluation = await deps.writes.record_evaluation(call, direction, scores, actor, deps.clock())
    except EvaluationRefused as exc:
        log.warning("rating_refused", call=call, direction=direction, reason=str(exc.reason))
        await say(session, ["cc/rating-removed" if exc.reason == RefusalReason.REMOVED else "cc/not-rated"])
        return False
    if evaluation is None:
        # the store is locked, full or unwritable now: the keys are journaled and written when it is back; the
        # rater hears the read-back as usual (the rules were checked before they were asked)
        await say(session, speech.rating_readback(scores))
        return True
    log.info("rating_stored", call=call, direction=direction, scores=scores, evaluation=evaluation.id)
    if direction == CLIENT_TO_AGENT:
        # before the read-back: a caller who hangs up while it plays must not keep the new penalty from Asterisk
        await deps.on_agent_rated(evaluation.agent_id)
    # for dashboards and the tests: the same fact on AMI, from the channel that gave the rating
    await session.exec(
        "UserEvent", "CallCenterRated", f"Call: {call}", f"Direction: {direction}", f"Evaluation: {evaluation.id}"
    )
    await say(session, speech.rating_readback(scores))
    return True


async def unrate(session: AGISession, deps: FlowDeps, *, call: str, direction: Direction, rater: Rater) -> bool:
    """Delete the rater's rating of ``call`` (soft: it leaves the aggregates, stays in the audit trail)."""
    refusal = await refusal_for(deps, call, rater)
    if refusal is not None:
        log.info("rating_delete_refused", call=call, direction=direction, reason=str(refusal))
        return False
    deleted = await deps.writes.delete_evaluation(
        call, direction, f"{rater.kind}:{rater.id}", "deleted by the rater by phone", deps.clock()
    )
    if deleted is None:
        # journaled (the store is down now): deleted as far as the rater is concerned, done when it is back
        return deps.writes.waiting(call, "unrate")
    log.info("rating_deleted", call=call, direction=direction, evaluation=deleted.id)
    if direction == CLIENT_TO_AGENT:
        await deps.on_agent_rated(deleted.agent_id)
    await session.exec(
        "UserEvent", "CallCenterRatingDeleted", f"Call: {call}", f"Direction: {direction}", f"Evaluation: {deleted.id}"
    )
    return True
