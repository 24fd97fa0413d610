"""The wallboard page and its live feed: the page paints the current snapshot, then follows ``/board/events``
(server-sent events: one ``data:`` line of JSON per new snapshot, a comment every ``HEARTBEAT`` seconds so proxies
and the browser know the stream is alive). ``/board/state`` is the same JSON once, for scripts and tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Final

import structlog
from starlette.responses import JSONResponse, Response, StreamingResponse

from callcenter.web import charts
from callcenter.web.auth import Sessions, Visitor
from callcenter.web.board import Board
from callcenter.web.catalog import CATALOG
from callcenter.web.pages import Ctx, Pages, script_json

log = structlog.get_logger(__name__)

HEARTBEAT: Final = 15.0
# seconds: an open stream checks its session again at most this often, and at least every HEARTBEAT (a sign-out or a
# disabled operator ends it)
RECHECK: Final = 5.0
MAX_STREAMS: Final = 100  # open wallboard streams; more are refused (503), the connections stay for pages
# the texts the page's script needs (states and rating labels), in the page's language
SCRIPT_TEXTS: Final = (
    *(f"state_{s}" for s in ("logged_out", "available", "paused", "ringing", "screening", "on_call", "unreachable")),
    "new",
    "caller_to_agent",
    "agent_to_caller",
    "create",
    "update",
    "delete",
    "revive",
    "more",
    "removed",
    "own_queues",
)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _stamped(snapshot_json: str) -> str:
    """The snapshot's JSON with the server's time now (the page counts waits from it, whatever its own clock says);
    the snapshot itself is serialised once, when it is built."""
    return f'{snapshot_json[:-1]}, "now": "{_now()}"}}'


class BoardPages:
    def __init__(self, pages: Pages, board: Board, sessions: Sessions) -> None:
        self.pages = pages
        self.board = board
        self.sessions = sessions
        self.streams = 0  # wallboards following /board/events now

    async def page(self, ctx: Ctx) -> Response:
        texts = {k: CATALOG[ctx.t.lang].get(k, k) for k in SCRIPT_TEXTS}
        texts["create"] = ctx.t.created
        snap = self.board.snapshot
        return self.pages.render(
            ctx,
            "board.html",
            service_level_seconds=self.board.service_level_seconds,
            texts_json=script_json(texts),
            snapshot_json=script_json({**snap.data, "version": snap.version, "now": _now()}),
        )

    async def state(self, ctx: Ctx) -> Response:
        snap = self.board.snapshot
        return JSONResponse({**snap.data, "version": snap.version, "now": _now()})

    async def events(self, ctx: Ctx) -> Response:
        request, visitor = ctx.request, ctx.visitor
        assert visitor is not None  # the guard lets operators only
        if self.streams >= MAX_STREAMS:
            return await self.pages.message(ctx, ctx.t.busy, status=503)

        async def stream() -> AsyncIterator[str]:
            self.streams += 1
            try:
                seen, checked = -1, time.monotonic()
                while not self.board.closed and not await request.is_disconnected():
                    if time.monotonic() - checked >= RECHECK:
                        if not await self._signed_in(visitor):
                            return  # signed out, or the operator disabled: the stream ends with the session
                        checked = time.monotonic()
                    snap = self.board.snapshot if seen < 0 else await self.board.next_snapshot(seen, HEARTBEAT)
                    if snap is None:
                        yield ": alive\n\n"
                        continue
                    seen = snap.version
                    yield f"id: {snap.version}\ndata: {_stamped(snap.json)}\n\n"
            finally:
                self.streams -= 1

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def _signed_in(self, visitor: Visitor) -> bool:
        try:
            return await self.sessions.still_signed_in(visitor)
        except Exception:  # the store is busy or away: the stream goes on, the next round asks again
            log.warning("board_stream_session_unchecked", exc_info=True)
            return True

    async def scores_chart(self, ctx: Ctx) -> Response:
        scores = [r["score"] for r in self.board.rows().values() if r.get("score") is not None]
        svg = charts.histogram(scores, ctx.t.scores_chart)
        return Response(svg, media_type="image/svg+xml")
