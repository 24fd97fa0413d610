"""Who a request comes from, and the checks every private route makes: a server-side session, a CSRF token on
every form, same-origin writes.

* The session cookie holds 256 random bits; the store keeps only their SHA-256, with the subject and the session's
  CSRF token. Signing in always issues a new cookie and ends the one the browser brought (if any), so a session id
  planted before sign-in (session fixation) is never signed in. Signing out deletes the row.
* Every POST of a signed-in visitor carries the session's CSRF token in the form (``csrf``); the sign-in forms,
  before any session, carry a random token that must equal a cookie set with the form (double submit). A POST
  whose ``Origin`` names another site is refused before either check.
* The cookie is HttpOnly and SameSite=Lax (Secure with ``[web] secure_cookies``), never readable by scripts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Protocol
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from callcenter.domain.rules import Rater, rater_of
from callcenter.domain.tokens import digest, new_token, same
from callcenter.store.api import RosterStore, WebStore
from callcenter.usecases.ports import Clock

SESSION_COOKIE: Final = "cc_session"
FORM_COOKIE: Final = "cc_form"  # the sign-in forms' double-submit token
LANG_COOKIE: Final = "cc_lang"
SESSIONS_PER_SUBJECT: Final = 5  # signing in a sixth time ends the oldest
MAX_TOKEN: Final = 100  # longer cookie values are not even looked up


@dataclass(frozen=True, slots=True)
class Visitor:
    """A signed-in browser: who (the phone's ``Rater``) and its session's CSRF token."""

    rater: Rater
    csrf: str
    token_hash: str

    @property
    def kind(self) -> str:
        return self.rater.kind


class SessionStore(WebStore, RosterStore, Protocol):
    """The sessions, and the roster (a signed-in agent must still be on it)."""


class Sessions:
    def __init__(self, store: SessionStore, clock: Clock, *, hours: float, secure: bool) -> None:
        self.store = store
        self.clock = clock
        self.lifetime = timedelta(hours=hours)
        self.secure = secure

    async def visitor(self, request: Request) -> Visitor | None:
        """The signed-in visitor of ``request``, or None (no cookie, unknown, expired, ended). Read-only."""
        token = request.cookies.get(SESSION_COOKIE, "")
        if not token or len(token) > MAX_TOKEN:
            return None
        token_hash = digest(token)
        session = await self.store.get_session(token_hash, self.clock())
        if session is None:
            return None
        rater = rater_of(session.subject)
        if rater is None:
            return None
        if rater.kind == "agent":
            # an agent taken off the roster since signing in is signed out (sync_roster ends their sessions too)
            agent = await self.store.get_agent(rater.id)
            if agent is None or not agent.active:
                return None
        return Visitor(rater, session.csrf, token_hash)

    async def still_signed_in(self, visitor: Visitor) -> bool:
        """For a long-lived answer (the wallboard's stream): the session has not ended since it began."""
        return await self.store.get_session(visitor.token_hash, self.clock()) is not None

    async def sign_in(self, request: Request, response: Response, rater: Rater) -> None:
        """A new session for ``rater`` on ``response``; the session the browser brought, if any, is ended."""
        old = request.cookies.get(SESSION_COOKIE, "")
        if old and len(old) <= MAX_TOKEN:
            await self.store.close_session(digest(old))
        token, now = new_token(), self.clock()
        await self.store.open_session(
            digest(token), rater.actor, new_token(), now, now + self.lifetime, keep=SESSIONS_PER_SUBJECT
        )
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(self.lifetime.total_seconds()),
            httponly=True,
            secure=self.secure,
            samesite="lax",
            path="/",
        )
        response.delete_cookie(FORM_COOKIE, path="/")

    async def sign_out(self, visitor: Visitor, response: Response) -> None:
        await self.store.close_session(visitor.token_hash)
        response.delete_cookie(SESSION_COOKIE, path="/")

    @staticmethod
    def form_token(request: Request) -> str:
        """The sign-in forms' token: the one the browser's cookie holds, or a new one (``set_form_token``)."""
        token = request.cookies.get(FORM_COOKIE, "")
        return token if token and len(token) <= MAX_TOKEN else new_token()

    def set_form_token(self, response: Response, token: str) -> None:
        response.set_cookie(FORM_COOKIE, token, httponly=True, secure=self.secure, samesite="strict", path="/")


def form_token_ok(request: Request, submitted: str) -> bool:
    cookie = request.cookies.get(FORM_COOKIE, "")
    return bool(cookie) and bool(submitted) and same(cookie, submitted)


def csrf_ok(visitor: Visitor, submitted: str) -> bool:
    return bool(submitted) and same(visitor.csrf, submitted)


def same_origin(request: Request, origin: str = "") -> bool:
    """False when the browser says the form came from another site (``Origin``, else ``Referer``); a request that
    names neither (curl, an old browser) is left to the CSRF token. ``origin``: the console's address as browsers
    see it behind a proxy ([web] origin), else the address of the request itself."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return source != "null"
    parts = urlsplit(source)
    expected = origin or f"{request.url.scheme}://{request.url.netloc}"
    return f"{parts.scheme}://{parts.netloc}" == expected
