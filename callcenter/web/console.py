"""The web console put together: every page's handler, who may reach it, in one route table (``routes``), and the
Starlette application serving them. Built once by the composition root (``app.py``) from the use cases the IVR
uses, so the web and the phone share every rule.

Pages (the closing note and the README list them too):

===========================================  ==========  ======================================================
route                                        who         what
===========================================  ==========  ======================================================
GET  /                                       anyone      to the visitor's home page, or to sign in
GET  /signin, POST /signin/{kind}            anyone      sign in: operator (password), agent (PIN), caller
                                                         (PIN or the IVR's one-time code)
POST /signout                                signed in   end the session
GET  /board                                  operators   the live wallboard (then /board/events)
GET  /board/events, /board/state             operators   the wallboard's snapshots: SSE stream, JSON once
GET  /charts/scores.svg                      operators   agents by overall score (histogram)
GET  /agents, /agents/{id}                   operators   the roster; one agent's scores, charts, received
                                                         ratings with the removal form
GET  /charts/agents/{id}/trend.svg,          operators,  an agent's weekly trend per category; the scores
     /charts/agents/{id}/scores.svg          that agent  they got, by category
POST /ratings/remove                         operators   moderation: remove a rating with a reason
GET  /audit                                  operators   the audit trail, by agent, caller number or call
GET  /me                                     callers,    the calls you were a party to and your rating of each;
                                             agents      an agent's availability and charts
POST /me/rate, /me/unrate                    callers,    add or change / delete your rating of a call
                                             agents
POST /me/duty                                agents      log in, pause with a reason, resume, log out
GET  /metrics, /healthz, /readyz             anyone      Prometheus metrics; alive; ready (store, AMI, schema)
GET  /static/...                             anyone      the stylesheet and the wallboard's script
===========================================  ==========  ======================================================
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from callcenter.store import Store
from callcenter.web import catalog
from callcenter.web.auth import LANG_COOKIE, Visitor
from callcenter.web.catalog import Texts
from callcenter.web.pages import AGENTS, OPERATORS, PUBLIC, RATERS, SIGNED_IN, Ctx, Guard, Handler, Pages
from callcenter.web.views.board import BoardPages
from callcenter.web.views.machines import MachinePages
from callcenter.web.views.moderation import ModerationPages
from callcenter.web.views.selfservice import SelfServicePages
from callcenter.web.views.signin import SignInPages

CHART_VIEWERS = Guard(frozenset({"operator", "agent"}))


@dataclass(frozen=True, slots=True)
class Page:
    path: str
    handler: Handler
    guard: Guard
    method: str = "GET"


class WebConsole:
    def __init__(
        self,
        *,
        pages: Pages,
        signin: SignInPages,
        board: BoardPages,
        selfservice: SelfServicePages,
        moderation: ModerationPages,
        machines: MachinePages,
    ) -> None:
        self.pages = pages
        s, b, m, me, x = signin, board, moderation, selfservice, machines
        # every route and who may reach it, in one place (tests/unit/web and tests/web check each one)
        self.table: tuple[Page, ...] = (
            Page("/", s.index, PUBLIC),
            Page("/signin", s.show, PUBLIC),
            Page("/signin/operator", s.operator, PUBLIC, "POST"),
            Page("/signin/agent", s.agent, PUBLIC, "POST"),
            Page("/signin/caller", s.caller, PUBLIC, "POST"),
            Page("/signout", s.sign_out, SIGNED_IN, "POST"),
            Page("/board", b.page, OPERATORS),
            Page("/board/events", b.events, OPERATORS),
            Page("/board/state", b.state, OPERATORS),
            Page("/charts/scores.svg", b.scores_chart, OPERATORS),
            Page("/agents", m.roster, OPERATORS),
            Page("/agents/{agent_id}", m.agent, OPERATORS),
            Page("/charts/agents/{agent_id}/trend.svg", m.trend_chart, CHART_VIEWERS),
            Page("/charts/agents/{agent_id}/scores.svg", m.scores_chart, CHART_VIEWERS),
            Page("/ratings/remove", m.remove, OPERATORS, "POST"),
            Page("/audit", m.audit, OPERATORS),
            Page("/me", me.page, RATERS),
            Page("/me/rate", me.rate, RATERS, "POST"),
            Page("/me/unrate", me.unrate, RATERS, "POST"),
            Page("/me/duty", me.set_duty, AGENTS, "POST"),
            Page("/metrics", x.metrics, PUBLIC),
            Page("/healthz", x.healthz, PUBLIC),
            Page("/readyz", x.readyz, PUBLIC),
        )

    def routes(self) -> list[BaseRoute]:
        found: list[BaseRoute] = [
            Route(p.path, self.pages.guarded(p.handler, p.guard), methods=[p.method]) for p in self.table
        ]
        static = resources.files("callcenter.web").joinpath("static")
        found.append(Mount("/static", app=StaticFiles(directory=str(static)), name="static"))
        return found

    def app(self) -> Starlette:
        async def not_found(request: Request, exc: Exception) -> Response:
            lang = catalog.choose(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE), None)
            ctx = Ctx(request, None, Texts(lang))
            return self.pages.finish(ctx, await self.pages.message(ctx, ctx.t.not_found, status=404))

        app = Starlette(routes=self.routes(), exception_handlers={404: not_found, 405: not_found})
        # "/agents/" is not "/agents": Starlette's redirect would name the Host header's site (any site) in Location
        app.router.redirect_slashes = False
        return app


def name_of(store: Store) -> Callable[[Visitor], Awaitable[str]]:
    """How the header names a signed-in visitor: an operator by name, an agent by number and name, a caller by
    their phone number."""

    async def named(visitor: Visitor) -> str:
        rater = visitor.rater
        if rater.kind == "agent":
            agent = await store.get_agent(rater.id)
            return f"{rater.id} {agent.name}" if agent is not None else rater.id
        if rater.kind == "client" and rater.id.isdigit():
            client = await store.get_client(int(rater.id))
            return client.number if client is not None else ""
        return rater.id

    return named
