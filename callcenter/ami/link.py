"""One supervised AMI connection, built on panoramisk's protocol layer.

We use panoramisk for what it does well — AMI message framing, action ids, multi-message (EventList) responses —
and replace its ``Manager`` for the rest, because for a service that must never hang (notes/libraries.md):
  * a failed login does not raise there; here it raises ``AMIAuthError`` with the user and address;
  * no action ever times out there, and an action sent while the link is down can hang forever; here every
    action has a deadline and every action in flight when the link drops fails with ``AMIUnavailable``;
  * its ``ping()`` never checks the Pong and it reconnects on a fixed 2 s delay; here a missing Pong drops the
    link and reconnection backs off exponentially;
  * its coroutine callbacks are fire-and-forget (exceptions vanish); here events are dispatched in order by
    one task we own and a failing handler is logged;
  * it re-sends unanswered actions after a reconnect (a re-sent action may run twice); here nothing is re-sent:
    the resync hooks rebuild Asterisk's state from the store instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import random
import re
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

log = structlog.get_logger(__name__)

EventHandler = Callable[[Message], Awaitable[None]]
ResyncHook = Callable[[], Awaitable[None]]


class AMIError(Exception):
    """Base of every AMI failure."""


class AMIAuthError(AMIError):
    """Asterisk refused the login: wrong user or secret, or the address is not permitted."""


class AMIUnavailable(AMIError):
    """The link is down (refused, closed, or dropped while an action was in flight)."""


class AMITimeout(AMIError):
    """Asterisk did not answer an action within its deadline."""


class AMIActionError(AMIError):
    """Asterisk answered an action with Response: Error."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message


@dataclass(frozen=True, slots=True)
class AMISettings:
    host: str
    port: int
    username: str
    secret: str
    connect_timeout: float = 5.0
    action_timeout: float = 5.0
    # a link that is open but silent (Asterisk stalled, a half-open socket) is found within interval + timeout
    ping_interval: float = 2.0
    ping_timeout: float = 2.0
    # after a drop the next try comes soon: Asterisk on loopback is back within seconds or not at all
    reconnect_min: float = 0.5
    reconnect_max: float = 3.0
    # the Login's event mask: "on" (every class the user may read), "off", or classes ("system,agent,user")
    events: str = "on"


# What the service's link asks for: the classes of the events it handles (FullyBooted and Shutdown are "system";
# QueueMember*, QueueCaller*, AgentConnect/Complete "agent"; UserEvent "user"). Asterisk then does not even queue
# the "call" class (Newchannel, Hangup, Dial*, ... most of the traffic) for this session, before manager.conf's
# name filter would drop it. Lists answering our own actions (QueueStatus, Status) are not masked.
SERVICE_EVENTS = "system,agent,user"


class _Action(Action):  # type: ignore[misc]  # panoramisk is untyped
    """panoramisk's Action, except that a list action refused outright (one ``Response: Error``, e.g. "Permission
    denied") completes with that response: panoramisk waits for a list that never comes, until our deadline."""

    def add_message(self, message: Message) -> bool:
        if self.as_list and not self.responses and message.response in {"Error", "Fail", "Failure"}:
            self.responses.append(message)
            if not self.future.done():
                self.future.set_result([message])
            return True
        return bool(super().add_message(message))


