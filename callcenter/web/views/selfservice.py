"""Callers and agents on the web: the calls they were a party to, their rating of each, add / change / delete it
under exactly the phone's rules (the same ``Ratings`` use case, its ``permit`` first); agents also log in, pause
and resume here (the same ``AgentDuty`` as the agent menu)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final
from zoneinfo import ZoneInfo

import structlog
from starlette.responses import RedirectResponse, Response

from callcenter.ami.link import AMIError, AMILink
from callcenter.domain.rules import Rater, Refusal
from callcenter.store import Call, Direction, Store
from callcenter.store.errors import EvaluationRefused, RefusalReason
from callcenter.store.models import (
    AGENT_TO_CLIENT,
    CLIENT_TO_AGENT,
    MAX_SCORE,
    MIN_SCORE,
    PRESENCE_STATES,
    CategoryDef,
    PresenceState,
)
from callcenter.usecases.duty import AgentDuty
from callcenter.usecases.ports import Clock, EmitEvent
from callcenter.usecases.ratings import Permit, Ratings
from callcenter.usecases.review import REMOVED, Blocked, review
from callcenter.web.board import Board
from callcenter.web.pages import Ctx, Pages

log = structlog.get_logger(__name__)

SAVED: Final = {"rated": "rated_ok", "unrated": "unrated_ok", "pending": "pending", "duty": "duty_ok"}


def ami_events(ami: AMILink) -> EmitEvent:
    """The IVR's rating events, sent from the web as AMI UserEvent actions: every other service process on this
    store hears them and reads the agent's ratings again (``ami/rating_events.py``). With AMI down nothing is
    lost: the rating is stored, and the others' rankings re-read the store every round."""

    async def emit(name: str, fields: Sequence[str]) -> None:
        action: dict[str, str] = {"Action": "UserEvent", "UserEvent": name}
        for f in fields:
            key, _, value = f.partition(": ")
            action[key] = value
        try:
            await ami.send(action)
        except AMIError as exc:
            log.warning("web_event_not_sent", event=name, error=str(exc))

    return emit


def refusal_text(ctx: Ctx, why: Blocked) -> str:
    return ctx.t["refused_removed" if why == REMOVED else f"refused_{why}"]


