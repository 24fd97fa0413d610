"""The self-service review list, shared by callers and agents: the calls you were a party to, newest first, with
your current rating of each; add, change or delete it, move to the next or previous call.

Only calls the store says this rater was a party to are listed, and every add, change and delete goes through
the rating dialogue, whose use case asks the rules (``may_rate``) first: no key sequence reaches anyone else's call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import structlog

from callcenter.agi import AGISession
from callcenter.config import SelfServiceConfig
from callcenter.domain.rules import Rater, RatingRules, Refusal
from callcenter.ivr import speech
from callcenter.ivr.ask import Asking, ask, say
from callcenter.ivr.rating import RatingDialogue
from callcenter.store import Call, Direction
from callcenter.store.api import EvaluationStore
from callcenter.usecases.ports import Clock
from callcenter.usecases.review import REMOVED, Blocked
from callcenter.usecases.review import blocked as blocked_by

log = structlog.get_logger(__name__)

# every key moves or acts; this only stops a stuck key from holding the line for ever
MAX_ROUNDS = 60
BLOCKED: dict[Blocked, str] = {
    Refusal.WINDOW_CLOSED: "cc/rating-frozen",
    Refusal.TOO_SHORT: "cc/too-short",
    REMOVED: "cc/rating-removed",
}
RATE, DELETE, NEXT, PREVIOUS, REPEAT, FINISH = "1", "7", "6", "4", "*", "#"


@dataclass(frozen=True, slots=True)
class Reviewer:
    """Who reviews, which way their ratings go, and how the other party of a call is named to them."""

    rater: Rater
    direction: Direction
    calls: Callable[[int], Awaitable[list[Call]]]  # the rater's served calls, newest first, up to n
    party: Callable[[Call], Awaitable[Sequence[str]]]  # "Alice" / "the caller whose number ends in 4 5 6 7"


class Review:
    def __init__(
        self,
        *,
        evaluations: EvaluationStore,
        dialogue: RatingDialogue,
        asking: Asking,
        selfservice: SelfServiceConfig,
        rules: RatingRules,
        clock: Clock,
    ) -> None:
        self.evaluations = evaluations
        self.dialogue = dialogue
        self.asking = asking
        self.selfservice = selfservice
        self.rules = rules
        self.clock = clock

    async def __call__(self, session: AGISession, reviewer: Reviewer) -> None:
        d = self
        categories = self.dialogue.categories
        calls = await reviewer.calls(d.selfservice.review_calls)
        log.info("review_started", rater=f"{reviewer.rater.kind}:{reviewer.rater.id}", calls=len(calls))
        if not calls:
            await say(session, ["cc/no-calls-to-review"])
            return
        zone = ZoneInfo(d.selfservice.timezone)
        index = 0
        for _ in range(MAX_ROUNDS):
            call = calls[index]
            evaluation = await d.evaluations.get_evaluation(call.uniqueid, reviewer.direction)
            live = evaluation.scores if evaluation is not None and not evaluation.deleted else {}
            # read back in the configured category order, as the rating was asked
            scores = {c: live[c] for c in categories if c in live} or None
            # an operator removed it (e.g. abusive): said now, not after the rater keyed every score
            why = await blocked_by(d.evaluations, call, evaluation, rater=reviewer.rater, now=d.clock(), rules=d.rules)
            blocked = None if why is None else BLOCKED.get(why, "cc/rating-frozen")
            assert call.answered_at is not None  # served_calls lists answered calls only
            party = await reviewer.party(call)
            entry = speech.ReviewEntry(
                index + 1, len(calls), speech.call_date(call.answered_at, d.clock(), zone), party, scores, blocked
            )
            allowed = {REPEAT, FINISH}
            allowed |= {NEXT} if index + 1 < len(calls) else set()
            allowed |= {PREVIOUS} if index > 0 else set()
            allowed |= ({RATE, DELETE} if scores else {RATE}) if blocked is None else set()
            key = await ask(session, speech.review_entry(entry), allowed.__contains__, d.asking, step="review")
            if key is None or key == FINISH:
                return
            if key == NEXT:
                index += 1
            elif key == PREVIOUS:
                index -= 1
            elif key == RATE:
                await d.dialogue.rate(
                    session, call=call.uniqueid, direction=reviewer.direction, rater=reviewer.rater, subject=party
                )
            elif key == DELETE:
                await d._delete(session, reviewer, call)

    async def _delete(self, session: AGISession, reviewer: Reviewer, call: Call) -> None:
        # a delete is one key away from "next": ask once more, and anything but 7 keeps the rating
        confirm = await ask(
            session, ["cc/confirm-delete"], lambda _: True, Asking(self.asking.timeout, 1), step="confirm_delete"
        )
        deleted = confirm == DELETE and await self.dialogue.unrate(
            session, call=call.uniqueid, direction=reviewer.direction, rater=reviewer.rater
        )
        await say(session, ["cc/rating-deleted" if deleted else "cc/rating-kept"])
