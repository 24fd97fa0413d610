"""Operators: the roster with each agent's state and score, an agent's charts and received ratings with the
removal form (moderation: the ``Ratings.remove`` use case the CLI's ``evaluations remove`` uses, with a reason kept
in the audit trail), and the audit trail itself (``usecases/history.py``, as ``evaluations history``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import structlog
from starlette.responses import RedirectResponse, Response

from callcenter.domain.rules import removed_by_operator
from callcenter.domain.summaries import Scoring
from callcenter.store import Direction, Store
from callcenter.store.models import CLIENT_TO_AGENT, DIRECTIONS, CategoryDef
from callcenter.usecases.history import Who, history
from callcenter.usecases.lookups import client_numbers
from callcenter.usecases.ports import EmitEvent
from callcenter.usecases.ratings import Ratings
from callcenter.web import charts
from callcenter.web.board import Board
from callcenter.web.pages import Ctx, Pages

log = structlog.get_logger(__name__)

CHART_EVALUATIONS: Final = 500  # the newest this many ratings draw an agent's charts
AUDIT_ROWS: Final = 200
_DIRECTIONS: Final[Mapping[str, Direction]] = {d: d for d in DIRECTIONS}


def _scores_text(scores: Mapping[str, int] | None) -> str:
    return "" if not scores else ", ".join(f"{k} {v}" for k, v in scores.items())


_ACTIONS: Final[Mapping[str, str]] = {
    "created": "created",
    "changed": "update",
    "deleted by the rater": "deleted_by_rater",
    "removed by an operator": "removed_action",
    "rated again": "revive",
}


def _action(ctx: Ctx, action: str) -> str:
    """The audit trail's words (``usecases/history.py``), in the page's language."""
    return ctx.t[_ACTIONS[action]] if action in _ACTIONS else action


def _who(ctx: Ctx, who: Who) -> str:
    if who.kind == "caller":
        return f"{ctx.t.caller} {who.number}"
    if who.kind == "agent":
        return f"{ctx.t.agent} {who.id} {who.name or ''}".rstrip()
    if who.kind == "operator":
        return f"{ctx.t.operator} {who.name}"
    return f"{ctx.t.system} ({who.name})"


class ModerationPages:
    def __init__(
        self,
        *,
        pages: Pages,
        store: Store,
        ratings: Ratings,
        board: Board,
        scoring: Scoring,
        categories: Sequence[CategoryDef],
        emit: EmitEvent,
    ) -> None:
        self.emit = emit
        self.pages = pages
        self.store = store
        self.ratings = ratings
        self.board = board
        self.scoring = scoring
        self.categories = tuple(categories)

    async def roster(self, ctx: Ctx) -> Response:
        """Every agent on the roster, from the wallboard's rows (the kept ranking's scores): no store read, so
        opening it at 10k agents costs the calls nothing."""
        live = self.board.rows()
        rows = [
            {
                "id": spec.id,
                "name": spec.name,
                "state": live.get(spec.id, {}).get("state", "logged_out"),
                "reason": live.get(spec.id, {}).get("reason"),
                "score": None if live.get(spec.id, {}).get("score") is None else f"{live[spec.id]['score']:.2f}",
                "grade": live.get(spec.id, {}).get("grade"),
                "ratings": live.get(spec.id, {}).get("ratings", 0),
            }
            for spec in self.board.agents
        ]
        return self.pages.render(ctx, "roster.html", agents=rows)

    async def agent(self, ctx: Ctx) -> Response:
        agent = await self.store.get_agent(ctx.param("agent_id"))
        if agent is None:
            return await self.pages.message(ctx, ctx.t.not_found, status=404)
        score = self.scoring(await self.store.agent_summary(agent.id))
        evaluations = await self.store.list_evaluations(
            agent_id=agent.id, direction=CLIENT_TO_AGENT, include_deleted=True, limit=50
        )
        numbers = await client_numbers(self.store, {e.client_id for e in evaluations})
        removed = set()
        for e in evaluations:
            if e.deleted:  # by the rater, or removed by an operator: the trail's last word says which
                trail = await self.store.evaluation_history(e.id)
                if trail and removed_by_operator(trail[-1].action, trail[-1].actor):
                    removed.add(e.id)
        return self.pages.render(
            ctx,
            "agent.html",
            agent=agent,
            notice=ctx.t.removed_ok if ctx.request.query_params.get("removed") else None,
            score_line=f"{score.overall:.2f} ({ctx.t.ratings_count.format(n=score.count)})",
            categories=[(c.label, f"{score.per_category.get(c.id, 0):.2f}") for c in self.categories],
            moderate=True,
            evaluations=[
                {
                    "call": e.call_uniqueid,
                    "at": e.created_at.strftime("%Y-%m-%d %H:%M"),
                    "caller": numbers.get(e.client_id, "?"),
                    "scores": _scores_text(e.scores),
                    "deleted": ctx.t.removed if e.id in removed else ctx.t.deleted_by_rater if e.deleted else None,
                }
                for e in evaluations
            ],
        )

    async def remove(self, ctx: Ctx) -> Response:
        assert ctx.visitor is not None
        call, direction = ctx.form.get("call", "")[:64], _DIRECTIONS.get(ctx.form.get("direction", ""))
        reason = ctx.form.get("reason", "").strip()[:200]
        if direction is None or not reason:
            return await self.pages.message(ctx, ctx.t.bad_form, status=400)
        try:
            removed = await self.ratings.remove(
                call, direction, operator=ctx.visitor.rater.id, reason=reason, emit=self.emit
            )
        except LookupError as exc:
            log.info("web_removal_refused", call=call, reason=str(exc))
            return await self.pages.message(ctx, ctx.t.not_found, status=404)
        self.board.ratings_changed(removed.agent_id if removed is not None else None)
        back = ctx.form.get("back", "")
        # only our own pages: a crafted "back" must not send the operator elsewhere
        target = back if re.fullmatch(r"/agents/[0-9]{2,8}", back) else "/audit"
        return RedirectResponse(f"{target}?removed=1", 303)

    async def audit(self, ctx: Ctx) -> Response:
        q = ctx.request.query_params
        filters = {k: q.get(k, "").strip()[:64] for k in ("agent", "number", "call")}
        try:
            rows = await history(
                self.store,
                call=filters["call"] or None,
                agent_id=filters["agent"] or None,
                number=filters["number"] or None,
                limit=AUDIT_ROWS,
            )
        except LookupError:
            rows = []
        shown: list[dict[str, Any]] = [
            {
                "at": r.at.strftime("%Y-%m-%d %H:%M:%S"),
                "call": r.call,
                "agent": f"{r.agent_id} {r.agent_name or ''}",
                "caller": r.caller or "",
                "direction": ctx.t.caller_to_agent if r.direction == CLIENT_TO_AGENT else ctx.t.agent_to_caller,
                "action": _action(ctx, r.action),
                "who": _who(ctx, r.who),
                "old": _scores_text(r.old),
                "new": _scores_text(r.new),
                "reason": r.reason or "",
            }
            for r in rows
        ]
        notice = ctx.t.removed_ok if q.get("removed") else None
        return self.pages.render(ctx, "audit.html", rows=shown, filters=filters, notice=notice)

    async def _chart_data(self, ctx: Ctx) -> tuple[str, list[Any]] | None:
        """The agent of a chart URL and their received ratings, if the visitor may see them: an operator, or that
        agent themself."""
        assert ctx.visitor is not None
        agent_id = ctx.param("agent_id")
        if ctx.visitor.kind == "agent" and ctx.visitor.rater.id != agent_id:
            return None
        if await self.store.get_agent(agent_id) is None:
            return None
        found = await self.store.list_evaluations(agent_id=agent_id, direction=CLIENT_TO_AGENT, limit=CHART_EVALUATIONS)
        return agent_id, found

    async def trend_chart(self, ctx: Ctx) -> Response:
        data = await self._chart_data(ctx)
        if data is None:
            return await self.pages.message(ctx, ctx.t.forbidden, status=403)
        svg = charts.trend(data[1], [(c.id, c.label) for c in self.categories], ctx.t.trend_chart)
        return Response(svg, media_type="image/svg+xml")

    async def scores_chart(self, ctx: Ctx) -> Response:
        data = await self._chart_data(ctx)
        if data is None:
            return await self.pages.message(ctx, ctx.t.forbidden, status=403)
        counts = charts.score_counts(data[1], [c.id for c in self.categories])
        svg = charts.distribution(counts, [(c.id, c.label) for c in self.categories], ctx.t.distribution_chart)
        return Response(svg, media_type="image/svg+xml")
