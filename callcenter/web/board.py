"""The supervisors' wallboard: what every queue and every agent is doing now, kept from AMI events, with today's
counts from the store; published as numbered snapshots that the wallboard page receives over server-sent events.

Live parts come from memory, never from Asterisk on each change:
* who waits in which queue since when: QueueCallerJoin / QueueCallerLeave / QueueCallerAbandon, re-based after
  every AMI (re)connect from ``QueueSummary`` and the ``QueueStatus`` of the queues it says have callers;
* each agent's duty and member status: the queue sync's own map (``QueueSync.presence``), which follows the store
  and Asterisk already;
* ringing, screening and talking: AgentCalled, the IVR's CallCenterScreen user event, AgentConnect, and what ends
  each (AgentRingNoAnswer, AgentDump, AgentComplete, the caller leaving);
* scores: the kept ranking (``usecases/rankings.py``), which every rating moves.

Today's counts (calls, answered within the service level, abandoned, accepted and declined) are one aggregate read
of the store (``SupervisionStore``), taken at most every ``STORE_EVERY`` seconds, when something happened.

Every event only marks the board dirty; one owned task (``run``) rebuilds the snapshot at most every
``DEBOUNCE`` seconds, so a burst of events costs one rebuild, and a wallboard sees a caller join within a second.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import structlog
from panoramisk.message import Message

from callcenter.ami.link import AMILink
from callcenter.ami.queues import QueueSync, event_agent
from callcenter.domain import naming
from callcenter.domain.agents import AgentSpec, Duty
from callcenter.domain.numbers import normalise_number
from callcenter.domain.policy import Policy, Score, grade
from callcenter.domain.rules import removed_by_operator
from callcenter.store import Call, Store
from callcenter.store.models import AGENT_TO_CLIENT, CLIENT_TO_AGENT, PresenceState, QueueDay
from callcenter.usecases.lookups import client_numbers
from callcenter.usecases.ports import Clock

log = structlog.get_logger(__name__)

DEBOUNCE: Final = 0.2  # seconds between two rebuilds at most
STORE_EVERY: Final = 5.0  # seconds between two reads of today's counts at most (the busiest part of a rebuild)
IDLE_REBUILD: Final = 10.0  # seconds: the counts are read again even when no event came (another worker's calls)
SCREENING_MAX: Final = 120.0  # seconds: a screening whose end we never heard stops showing
RECENT_RATINGS: Final = 8
MAX_AGENT_ROWS: Final = 200  # a wall screen shows no more; every state is counted all the same

# AST_DEVICE_* member statuses (app_queue)
_IN_USE, _BUSY, _INVALID, _UNAVAILABLE, _RINGING, _RING_IN_USE, _ON_HOLD = 2, 3, 4, 5, 6, 7, 8

AGENT_STATES: Final = ("logged_out", "available", "paused", "ringing", "screening", "on_call", "unreachable")
# the order rows are shown in: what needs a supervisor's eye first
SHOWN_ORDER: Final = ("ringing", "screening", "on_call", "available", "paused", "unreachable", "logged_out")


def agent_state(  # noqa: PLR0911 - one return per state, in the order they win
    duty: Duty, status: int | None, *, ringing: bool, screening: bool, talking: bool
) -> str:
    """One word for what an agent is doing, as a supervisor reads it (the first that holds, in this order)."""
    if not duty.logged_in:
        return "logged_out"
    if duty.paused:
        return "paused"
    if screening:
        return "screening"
    if talking or status in {_IN_USE, _BUSY, _ON_HOLD}:
        return "on_call"
    if ringing or status in {_RINGING, _RING_IN_USE}:
        return "ringing"
    if status in {_INVALID, _UNAVAILABLE}:
        return "unreachable"
    return "available"


def shown_caller(raw: object) -> str:
    """A caller as the wallboard shows them: the normalised number, or "anonymous". Whatever a hostile caller ID
    carries (markup, control characters) never reaches a page."""
    return normalise_number(str(raw or "")) or "anonymous"


@dataclass
class Waiter:
    caller: str
    since: datetime


@dataclass
class _Leg:
    """An agent being rung or screening for one call (the caller's uniqueid), since a monotonic time."""

    call: str
    since: float


@dataclass
class Snapshot:
    version: int
    data: dict[str, Any]
    json: str = "{}"  # the data and its version as sent to every wallboard (serialised once)


@dataclass
class Board:
    store: Store
    ami: AMILink
    queues: QueueSync
    agents: Sequence[AgentSpec]
    services: Sequence[tuple[str, str]]  # (id, name)
    policy: Policy
    initial: PresenceState
    score_of: Callable[[str], Score | None]  # the kept ranking's score of an agent
    clock: Clock
    service_level_seconds: int = 20
    timezone: str = "UTC"
    ring_seconds: float = 20.0  # [journey] ring_timeout: a ring whose end we never heard stops showing after it
    mono: Callable[[], float] = time.monotonic
    waiting: dict[str, dict[str, Waiter]] = field(default_factory=dict)  # queue -> caller uniqueid -> waiter
    ringing: dict[str, _Leg] = field(default_factory=dict)
    screening: dict[str, _Leg] = field(default_factory=dict)
    talking: set[str] = field(default_factory=set)
    ratings_seen: Counter[str] = field(default_factory=Counter)  # direction -> events seen since start
    snapshot: Snapshot = field(default_factory=lambda: Snapshot(0, {}))
    store_seconds: float | None = None  # how long the last read of today's counts took
    _dirty: asyncio.Event = field(default_factory=asyncio.Event)
    _published: asyncio.Condition = field(default_factory=asyncio.Condition)
    _counts: tuple[dict[str, QueueDay], dict[str, dict[str, int]]] = field(default_factory=lambda: ({}, {}))
    _recent: list[dict[str, Any]] = field(default_factory=list)
    _counts_at: float = float("-inf")
    _counts_stale: bool = True
    _ratings_stale: bool = True
    _closed: bool = False
    _rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # agent id -> their row, built when touched
    _touched: set[str] = field(default_factory=set)
    _all: bool = True  # every row is built again (at start, after a resync, every IDLE_REBUILD s)
    _states: Counter[str] = field(default_factory=Counter)  # how many rows are in each state, kept with the rows
    _shown: list[dict[str, Any]] | None = None  # the rows the last snapshot showed
    _full_at: float = float("-inf")  # monotonic time of the last rebuild of every row

    def __post_init__(self) -> None:
        self._names = {a.id: a.name for a in self.agents}
        # every event the wallboard follows, in one place; each must pass manager.conf's event filter for the
        # service's user (tests/unit/ami/test_queues.py compares the two)
        handlers: dict[str, Callable[[Message], None]] = {
            "QueueCallerJoin": self._on_join,
            "QueueCallerLeave": self._on_leave,
            "QueueCallerAbandon": self._on_leave,
            "AgentCalled": self._on_called,
            "AgentRingNoAnswer": self._on_ring_ended,
            "AgentDump": self._on_ring_ended,
            "AgentConnect": self._on_connect,
            "AgentComplete": self._on_complete,
            "QueueMemberStatus": self._on_member,
            "QueueMemberPause": self._on_member,
            "QueueMemberAdded": self._on_member,
            "QueueMemberRemoved": self._on_member,
            "UserEvent": self._on_user_event,
        }
        for name, handler in handlers.items():
            self.ami.on_event(name, self._sync(handler))
        self.ami.on_resync(self.resync)

    @staticmethod
    def _sync(handler: Callable[[Message], None]) -> Callable[[Message], Any]:
        async def run(event: Message) -> None:
            handler(event)

        return run

    # -- what Asterisk tells us ----------------------------------------------------------------------------------
    def _on_join(self, e: Message) -> None:
        queue, caller = str(e.get("Queue") or ""), str(e.get("Uniqueid") or "")
        if queue and caller:
            self.waiting.setdefault(queue, {})[caller] = Waiter(shown_caller(e.get("CallerIDNum")), self.clock())
            self._counts_stale = True
            self.changed(naming.own_queue_agent(queue))

    def _on_leave(self, e: Message) -> None:
        caller, queue = str(e.get("Uniqueid") or ""), str(e.get("Queue") or "")
        self.waiting.get(queue, {}).pop(caller, None)
        touched = {naming.own_queue_agent(queue)}
        for legs in (self.ringing, self.screening):
            for agent in [a for a, leg in legs.items() if leg.call == caller]:
                del legs[agent]
                touched.add(agent)
        self._counts_stale = True
        self.changed(*touched)

    def _on_called(self, e: Message) -> None:
        agent = event_agent(e)
        if agent is not None:
            self.ringing[agent] = _Leg(str(e.get("Uniqueid") or ""), self.mono())
            self.changed(agent)

    def _on_ring_ended(self, e: Message) -> None:
        agent = event_agent(e)
        if agent is not None:
            self.ringing.pop(agent, None)
            self.screening.pop(agent, None)
            self.changed(agent)

    def _on_connect(self, e: Message) -> None:
        agent = event_agent(e)
        if agent is not None:
            self.ringing.pop(agent, None)
            self.screening.pop(agent, None)
            self.talking.add(agent)
            self.changed(agent)

    def _on_complete(self, e: Message) -> None:
        agent = event_agent(e)
        if agent is not None:
            self.talking.discard(agent)
            self._counts_stale = True
            self.changed(agent)

    def _on_member(self, e: Message) -> None:
        found = naming.MEMBER.match(str(e.get("Interface") or e.get("Location") or ""))
        if found is not None:
            self.changed(found["agent"])

    def _on_user_event(self, e: Message) -> None:
        name = e.get("UserEvent")
        agent = str(e.get("Agent") or "")
        if name == naming.EVENT_SCREEN:
            if agent in self._names:
                self.screening[agent] = _Leg(str(e.get("Call") or ""), self.mono())
                self.ringing.pop(agent, None)
                self.changed(agent)
        elif name in {naming.EVENT_RATED, naming.EVENT_RATING_DELETED}:
            if name == naming.EVENT_RATED:
                direction = str(e.get("Direction") or "")
                self.ratings_seen[direction if direction in {CLIENT_TO_AGENT, AGENT_TO_CLIENT} else "other"] += 1
            self.ratings_changed(agent)

    # -- what the store tells us (StoreWatch): every rating and answer written through this process's store -----
    async def agent_rated(self, agent_id: str) -> None:
        self.ratings_changed(agent_id)

    def call_answered(self, call: Call) -> None:
        self._counts_stale = True
        self.changed(call.agent_id)

    def ratings_changed(self, agent_id: str | None = None) -> None:
        """A rating was given, changed or deleted: read the recent ones; the rated agent's row (their score), if
        an agent was rated, is built again, and no other."""
        self._ratings_stale = True
        if agent_id is not None and agent_id in self._names:
            self._touched.add(agent_id)
        self._dirty.set()

    def changed(self, *agent_ids: str | None) -> None:
        """Something moved: the agents named (their rows are built again), or the board as a whole (none)."""
        if not agent_ids:
            self._all = True
        self._touched.update(a for a in agent_ids if a is not None and a in self._names)
        self._dirty.set()

    async def resync(self) -> None:
        """After every AMI (re)connect, once the queue sync has read Asterisk's QueueStatus (its hook runs first):
        who waits where, from that same list (the events lost with the link may have missed some), with no second
        question to Asterisk; rings and screenings of calls no longer waiting are dropped (after an Asterisk
        restart no event ends them)."""
        if self.queues.entries_at is None:
            # the queue sync's QueueStatus failed this round: what the events said stays until the next one
            log.warning("board_resync_skipped", reason="no QueueStatus this round")
            return
        asked = self.queues.entries_at
        waiting: dict[str, dict[str, Waiter]] = {}
        for entry in self.queues.entries:
            since = asked - timedelta(seconds=_int(entry.get("Wait")))
            waiting.setdefault(str(entry.get("Queue")), {})[str(entry.get("Uniqueid"))] = Waiter(
                shown_caller(entry.get("CallerIDNum")), since
            )
        self.waiting = waiting
        calls = {caller for callers in waiting.values() for caller in callers}
        for legs in (self.ringing, self.screening):
            for agent in [a for a, leg in legs.items() if leg.call not in calls]:
                del legs[agent]
        self.talking = {a for a in self._names if self.queues.callers.talking_for(a) is not None}
        self._counts_stale = True
        self.changed()

    # -- publishing ----------------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Rebuild and publish whenever something changed (at most every DEBOUNCE s), and every IDLE_REBUILD s."""
        while True:
            try:
                async with asyncio.timeout(IDLE_REBUILD):
                    await self._dirty.wait()
            except TimeoutError:
                pass  # a quiet board is rebuilt all the same (rebuild: every IDLE_REBUILD s)
            self._dirty.clear()
            try:
                await self.rebuild()
            except Exception:
                # the next change tries again; the wallboard keeps the last snapshot meanwhile
                log.exception("board_rebuild_failed")
            await asyncio.sleep(DEBOUNCE)

    async def rebuild(self) -> None:
        if self.mono() - self._full_at >= IDLE_REBUILD:
            # scores move without an event (the half-life, other workers' ratings re-read by the ranking):
            # every row is built again now and then, however busy the board is
            self._all = True
            self._counts_stale = True
        if self._all:
            self._full_at = self.mono()
        await self._read_store()
        data = self.build()
        if self.snapshot.version and _same(data, self.snapshot.data):
            return  # nothing a wallboard shows has moved: nothing is sent
        async with self._published:
            version = self.snapshot.version + 1
            self.snapshot = Snapshot(version, data, json.dumps({**data, "version": version}, ensure_ascii=False))
            self._published.notify_all()

    async def next_snapshot(self, after: int, timeout: float) -> Snapshot | None:
        """The first snapshot newer than ``after``; None after ``timeout`` seconds without one, or once closed."""
        try:
            async with asyncio.timeout(timeout), self._published:
                await self._published.wait_for(lambda: self._closed or self.snapshot.version > after)
        except TimeoutError:
            return None
        return None if self._closed else self.snapshot

    async def close(self) -> None:
        """Let every open event stream end (the web server waits for them when it stops)."""
        async with self._published:
            self._closed = True
            self._published.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    async def _read_store(self) -> None:
        now_mono = self.mono()
        if self._counts_stale and now_mono - self._counts_at >= STORE_EVERY:
            since = self.day_start()
            started = time.perf_counter()
            queue_days = await self.store.queue_days(since, self.service_level_seconds)
            agent_days = await self.store.agent_days(since)
            self.store_seconds = time.perf_counter() - started
            self._counts_at = now_mono
            self._counts_stale = False
            # only the agents whose counts moved are built again (a 10k roster's rows are not rebuilt per call)
            old_queues, old_agents = self._counts
            for agent_id in self._names:
                own = naming.own_queues(agent_id)
                if agent_days.get(agent_id) != old_agents.get(agent_id) or any(
                    queue_days.get(q) != old_queues.get(q) for q in own
                ):
                    self._touched.add(agent_id)
            self._counts = (queue_days, agent_days)
        elif self._counts_stale:
            self._dirty.set()  # read on a later round, once STORE_EVERY has passed
        if self._ratings_stale:
            self._recent = await self._recent_ratings()
            self._ratings_stale = False  # after the read: a failed one is tried again on the next round

    def rows(self) -> Mapping[str, Mapping[str, Any]]:
        """Every agent's row as of the last rebuild (the snapshot shows at most MAX_AGENT_ROWS of them)."""
        return self._rows

    def day_start(self) -> datetime:
        """Midnight in the center's time zone ([selfservice] timezone), as the wallboard's "today"."""
        zone = ZoneInfo(self.timezone)
        local = self.clock().astimezone(zone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)

    async def _recent_ratings(self) -> list[dict[str, Any]]:
        changes = await self.store.evaluation_changes(limit=RECENT_RATINGS)
        numbers = await client_numbers(self.store, {c.client_id for c in changes})
        return [
            {
                "at": c.entry.at.isoformat(),
                "call": c.call_uniqueid,
                "direction": c.direction,
                "agent": c.agent_id,
                "agent_name": self._names.get(c.agent_id, c.agent_id),
                "caller": numbers.get(c.client_id, "?"),
                "action": "removed" if removed_by_operator(c.entry.action, c.entry.actor) else c.entry.action,
                "scores": dict(c.entry.new_scores or c.entry.old_scores or {}),
            }
            for c in changes
        ]

    def build(self) -> dict[str, Any]:
        """The snapshot: plain JSON-able data, the same for the page's first paint and every event after.

        Only the rows of agents something happened to are built again (all of them after a resync and every
        IDLE_REBUILD s; after a read of today's counts, those whose counts moved), and only the first
        MAX_AGENT_ROWS are shown (busy before free, then by score), with every state's count: a 10k-agent roster
        costs a rebuild what its few busy agents cost.
        """
        now, mono = self.clock(), self.mono()
        for legs, longest in ((self.ringing, self.ring_seconds + 10), (self.screening, SCREENING_MAX)):
            for agent in [a for a, leg in legs.items() if mono - leg.since > longest]:
                del legs[agent]  # its end was never heard (an event lost with the link)
                self._touched.add(agent)
        queue_days, agent_days = self._counts
        services = [
            {
                "id": sid,
                "name": name,
                "queue": naming.service_queue(sid),
                **self._queue_row([naming.service_queue(sid)], queue_days),
                "day": _day(queue_days.get(f"service:{sid}")),
            }
            for sid, name in self.services
        ]
        everyone = self._all
        touched = list(self._names) if everyone else sorted(self._touched)
        self._all, self._touched = False, set()
        states = self._states
        for agent_id in touched:
            old = self._rows.get(agent_id)
            if old is not None:
                states[old["state"]] -= 1
            row = self._rows[agent_id] = self._agent_row(agent_id, queue_days, agent_days.get(agent_id, {}))
            states[row["state"]] += 1
        shown = self._shown_rows(touched, everyone=everyone)
        own = [w for q, callers in self.waiting.items() if naming.own_queue_agent(q) for w in callers.values()]
        return {
            "at": now.isoformat(),
            "ami": self.ami.connected,
            "service_level_seconds": self.service_level_seconds,
            "services": services,
            # callers who chose an agent wait in that agent's own queue, not the service's: their total, beside
            "own_queues": {
                "waiting": len(own),
                "longest_since": min(w.since for w in own).isoformat() if own else None,
            },
            "agents": shown,
            "more_agents": sum(states.values()) - states.get("logged_out", 0) - len(shown),
            "logged_out": states.get("logged_out", 0),
            "states": {s: states.get(s, 0) for s in AGENT_STATES},
            "ratings": self._recent,
        }

    def _shown_rows(self, touched: Sequence[str], *, everyone: bool) -> list[dict[str, Any]]:
        """The first MAX_AGENT_ROWS rows by ``_order``. After a few agents changed, the last list and those agents
        are enough, unless one of them left the list's worst place behind (then some row outside may move in):
        one event at 10k agents costs a few hundred comparisons, not a walk over every row."""
        if not everyone and self._shown is not None and len(touched) <= MAX_AGENT_ROWS:
            last = self._shown
            worst = _order(last[-1]) if last else None
            moved = set(touched)
            listed = {r["id"] for r in last}
            full = len(last) == MAX_AGENT_ROWS
            # an agent of the list who fell behind its worst place, when rows outside it exist: walk them all
            fell = full and any(
                a in listed
                and (self._rows[a]["state"] == "logged_out" or (worst is not None and _order(self._rows[a]) > worst))
                for a in moved
            )
            if not fell:
                kept = [r for r in last if r["id"] not in moved]
                fresh = [self._rows[a] for a in moved if self._rows[a]["state"] != "logged_out"]
                self._shown = heapq.nsmallest(MAX_AGENT_ROWS, [*kept, *fresh], key=_order)
                return self._shown
        self._shown = heapq.nsmallest(
            MAX_AGENT_ROWS, (r for r in self._rows.values() if r["state"] != "logged_out"), key=_order
        )
        return self._shown

    def _queue_row(self, queues: Sequence[str], days: Mapping[str, QueueDay]) -> dict[str, Any]:
        waiters = sorted((w for q in queues for w in self.waiting.get(q, {}).values()), key=lambda w: w.since)
        return {
            "waiting": len(waiters),
            "longest_since": waiters[0].since.isoformat() if waiters else None,
            "callers": [{"caller": w.caller, "since": w.since.isoformat()} for w in waiters[:10]],
            "queue_day": _day(_sum(days.get(q) for q in queues)),
        }

    def _agent_row(self, agent_id: str, days: Mapping[str, QueueDay], today: Mapping[str, int]) -> dict[str, Any]:
        presence = self.queues.presence
        duty = presence.duty.get(agent_id) or Duty(logged_in=self.initial != "logged_out")
        state = agent_state(
            duty,
            presence.status(agent_id) if presence.synced else None,
            ringing=agent_id in self.ringing,
            screening=agent_id in self.screening,
            talking=agent_id in self.talking,
        )
        score = self.score_of(agent_id)
        return {
            "id": agent_id,
            "name": self._names[agent_id],
            "state": state,
            "reason": duty.reason if state == "paused" else None,
            "score": None if score is None or score.is_new else round(score.overall, 2),
            "grade": None if score is None else grade(score.overall, score.count, self.policy),
            "ratings": 0 if score is None else score.count,
            "answered": today.get("answered", 0),
            "accepted": today.get("accept", 0),
            "declined": today.get("decline", 0),
            **self._queue_row(naming.own_queues(agent_id), days),
        }


def _order(row: Mapping[str, Any]) -> tuple[int, float, str]:
    """Where a row stands on the wallboard: what needs a supervisor's eye first, then the best score."""
    return (SHOWN_ORDER.index(row["state"]), -(row["score"] or 0), row["id"])


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same snapshot but for the moment it was built."""
    return {**a, "at": None} == {**b, "at": None}


def _sum(days: Iterable[QueueDay | None]) -> QueueDay | None:
    found = [d for d in days if d is not None]
    if not found:
        return None
    return QueueDay(
        sum(d.calls for d in found),
        sum(d.answered for d in found),
        sum(d.within for d in found),
        sum(d.abandoned for d in found),
        sum(d.settled for d in found),
    )


def _day(day: QueueDay | None) -> dict[str, Any]:
    d = day or QueueDay(0, 0, 0, 0)
    level = d.service_level
    return {
        "calls": d.calls,
        "answered": d.answered,
        "within": d.within,
        "abandoned": d.abandoned,
        "service_level": None if level is None else round(100 * level),
    }


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0
