"""uvicorn serving the console in the service's own event loop, as a task this object owns (never
``uvicorn.run``, which would start a loop of its own).

Two things uvicorn would otherwise do are turned off on purpose: it installs SIGINT/SIGTERM handlers while it
serves (``capture_signals``), which would take the service's own orderly stop (``cli/service.py``) away from it;
and it configures logging, where the service's structlog setup already decides the format. The socket is bound here,
so the port is known (``[web] port = 0`` takes any free one) before the first page is asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import structlog
import uvicorn
from starlette.types import ASGIApp

log = structlog.get_logger(__name__)

STOP_SECONDS = 3  # open pages' streams and keep-alive connections get this long when the service stops


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # the service owns SIGINT/SIGTERM (cli/service.py stops everything in order)
        yield


class WebServer:
    def __init__(self, app: ASGIApp, *, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(socket.SOMAXCONN)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            # behind a proxy, configure it there: a header from anyone must not change who we think is asking
            proxy_headers=False,
            timeout_graceful_shutdown=STOP_SECONDS,
            timeout_keep_alive=5,
            limit_concurrency=200,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="web")
        # started: the listening socket accepts from here on (the kernel queues until uvicorn's first accept)
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what stopped it
                raise RuntimeError("the web server stopped while starting")
            await asyncio.sleep(0.01)
        log.info("web_started", url=f"http://{self.host}:{self.port}/")

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(self._task, STOP_SECONDS + 2)
        except TimeoutError:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._server = self._task = None