class _Protocol(AMIProtocol):  # type: ignore[misc]  # panoramisk is untyped
    """panoramisk's framing, wired to our link instead of a Manager."""

    def __init__(self, link: AMILink) -> None:
        self._link = link
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # AMIProtocol reads these attributes from its "factory" (panoramisk's Manager)
        self.factory = self
        self.encoding = "utf-8"
        self.save_stream = None
        self.forgetable_actions = ("ping", "login")
        self.awaiting_actions: deque[Action] = deque()

    def dispatch(self, event: Message) -> None:
        self._link._enqueue_event(event)

    def connection_lost(self, exc: Exception | None) -> None:
        # Also called by AMIProtocol on a Shutdown event. Not delegated: panoramisk's version would park
        # unanswered actions for re-sending and call back into its Manager to reconnect.
        self.drop()

    def drop(self) -> None:
        """Fail every action in flight, then close: nothing waits on a dead link, nothing is re-sent."""
        self._fail_pending()
        if not self.closed:
            self.close()

    def _fail_pending(self) -> None:
        pending = {id(a): a for a in self.responses.values()}
        self.responses.clear()
        for action in pending.values():
            if not action.future.done():
                action.future.set_exception(AMIUnavailable(f"link lost before {action['Action']} was answered"))
        if not self.lost.done():
            self.lost.set_result(None)


