"""What every page shares: the visitor and their language, the guard each route declares, bounded form reading,
rendering with autoescaped templates, and the headers every answer carries.

A route says who may reach it (``Guard``: nobody signed in, or a set of rater kinds) in the console's one route
table (``console.py``); the guard runs before the handler, so no handler can forget it:
* not signed in, on a private page: a GET is sent to the sign-in page, anything else is refused (403);
* signed in as the wrong kind: 403;
* every POST: same origin (``Origin``/``Referer``), a body of at most ``MAX_FORM`` bytes, and, for a signed-in
  visitor, the session's CSRF token in the form. A refused form changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from callcenter.web import catalog
from callcenter.web.auth import LANG_COOKIE, Sessions, Visitor, csrf_ok, same_origin
from callcenter.web.catalog import Texts

MAX_FORM: Final = 16 * 1024  # bytes: every form here is a few fields
FORM_SECONDS: Final = 10.0  # a form's body must arrive within this long (a trickled body holds a connection)
HEADERS: Final[Mapping[str, str]] = {
    # nothing from elsewhere: no CDN, no inline script (the wallboard's data rides in a JSON script element)
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class FormTooLarge(Exception):
    pass


class FormRefused(Exception):
    """The body came too slowly, or the client went away before sending it."""


@dataclass(frozen=True, slots=True)
class Guard:
    """Who may reach a route: ``kinds`` None is anyone (the sign-in page, health); else signed-in raters of
    those kinds (``operator``, ``agent``, ``client``)."""

    kinds: frozenset[str] | None

    @property
    def public(self) -> bool:
        return self.kinds is None


PUBLIC: Final = Guard(None)
OPERATORS: Final = Guard(frozenset({"operator"}))
AGENTS: Final = Guard(frozenset({"agent"}))
RATERS: Final = Guard(frozenset({"agent", "client"}))
SIGNED_IN: Final = Guard(frozenset({"operator", "agent", "client"}))


@dataclass
class Ctx:
    request: Request
    visitor: Visitor | None
    t: Texts
    form: Mapping[str, str] = field(default_factory=dict)
    who: str = ""  # how the header names the visitor

    def param(self, name: str) -> str:
        return str(self.request.path_params.get(name, ""))


Handler = Callable[[Ctx], Awaitable[Response]]


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form, read up to MAX_FORM bytes (FormTooLarge beyond): a client cannot make us buffer more."""
    declared = request.headers.get("content-length")
    if declared is not None and (not re.fullmatch(r"[0-9]{1,9}", declared) or int(declared) > MAX_FORM):
        raise FormTooLarge
    body = bytearray()
    try:
        async with asyncio.timeout(FORM_SECONDS):
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_FORM:
                    raise FormTooLarge
    except (TimeoutError, ClientDisconnect):
        raise FormRefused from None
    try:
        pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=64)
    except ValueError:  # more fields than any form of ours has
        raise FormTooLarge from None
    return dict(pairs)


class Pages:
    def __init__(self, sessions: Sessions, name_of: Callable[[Visitor], Awaitable[str]], *, origin: str = "") -> None:
        self.sessions = sessions
        self.name_of = name_of
        self.origin = origin
        self.env = Environment(
            loader=PackageLoader("callcenter.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def guarded(self, handler: Handler, guard: Guard) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            asked = request.query_params.get("lang")
            t = Texts(catalog.choose(asked, request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")))
            visitor = await self.sessions.visitor(request)
            ctx = Ctx(request, visitor, t)
            if not guard.public and (visitor is None or visitor.kind not in (guard.kinds or ())):
                if visitor is None and request.method == "GET":
                    return self.finish(ctx, RedirectResponse(f"/signin?next={quote(request.url.path)}", 303))
                return self.finish(ctx, await self.message(ctx, t.forbidden, status=403))
            if request.method == "POST":
                refused = await self._check_form(ctx, guard)
                if refused is not None:
                    return self.finish(ctx, refused)
            if visitor is not None:
                ctx.who = await self.name_of(visitor)
            response = await handler(ctx)
            if asked is not None and asked in catalog.CATALOG:
                response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86400, samesite="lax", path="/")
            return self.finish(ctx, response)

        return endpoint

    async def _check_form(self, ctx: Ctx, guard: Guard) -> Response | None:
        if not same_origin(ctx.request, self.origin):
            return await self.message(ctx, ctx.t.bad_form, status=403)
        try:
            ctx.form = await read_form(ctx.request)
        except FormTooLarge:
            return await self.message(ctx, ctx.t.bad_form, status=413)
        except FormRefused:
            return await self.message(ctx, ctx.t.bad_form, status=408)
        if not guard.public and (ctx.visitor is None or not csrf_ok(ctx.visitor, ctx.form.get("csrf", ""))):
            return await self.message(ctx, ctx.t.bad_form, status=403)
        return None

    @staticmethod
    def finish(ctx: Ctx, response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if ctx.visitor is not None or not ctx.request.url.path.startswith("/static/"):
            # private pages are never kept by the browser or a proxy (the back button after sign-out)
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    def render(self, ctx: Ctx, template: str, *, status: int = 200, **data: Any) -> HTMLResponse:
        page = self.env.get_template(template).render(
            t=ctx.t,
            visitor=ctx.visitor,
            who=ctx.who,
            languages=[(code, catalog.CATALOG[code]["lang_name"]) for code in catalog.LANGUAGES],
            **data,
        )
        return HTMLResponse(page, status_code=status)

    async def message(self, ctx: Ctx, problem: str, *, status: int) -> Response:
        return self.render(ctx, "message.html", status=status, problem=problem)


def script_json(data: object) -> str:
    """JSON safe inside a <script type="application/json"> element: no "</script>" or "<!--" can close it."""
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def plain(text: str, *, status: int = 200, media_type: str = "text/plain; charset=utf-8") -> Response:
    return PlainTextResponse(text, status_code=status, media_type=media_type)
