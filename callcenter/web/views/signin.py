"""Signing in and out. The forms carry a double-submit token (``auth.form_token``); every sign-in issues a new
session cookie (a planted one is never signed in); a wrong secret says only "did not match"."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from callcenter.domain.rules import Rater
from callcenter.usecases.sign_in import Refused, SignIn
from callcenter.web.auth import Sessions, form_token_ok
from callcenter.web.pages import Ctx, Pages

HOME = {"operator": "/board", "agent": "/me", "client": "/me"}


def home_of(rater: Rater) -> str:
    return HOME[rater.kind]


class SignInPages:
    def __init__(self, pages: Pages, sessions: Sessions, sign_in: SignIn) -> None:
        self.pages = pages
        self.sessions = sessions
        self.sign_in = sign_in

    async def index(self, ctx: Ctx) -> Response:
        return RedirectResponse(home_of(ctx.visitor.rater) if ctx.visitor else "/signin", 303)

    async def form(self, ctx: Ctx, *, problem: str | None = None, status: int = 200) -> Response:
        token = self.sessions.form_token(ctx.request)
        page = self.pages.render(ctx, "signin.html", status=status, problem=problem, form_token=token)
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
            problem = ctx.t.locked if result is Refused.LOCKED else ctx.t.wrong
            return await self.form(ctx, problem=problem, status=429 if result is Refused.LOCKED else 401)
        response = RedirectResponse(home_of(result), 303)
        await self.sessions.sign_in(ctx.request, response, result)
        return response

    async def sign_out(self, ctx: Ctx) -> Response:
        response = RedirectResponse("/signin", 303)
        if ctx.visitor is not None:
            await self.sessions.sign_out(ctx.visitor, response)
        return response
