"""The wallboard page and its live feed: the page paints the current snapshot, then follows ``/board/events``
(server-sent events: one ``data:`` line of JSON per new snapshot, a comment every ``HEARTBEAT`` seconds so proxies
and the browser know the stream is alive). ``/board/state`` is the same JSON once, for scripts and tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Final

from starlette.responses import JSONResponse, Response, StreamingResponse

from callcenter.web import charts
from callcenter.web.board import Board
from callcenter.web.catalog import CATALOG
from callcenter.web.pages import Ctx, Pages, script_json

HEARTBEAT: Final = 15.0
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
)


class BoardPages:
    def __init__(self, pages: Pages, board: Board) -> None:
        self.pages = pages
        self.board = board

    async def page(self, ctx: Ctx) -> Response:
        texts = {k: CATALOG[ctx.t.lang].get(k, k) for k in SCRIPT_TEXTS}
        texts["create"] = ctx.t.created
        snap = self.board.snapshot
        return self.pages.render(
            ctx,
            "board.html",
            service_level_seconds=self.board.service_level_seconds,
            texts_json=script_json(texts),
            snapshot_json=script_json({**snap.data, "version": snap.version}),
        )

    async def state(self, ctx: Ctx) -> Response:
        snap = self.board.snapshot
        return JSONResponse({**snap.data, "version": snap.version})

    async def events(self, ctx: Ctx) -> Response:
        request = ctx.request

        async def stream() -> AsyncIterator[str]:
            seen = -1
            while not self.board.closed and not await request.is_disconnected():
                snap = self.board.snapshot if seen < 0 else await self.board.next_snapshot(seen, HEARTBEAT)
                if snap is None:
                    yield ": alive\n\n"
                    continue
                seen = snap.version
                yield f"id: {snap.version}\ndata: {json.dumps({**snap.data, 'version': snap.version})}\n\n"

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def scores_chart(self, ctx: Ctx) -> Response:
        scores = [a["score"] for a in self.board.snapshot.data.get("agents", []) if a.get("score") is not None]
        svg = charts.histogram(scores, ctx.t.scores_chart)
        return Response(svg, media_type="image/svg+xml")
