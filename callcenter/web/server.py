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
import logging
import socket
from collections.abc import Iterator

import structlog
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

log = structlog.get_logger(__name__)

STOP_SECONDS = 3  # open pages' streams and keep-alive connections get this long when the service stops
HEADER_SECONDS = 10.0  # a request's line and headers must arrive within this long of connecting (or of the last answer)
MAX_CONNECTIONS = 1000  # beyond this uvicorn answers 503 (each wallboard holds one for its stream)


class _Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a header deadline. uvicorn starts no timer before a first response: a client
    that connects and sends nothing, or half a request line, held its connection for ever, and 200 such sockets
    made every page answer 503 (a hostile-visitor test found it). Here a connection whose request has not begun
    within HEADER_SECONDS of connecting, or of the previous response, is closed; a slow body is the form reader's
    to cut off (``pages.read_form``)."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(HEADER_SECONDS, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.is_closing():
            self.transport.close()


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # the service owns SIGINT/SIGTERM (cli/service.py stops everything in order)
        yield


class WebError(Exception):
    """The console cannot listen where the config says ([web] host, port)."""


class WebServer:
    def __init__(self, app: ASGIApp, *, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._sock: socket.socket | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    def bind(self) -> None:
        """Take the port now, before any call is served: a port in use is one line at start, not a service that
        stops after it took calls. WebError names the setting. Listening starts with ``start``: until then nothing
        connects (a health check must not find a console that answers nobody)."""
        if self._sock is not None:
            return
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise WebError(
                f"the web console cannot listen on {self.host}:{self.port} ({exc.strerror}): set [web] port "
                "(CALLCENTER_WEB_PORT) to a free port, or [web] enabled = false"
            ) from exc
        self._sock = sock
        self.port = int(sock.getsockname()[1])

    async def start(self) -> None:
        self.bind()
        assert self._sock is not None
        self._sock.listen(socket.SOMAXCONN)
        # uvicorn's "Started server process" / "Shutting down" lines arrive as logger "uvicorn.error" at info, which
        # reads like an error; web_started and callcenter_stopped say the same. Its warnings and errors still come.
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
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
            limit_concurrency=MAX_CONNECTIONS,
            http=_Protocol,
        )
        self._server = server = _Server(config)
        self._task = task = asyncio.create_task(server.serve(sockets=[self._sock]), name="web")
        task.add_done_callback(_log_end)
        # uvicorn says "started" only by a flag: the socket already queues connections meanwhile
        async with asyncio.timeout(STOP_SECONDS + 2):
            while not server.started:
                if task.done():
                    await task
                    raise WebError("the web console stopped while starting")
                await asyncio.sleep(0.01)
        host = f"[{self.host}]" if ":" in self.host else self.host
        log.info("web_started", url=f"http://{host}:{self.port}/")

    async def stop(self) -> None:
        """Stop serving (open keep-alive connections get STOP_SECONDS); never raises, whatever the server did."""
        server, task, sock = self._server, self._task, self._sock
        self._server = self._task = self._sock = None
        if server is not None:
            server.should_exit = True
        if task is not None:
            try:
                async with asyncio.timeout(STOP_SECONDS + 2):
                    await asyncio.gather(task, return_exceptions=True)
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if sock is not None:
            sock.close()


def _log_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("web_server_failed", exc_info=exc)
