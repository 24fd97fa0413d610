"""Signing in and out. The forms carry a double-submit token (``auth.form_token``); every sign-in issues a new
session cookie (a planted one is never signed in); a wrong secret says only "did not match"."""

from __future__ import annotations

import re

from starlette.responses import RedirectResponse, Response

from callcenter.domain.rules import Rater
from callcenter.usecases.sign_in import Refused, SignIn
from callcenter.web.auth import Sessions, form_token_ok
from callcenter.web.pages import Ctx, Pages

HOME = {"operator": "/board", "agent": "/me", "client": "/me"}
# where a sign-in may continue to (``?next=`` from a private page): only our own pages, for that kind of visitor
NEXT = {
    "operator": re.compile(r"/(board|agents|audit)[A-Za-z0-9/]*"),
    "agent": re.compile(r"/me"),
    "client": re.compile(r"/me"),
}


def home_of(rater: Rater) -> str:
    return HOME[rater.kind]


def next_for(rater: Rater, asked: str) -> str:
    return asked if NEXT[rater.kind].fullmatch(asked) else home_of(rater)


class SignInPages:
    def __init__(self, pages: Pages, sessions: Sessions, sign_in: SignIn) -> None:
        self.pages = pages
        self.sessions = sessions
        self.sign_in = sign_in

    async def index(self, ctx: Ctx) -> Response:
        return RedirectResponse(home_of(ctx.visitor.rater) if ctx.visitor else "/signin", 303)

    async def form(self, ctx: Ctx, *, problem: str | None = None, status: int = 200) -> Response:
        token = self.sessions.form_token(ctx.request)
        asked = ctx.form.get("next") or ctx.request.query_params.get("next", "")
        page = self.pages.render(ctx, "signin.html", status=status, problem=problem, form_token=token, next=asked[:100])
        self.sessions.set_form_token(page, token)
        return page

    async def show(self, ctx: Ctx) -> Response:
        return await self.form(ctx)

    async def operator(self, ctx: Ctx) -> Response:
        if not form_token_ok(ctx.request, ctx.form.get("form", "")):
            return await self.form(ctx, problem=ctx.t.bad_form, status=403)
        return await self._done(
            ctx, await self.sign_in.operator(ctx.form.get("name", ""), ctx.form.get("password", ""))
        )

    async def agent(self, ctx: Ctx) -> Response:
        if not form_token_ok(ctx.request, ctx.form.get("form", "")):
            return await self.form(ctx, problem=ctx.t.bad_form, status=403)
        return await self._done(ctx, await self.sign_in.agent(ctx.form.get("agent", ""), ctx.form.get("pin", "")))

    async def caller(self, ctx: Ctx) -> Response:
        if not form_token_ok(ctx.request, ctx.form.get("form", "")):
            return await self.form(ctx, problem=ctx.t.bad_form, status=403)
        return await self._done(ctx, await self.sign_in.caller(ctx.form.get("number", ""), ctx.form.get("secret", "")))

    async def _done(self, ctx: Ctx, result: Rater | Refused) -> Response:
        if isinstance(result, Refused):
            problem = {Refused.LOCKED: ctx.t.locked, Refused.BUSY: ctx.t.busy_signin}.get(result, ctx.t.wrong)
            status = {Refused.LOCKED: 429, Refused.BUSY: 503}.get(result, 401)
            return await self.form(ctx, problem=problem, status=status)
        response = RedirectResponse(next_for(result, ctx.form.get("next", "")), 303)
        await self.sessions.sign_in(ctx.request, response, result)
        return response

    async def sign_out(self, ctx: Ctx) -> Response:
        response = RedirectResponse("/signin", 303)
        if ctx.visitor is not None:
            await self.sessions.sign_out(ctx.visitor, response)
        return response