class AMILink:
    """Keeps one logged-in AMI session alive; sends actions with deadlines; dispatches events in order."""

    def __init__(self, settings: AMISettings) -> None:
        self.settings = settings
        self._handlers: list[tuple[re.Pattern[str], EventHandler]] = []
        self._resync_hooks: list[ResyncHook] = []
        self._protocol: _Protocol | None = None
        self._connected = asyncio.Event()
        self._events: asyncio.Queue[Message] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self.connections = 0  # how many times we logged in; tests and `serve` logs read it

    # -- wiring ------------------------------------------------------------------------------------------
    def on_event(self, pattern: str, handler: EventHandler) -> None:
        """Run ``handler`` for every event whose name matches the glob ``pattern`` (case-insensitive)."""
        self._handlers.append((re.compile(fnmatch.translate(pattern), re.IGNORECASE), handler))

    def on_resync(self, hook: ResyncHook) -> None:
        """Run ``hook`` whenever Asterisk is (again) fully booted on a fresh login: rebuild its state there."""
        self._resync_hooks.append(hook)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_disconnected(self, timeout: float) -> None:
        """Return once the link is down (for tests and operators watching a failover)."""
        async with asyncio.timeout(timeout):
            while self._connected.is_set():
                protocol = self._protocol
                if protocol is None or protocol.lost.done():
                    await asyncio.sleep(0.05)  # lost: the supervisor clears the flag a moment later
                    continue
                await asyncio.wait({protocol.lost})

    async def wait_connected(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError:
            raise AMIUnavailable(
                f"AMI at {self.settings.host}:{self.settings.port} not connected after {timeout:.0f} s"
            ) from None

    # -- lifecycle ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect and log in once (raising a clear error), then keep the link up in the background."""
        await self._connect_once()
        self._spawn(self._dispatch_events(), "ami-events")
        self._spawn(self._supervise(), "ami-supervisor")

    async def close(self) -> None:
        self._closing = True
        if self._protocol is not None:
            with contextlib.suppress(AMIError, OSError):
                await self.send({"Action": "Logoff"}, timeout=1.0)
            self._protocol.drop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._connected.clear()

    async def __aenter__(self) -> AMILink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("ami_task_failed", task=task.get_name(), exc_info=task.exception())

    async def _connect_once(self) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(s.connect_timeout):
                _, protocol = await loop.create_connection(lambda: _Protocol(self), s.host, s.port)
        except (OSError, TimeoutError) as exc:
            raise AMIUnavailable(
                f"cannot reach AMI at {s.host}:{s.port} ({exc or 'timed out'}): is Asterisk running and "
                f"manager.conf enabled on that port?"
            ) from None
        self._protocol = protocol
        try:
            reply = await self._send_raw(
                {"Action": "Login", "Username": s.username, "Secret": s.secret, "Events": s.events},
                timeout=s.connect_timeout,
            )
        except AMIError:
            protocol.drop()
            raise
        if not reply.success:
            protocol.drop()
            raise AMIAuthError(
                f"AMI login as {s.username!r} at {s.host}:{s.port} refused ({reply.get('Message', 'no reason')}): "
                f"check the secret (CALLCENTER_AMI_SECRET or the secret file) and manager.conf permit/deny"
            )
        self.connections += 1
        self._connected.set()
        log.info("ami_connected", host=s.host, port=s.port, user=s.username, connections=self.connections)

    async def _supervise(self) -> None:
        """Ping while up; when the link drops, reconnect with exponential backoff until closed."""
        delay = self.settings.reconnect_min
        while True:
            assert self._protocol is not None
            await self._watch(self._protocol)
            self._connected.clear()
            if self._closing:
                return
            log.warning("ami_disconnected", retry_in=round(delay, 2))
            while not self._closing:
                # jitter keeps a fleet of services from reconnecting in lock-step after an Asterisk restart
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - not cryptographic
                try:
                    await self._connect_once()
                except AMIAuthError as exc:
                    # a changed secret: keep retrying (an operator may fix it) but say so loudly, no traceback
                    log.error("ami_login_refused", error=str(exc))  # noqa: TRY400
                except AMIError as exc:
                    log.info("ami_reconnect_failed", error=str(exc))
                else:
                    delay = self.settings.reconnect_min
                    break
                delay = min(delay * 2, self.settings.reconnect_max)

    async def _watch(self, protocol: _Protocol) -> None:
        while not protocol.lost.done():
            done, _ = await asyncio.wait({protocol.lost}, timeout=self.settings.ping_interval)
            if done:
                return
            try:
                await self._send_raw({"Action": "Ping"}, timeout=self.settings.ping_timeout)
            except AMIError as exc:
                # a peer that stopped answering is as good as gone: drop it so the supervisor reconnects
                log.warning("ami_ping_failed", error=str(exc))
                protocol.drop()
                return

    # -- actions -----------------------------------------------------------------------------------------
    async def send(self, action: Mapping[str, Any], *, timeout: float | None = None) -> Message:
        """Send one action and return its response; raise AMIActionError on ``Response: Error``."""
        reply = await self._send_raw(action, timeout=timeout)
        if not reply.success:
            raise AMIActionError(str(action.get("Action")), reply.get("Message", "error"))
        return reply

    async def send_list(self, action: Mapping[str, Any], *, timeout: float | None = None) -> list[Message]:
        """Send an EventList action (QueueStatus, CoreShowChannels, ...) and return every message of it."""
        result = await self._send_raw(action, timeout=timeout, as_list=True)
        messages = result if isinstance(result, list) else [result]
        if messages and not messages[0].success:
            raise AMIActionError(str(action.get("Action")), messages[0].get("Message", "error"))
        return messages

    async def _send_raw(self, action: Mapping[str, Any], *, timeout: float | None, as_list: bool = False) -> Any:
        protocol = self._protocol
        if protocol is None or protocol.lost.done():
            raise AMIUnavailable(f"AMI link is down; {action.get('Action')} not sent")
        deadline = self.settings.action_timeout if timeout is None else timeout
        future = protocol.send(_Action(dict(action), as_list=as_list), as_list=as_list)
        try:
            async with asyncio.timeout(deadline):
                return await future
        except TimeoutError:
            raise AMITimeout(f"{action.get('Action')} not answered within {deadline} s") from None

    # -- events ------------------------------------------------------------------------------------------
    def _enqueue_event(self, event: Message) -> None:
        self._events.put_nowait(event)

    async def _dispatch_events(self) -> None:
        while True:
            event = await self._events.get()
            name = str(event.get("Event", ""))
            if name == "FullyBooted":
                await self._run_resync()
            for pattern, handler in self._handlers:
                if pattern.match(name):
                    try:
                        await handler(event)
                    except Exception:
                        log.exception("ami_event_handler_failed", ami_event=name)

    async def _run_resync(self) -> None:
        # FullyBooted arrives right after login on a booted Asterisk and again when a restarted one finishes
        # booting: exactly the moments when Asterisk's queue state may differ from ours.
        for hook in self._resync_hooks:
            try:
                await hook()
            except Exception:
                log.exception("ami_resync_failed")
