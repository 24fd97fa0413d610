"""The FastAGI server: Asterisk's AGI(agi://host:port/route?args) lands here and runs one of our routes.

Why our own server and not panoramisk's (the design card's library)? Its FastAGI server cannot be the server
of record; defects reproduced on panoramisk 1.4 and master:
  1. a connection closed before the agi_* header block ends makes its header loop spin at 100 % CPU
     forever: one port probe freezes the whole process;
  2. a peer closing right after the headers raises ValueError from int('');
  3. the asynchronous HANGUP line Asterisk sends when the channel hangs up is taken as the reply to the
     current command, so every later reply is off by one;
  4. no read timeout, no line-length limit; plain `def` routes crash on Python 3.11.
The connection handling here follows aiosmtpd: a size-limited reader, a header deadline, a clean EOF path,
and the protocol core (protocol.py, session.py) kept apart from the routes' code.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Self, TypeAlias

import structlog

from callcenter.agi.errors import AGIConnectionClosed, AGIHangup, AGIProtocolError, AGITimeout, RouteRefused
from callcenter.agi.peers import peer_uid
from callcenter.agi.protocol import AGIEnv, build_env
from callcenter.agi.session import MEDIA_MARGIN, AGISession, PlayTime, read_header_block

Route: TypeAlias = Callable[[AGISession], Awaitable[None]]

log: structlog.typing.FilteringBoundLogger = structlog.get_logger(__name__)

# Bound on closing one connection (flushing what is left to a peer that may not read any more).
_CLOSE_TIMEOUT = 2.0


class FastAGIServer:
    """Serves FastAGI connections from Asterisk, one task per call, each running `routes[route]`.

    A route is `async def route(session: AGISession) -> None`, found by the path of the AGI URL
    (`agi://127.0.0.1:4573/inbound?x=1` runs routes["inbound"], session.env.params == {"x": "1"}).
    Each reply has a deadline that follows its command: command_timeout for plain ones, for media commands the
    length of what they play (from `sounds`; unknown sounds count UNKNOWN_SOUND_SECONDS each) plus what they
    wait for, plus media_margin. A peer that stops answering holds its slot (of max_sessions) no longer.
    Nothing a peer or a route does can stop the server: every connection ends in a closed socket and one
    `agi_session_end` (or `agi_header_failed` / `agi_unknown_route` / `agi_session_refused`) log event.
    """

    def __init__(
        self,
        routes: Mapping[str, Route],
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        header_timeout: float = 5.0,
        command_timeout: float = 5.0,
        session_timeout: float = 900.0,
        max_line: int = 8192,
        max_header_bytes: int = 65536,
        max_sessions: int = 256,
        sounds: PlayTime | None = None,
        media_margin: float = MEDIA_MARGIN,
        peer_uids: frozenset[int] | None = None,
        listening: socket.socket | None = None,
        reuse_port: bool = False,
    ) -> None:
        """``listening``: a socket already bound and listening (one a parent process shares with its workers),
        served instead of binding ``host:port``. ``reuse_port``: bind with SO_REUSEPORT, so that several workers
        bind the same port and the kernel spreads the connections over them."""
        for name, value in (
            ("header_timeout", header_timeout),
            ("command_timeout", command_timeout),
            ("session_timeout", session_timeout),
            ("media_margin", media_margin),
            ("max_line", max_line),
            ("max_header_bytes", max_header_bytes),
            ("max_sessions", max_sessions),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        for name, route in routes.items():
            if not callable(route):
                raise TypeError(f"route {name!r} is not callable")
        self._routes: dict[str, Route] = {name.lstrip("/"): route for name, route in routes.items()}
        self._host = host
        self._requested_port = port
        self._header_timeout = header_timeout
        self._command_timeout = command_timeout
        self._session_timeout = session_timeout
        self._sounds = sounds
        self._media_margin = media_margin
        self._max_line = max_line
        self._max_header_bytes = max_header_bytes
        self._max_sessions = max_sessions
        self._server: asyncio.Server | None = None
        self._listening = listening
        self._reuse_port = reuse_port
        self._port: int | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        # the local users whose sockets may speak for Asterisk (peers.py); None: not checked
        self._peer_uids = peer_uids
        # a peer that reconnects in a loop must not turn each refusal into a log line (331k lines in 25 s were seen)
        self._refusals = Throttle(interval=1.0)

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port=0)."""
        if self._port is None:
            raise RuntimeError("the FastAGI server has not been started")
        return self._port

    @property
    def active_sessions(self) -> int:
        """Connections being served right now (header phase included)."""
        return len(self._sessions)

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the FastAGI server is already running")
        # the reader's own limit stops a line without newline early (+2: the LF and a CR before it). The backlog:
        # asyncio's default of 100 dropped the SYNs of a burst (200 calls at once reaching a route), and each
        # dropped caller's connection came a whole second later, when the kernel sent its SYN again; SOMAXCONN is
        # capped by net.core.somaxconn (4096 on current kernels). It also applies to a socket shared by the
        # supervisor, which asyncio listens on again.
        if self._listening is not None:
            self._server = await asyncio.start_server(
                self._accept, sock=self._listening, limit=self._max_line + 2, backlog=socket.SOMAXCONN
            )
        else:
            self._server = await asyncio.start_server(
                self._accept,
                self._host,
                self._requested_port,
                limit=self._max_line + 2,
                reuse_port=self._reuse_port or None,
                backlog=socket.SOMAXCONN,
            )
        self._port = int(self._server.sockets[0].getsockname()[1])
        log.info("agi_server_listening", host=self._host, port=self._port, routes=sorted(self._routes))

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, give running sessions `grace` seconds to end, cancel the rest, close everything."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        pending = set(self._sessions)
        log.info("agi_server_stopping", active_sessions=len(pending), grace_s=grace)
        if pending and grace > 0:
            _, pending = await asyncio.wait(pending, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            # each session closes its socket on the way out, within _CLOSE_TIMEOUT
            _, stuck = await asyncio.wait(pending, timeout=_CLOSE_TIMEOUT * 2)
            if stuck:
                log.error("agi_sessions_stuck", count=len(stuck))
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT):
                await server.wait_closed()
        except TimeoutError:
            log.warning("agi_server_close_slow")
        log.info("agi_server_stopped", cancelled=len(pending))

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---- per connection ---------------------------------------------------------------------------------

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._peer_uids is not None:
            uid = _peer_uid(writer)
            if uid not in self._peer_uids:
                # not Asterisk's user: it would speak for Asterisk (answer our GET VARIABLEs), so it is not served
                if (suppressed := self._refusals.allow("peer")) is not None:
                    log.warning("agi_peer_refused", peer=_peer(writer), uid=uid, suppressed=suppressed)
                writer.close()
                return
        # _server is None from the moment stop() begins: a connection still in the backlog is refused
        if self._server is None or len(self._sessions) >= self._max_sessions:
            # Asterisk reads EOF: AGI() returns without our route having set its result variable, and
            # the dialplan takes its fallback
            if (suppressed := self._refusals.allow("full")) is not None:
                log.warning(
                    "agi_session_refused",
                    peer=_peer(writer),
                    active_sessions=len(self._sessions),
                    max_sessions=self._max_sessions,
                    suppressed=suppressed,
                )
            writer.close()
            return
        task = asyncio.create_task(self._serve(reader, writer), name=f"agi-session {_peer(writer)}")
        self._sessions.add(task)
        task.add_done_callback(functools.partial(self._session_done, writer))

    def _session_done(self, writer: asyncio.StreamWriter, task: asyncio.Task[None]) -> None:
        self._sessions.discard(task)
        # a task cancelled before its first step never ran its own cleanup
        if not writer.is_closing():
            writer.close()
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("agi_session_crashed", exc_info=exc)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # each connection runs in its own task, hence its own copy of the context: binding here cannot leak
        structlog.contextvars.clear_contextvars()
        started = time.monotonic()
        try:
            env = await self._read_env(reader, writer)
            if env is None:
                return
            structlog.contextvars.bind_contextvars(uniqueid=env.uniqueid, channel=env.channel, route=env.route)
            route = self._routes.get(env.route)
            if route is None:
                log.warning("agi_unknown_route", known_routes=sorted(self._routes))
                return
            session = AGISession(
                reader,
                writer,
                env,
                command_timeout=self._command_timeout,
                max_line=self._max_line,
                sounds=self._sounds,
                media_margin=self._media_margin,
            )
            log.info("agi_session_start", peer=_peer(writer), args=len(env.args))
            await self._run_route(route, session, started)
        finally:
            await _close(writer)

    async def _read_env(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> AGIEnv | None:
        try:
            async with asyncio.timeout(self._header_timeout):
                headers = await read_header_block(reader, max_line=self._max_line, max_bytes=self._max_header_bytes)
            env = build_env(headers)
        except TimeoutError:
            log.warning(
                "agi_header_failed",
                peer=_peer(writer),
                reason="timeout",
                error=f"no complete header block within {self._header_timeout:g} s",
            )
        except AGIConnectionClosed as exc:
            log.info("agi_header_failed", peer=_peer(writer), reason="closed", error=str(exc))
        except AGIProtocolError as exc:
            log.warning("agi_header_failed", peer=_peer(writer), reason="protocol", error=str(exc))
        else:
            return env
        return None

    async def _run_route(self, route: Route, session: AGISession, started: float) -> None:
        deadline = asyncio.timeout(self._session_timeout)
        try:
            async with deadline:
                awaitable = route(session)
                if not inspect.isawaitable(awaitable):
                    raise TypeError(  # noqa: TRY301 - reported like any other route failure, just below
                        f"route {session.env.route!r} returned {type(awaitable).__name__}, not an awaitable:"
                        " routes must be `async def`"
                    )
                await awaitable
        except asyncio.CancelledError:
            log.warning("agi_session_end", outcome="cancelled", **_end_fields(session, started))
            raise
        except (AGIHangup, AGIConnectionClosed) as exc:
            outcome = "hangup" if isinstance(exc, AGIHangup) else "connection_closed"
            log.info("agi_session_end", outcome=outcome, detail=str(exc), **_end_fields(session, started))
        except RouteRefused as exc:
            log.warning("agi_session_end", outcome="refused", detail=str(exc), **_end_fields(session, started))
        except (AGITimeout, AGIProtocolError) as exc:
            outcome = "command_timeout" if isinstance(exc, AGITimeout) else "protocol_error"
            log.warning("agi_session_end", outcome=outcome, detail=str(exc), **_end_fields(session, started))
        except TimeoutError:
            if not deadline.expired():
                log.exception("agi_session_end", outcome="error", **_end_fields(session, started))
            else:
                log.warning(
                    "agi_session_end",
                    outcome="session_timeout",
                    detail=f"route still running after {self._session_timeout:g} s: cancelled",
                    **_end_fields(session, started),
                )
        except Exception:
            log.exception("agi_session_end", outcome="error", **_end_fields(session, started))
        else:
            log.info("agi_session_end", outcome="completed", **_end_fields(session, started))


def _end_fields(session: AGISession, started: float) -> dict[str, object]:
    return {"duration_ms": round((time.monotonic() - started) * 1000), "hung_up": session.hung_up}


class Throttle:
    """At most one log line per ``interval`` seconds per kind; ``allow`` says how many were held back since."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, kind: str) -> int | None:
        now = time.monotonic()
        if now - self._last.get(kind, -self.interval) < self.interval:
            self._held[kind] = self._held.get(kind, 0) + 1
            return None
        self._last[kind] = now
        return self._held.pop(kind, 0)


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    try:
        return peer_uid(sock) if sock is not None else None
    except OSError:
        return None


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close a connection, waiting a bounded time for the flush; a peer that does not read gets aborted."""
    if not writer.is_closing():
        writer.close()
    try:
        async with asyncio.timeout(_CLOSE_TIMEOUT):
            await writer.wait_closed()
    except (TimeoutError, OSError):
        writer.transport.abort()