class SelfServicePages:
    def __init__(
        self,
        *,
        pages: Pages,
        store: Store,
        ratings: Ratings,
        duty: AgentDuty,
        board: Board,
        emit: EmitEvent,
        categories: Sequence[CategoryDef],
        review_calls: int,
        timezone: str,
        pause_reasons: Sequence[str],
        clock: Clock,
    ) -> None:
        self.pages = pages
        self.store = store
        self.ratings = ratings
        self.duty = duty
        self.board = board
        self.emit = emit
        self.categories = tuple(categories)
        self.review_calls = review_calls
        self.zone = ZoneInfo(timezone)
        self.pause_reasons = tuple(pause_reasons)
        self.clock = clock

    @staticmethod
    def direction(rater: Rater) -> Direction:
        return CLIENT_TO_AGENT if rater.kind == "client" else AGENT_TO_CLIENT

    async def _calls(self, rater: Rater) -> list[Call]:
        if rater.kind == "client":
            return await self.store.served_calls(client_id=int(rater.id), limit=self.review_calls)
        return await self.store.served_calls(agent_id=rater.id, limit=self.review_calls)

    async def _party(self, rater: Rater, call: Call) -> str:
        if rater.kind == "client":
            agent = await self.store.get_agent(call.agent_id or "")
            return agent.name if agent is not None else str(call.agent_id)
        client = await self.store.get_client(call.client_id) if call.client_id is not None else None
        # as the agent menu says it: "the caller whose number ends in 4567"
        return f"… {client.number[-4:]}" if client is not None else "?"

    async def page(self, ctx: Ctx) -> Response:
        assert ctx.visitor is not None  # the guard lets raters only
        rater = ctx.visitor.rater
        reviewed = await review(
            self.store,
            await self._calls(rater),
            rater=rater,
            direction=self.direction(rater),
            categories=[c.id for c in self.categories],
            now=self.clock(),
            rules=self.ratings.rules,
        )
        labels = {c.id: c.label for c in self.categories}
        items = []
        for r in reviewed:
            when = r.call.answered_at or r.call.started_at
            items.append(
                {
                    "call": r.call.uniqueid,
                    "when": when.astimezone(self.zone).strftime("%Y-%m-%d %H:%M"),
                    "party": await self._party(rater, r.call),
                    "scores": r.scores,
                    "scores_text": ", ".join(f"{labels[k]} {v}" for k, v in (r.scores or {}).items()),
                    "blocked": None if r.blocked is None else refusal_text(ctx, r.blocked),
                }
            )
        duty = await self._duty(rater) if rater.kind == "agent" else None
        notice_key = SAVED.get(ctx.request.query_params.get("saved", ""))
        problem_key = _PROBLEMS.get(ctx.request.query_params.get("refused", ""))
        problem = ctx.t[problem_key] if problem_key else None
        return self.pages.render(
            ctx,
            "me.html",
            items=items,
            categories=[(c.id, c.label) for c in self.categories],
            duty=duty,
            pause_reasons=self.pause_reasons,
            agent_charts=rater.id if rater.kind == "agent" else None,
            notice=ctx.t[notice_key] if notice_key else None,
            problem=problem,
        )

    async def _duty(self, rater: Rater) -> dict[str, Any]:
        presence = (await self.duty.current([rater.id]))[rater.id]
        return {"state": presence.state, "reason": presence.reason}

    async def _permit(self, ctx: Ctx) -> Permit | Blocked:
        assert ctx.visitor is not None
        rater = ctx.visitor.rater
        call = ctx.form.get("call", "")[:64]
        record = await self.store.get_call(call)
        party = record is not None and (
            record.client_id == int(rater.id) if rater.kind == "client" else record.agent_id == rater.id
        )
        if not party:
            # an unknown call id, someone else's call (answered or not, from a withheld number or not): one answer,
            # which never tells which ids exist
            log.info("web_rating_refused", call=call, rater=rater.actor, reason=str(Refusal.NOT_A_PARTY))
            return Refusal.NOT_A_PARTY
        permit = await self.ratings.permit(call, self.direction(rater), rater)
        if isinstance(permit, Refusal):
            log.info("web_rating_refused", call=call, rater=rater.actor, reason=str(permit))
        return permit

    async def rate(self, ctx: Ctx) -> Response:
        permit = await self._permit(ctx)
        if not isinstance(permit, Permit):
            return _back(refused=str(permit))
        scores = _scores(ctx.form, [c.id for c in self.categories])
        if scores is None:
            return await self.pages.message(ctx, ctx.t.bad_form, status=400)
        try:
            stored = await self.ratings.rate(permit, scores, emit=self.emit)
        except EvaluationRefused as exc:
            return _back(refused="removed" if exc.reason == RefusalReason.REMOVED else "not_saved")
        self.board.ratings_changed()
        return _back(saved="rated" if stored is not None else "pending")

    async def unrate(self, ctx: Ctx) -> Response:
        permit = await self._permit(ctx)
        if not isinstance(permit, Permit):
            return _back(refused=str(permit))
        done = await self.ratings.unrate(permit, emit=self.emit)
        self.board.ratings_changed()
        if not done:
            return _back(refused="no_rating")  # none, or already deleted (a second tab, a double click)
        return _back(saved="pending" if self.ratings.writes.waiting(permit.call, "unrate") else "unrated")

    async def set_duty(self, ctx: Ctx) -> Response:
        assert ctx.visitor is not None  # the guard lets agents only
        assert ctx.visitor.kind == "agent"
        state = _STATES.get(ctx.form.get("state", ""))
        reason = ctx.form.get("reason") if state == "paused" else None
        if state is None or (state == "paused" and reason not in self.pause_reasons):
            return await self.pages.message(ctx, ctx.t.bad_form, status=400)
        await self.duty.change(ctx.visitor.rater.id, state, reason, actor=ctx.visitor.rater.actor, via="web")
        self.board.changed(ctx.visitor.rater.id)
        return _back(saved="duty")


_STATES: Final[Mapping[str, PresenceState]] = {s: s for s in PRESENCE_STATES}
# what ?refused= may name, and the text it shows
_PROBLEMS: Final[Mapping[str, str]] = {
    **{str(r): f"refused_{r}" for r in (*Refusal, REMOVED)},
    "not_saved": "not_saved",
    "no_rating": "no_rating",
}


def _scores(form: Mapping[str, str], categories: Sequence[str]) -> dict[str, int] | None:
    """One score 1..5 per configured category, or None (a form that is not ours)."""
    scores = {}
    for c in categories:
        value = form.get(f"score-{c}", "")
        # ASCII digits only: "³".isdigit() is true and int() refuses it, "٣" is int 3
        if not re.fullmatch(r"[0-9]", value) or not MIN_SCORE <= int(value) <= MAX_SCORE:
            return None
        scores[c] = int(value)
    return scores


def _back(**query: str) -> Response:
    ((key, value),) = query.items()
    return RedirectResponse(f"/me?{key}={value}", 303)
