"""Asking one side of a call to rate the other: one digit 1-5 per category, read back, stored at once.

The dialogue only: the rules, the write, the penalty push and the event are the use case's
(``callcenter/usecases/ratings.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import structlog

from callcenter.agi import AGISession
from callcenter.domain.rules import Rater
from callcenter.ivr import speech
from callcenter.ivr.ask import Asking, ask, say
from callcenter.store import Direction, EvaluationRefused, RefusalReason
from callcenter.usecases.ratings import Permit, Ratings

log = structlog.get_logger(__name__)

SKIP = "*"


def user_event(session: AGISession) -> Callable[[str, Sequence[str]], Awaitable[None]]:
    """The use cases' events, sent on AMI from this call's channel (EXEC UserEvent)."""

    async def emit(name: str, fields: Sequence[str]) -> None:
        await session.exec("UserEvent", name, *fields)

    return emit


class RatingDialogue:
    def __init__(self, ratings: Ratings, asking: Asking, categories: tuple[str, ...]) -> None:
        self.ratings = ratings
        self.asking = asking
        self.categories = categories

    async def rate(
        self, session: AGISession, *, call: str, direction: Direction, rater: Rater, subject: Sequence[str]
    ) -> bool:
        """Ask for the scores of ``subject`` on ``call`` and store them; False if skipped or refused.

        The rules (only the parties, minimum talk time, edit window) are checked before anything is asked."""
        permit = await self.ratings.permit(call, direction, rater)
        if not isinstance(permit, Permit):
            log.info("rating_not_offered", call=call, direction=direction, reason=str(permit))
            return False
        categories = self.categories
        count = len(categories)

        def valid(keys: str) -> bool:
            return keys.startswith(SKIP) or (len(keys) == count and all(k in "12345" for k in keys))

        keys = await ask(
            session,
            speech.rating_request(*subject, categories=categories),
            valid,
            self.asking,
            max_digits=count,
            step=f"rate_{direction}",
        )
        if keys is None or keys.startswith(SKIP):
            log.info("rating_skipped", call=call, direction=direction)
            return False
        scores = dict(zip(categories, (int(k) for k in keys), strict=True))
        try:
            # None: the store is locked, full or unwritable now; the keys are journaled and written when it is
            # back, and the rater hears the read-back as usual (the rules were checked before they were asked)
            await self.ratings.rate(permit, scores, emit=user_event(session))
        except EvaluationRefused as exc:
            log.warning("rating_refused", call=call, direction=direction, reason=str(exc.reason))
            await say(session, ["cc/rating-removed" if exc.reason == RefusalReason.REMOVED else "cc/not-rated"])
            return False
        await say(session, speech.rating_readback(scores))
        return True

    async def unrate(self, session: AGISession, *, call: str, direction: Direction, rater: Rater) -> bool:
        """Delete the rater's rating of ``call`` (soft: it leaves the aggregates, stays in the audit trail)."""
        permit = await self.ratings.permit(call, direction, rater)
        if not isinstance(permit, Permit):
            log.info("rating_delete_refused", call=call, direction=direction, reason=str(permit))
            return False
        return await self.ratings.unrate(permit, emit=user_event(session))
