"""Queue members in Asterisk, kept equal to what the roster, the agents' presence and the ratings say; who is
available now; and how loaded each agent's own queue is (callers waiting, the call in progress, recent handle
times), for offers that say the wait.

A logged-in agent is a member ``Local/<id>@cc-agent-offer/n`` (MemberName = agent id) of their own queues
``agent-<id>`` and ``agent-<id>-vip`` (penalty 0) and of the shared queue ``service-<s>`` of each service they
serve, where the penalty comes from their ratings (better agents lower, so they ring first); a paused agent is a
paused member (QueuePause, with the reason); a logged-out agent is a member of nothing (every name is
``callcenter.domain.naming``'s). After every AMI
(re)connect and every Asterisk restart, ``resync`` compares ``QueueStatus`` with that and fixes each difference,
logging one line per correction; a presence change is applied at once by ``apply``.

The queue load is kept from the events Asterisk sends anyway (QueueCallerJoin/Leave/Abandon, AgentConnect,
AgentComplete, in ``manager.conf``'s event filter), reset from ``QueueStatus``'s entries at every resync, and
never read from Asterisk on a caller's path: ``load`` answers from memory. The IVR's own enqueue counts at once
(``take``), seconds before Asterisk's QueueCallerJoin, so callers choosing at the same moment do not all land on
the same free agent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from panoramisk.message import Message

from callcenter.ami.link import AMIActionError, AMIError, AMILink, AMISettings
from callcenter.domain import naming
from callcenter.domain.agents import ON_DUTY, AgentSpec, Duty
from callcenter.domain.waits import AgentLoad, HandleTime, ewma, handle_time, remaining
from callcenter.domain.waits import load as load_of
from callcenter.store.models import CLIENT_TO_AGENT
from callcenter.usecases.ports import DutyOf, LoadWatch, NoWatch, PenaltyOf, TalkTimesOf, utcnow

log = structlog.get_logger(__name__)

# app_queue member status codes (AST_DEVICE_*)
NOT_INUSE = 1
UNKNOWN = 0
INVALID = 4
UNAVAILABLE = 5
RINGING = 6
OFFERABLE = frozenset({UNKNOWN, NOT_INUSE})
UNREACHABLE = frozenset({INVALID, UNAVAILABLE})

# A caller the IVR puts in an agent's own queue counts as waiting at once (``take``); Asterisk's QueueCallerJoin
# confirms it a few seconds later, after "Please hold for Alice". One never confirmed (the caller hung up during
# that sentence, Queue() failed, the AMI link is down) stops counting after this long.
RESERVATION_SECONDS = 20.0


@dataclass
class MemberState:
    status: int = UNKNOWN
    paused: bool = False
    penalty: int = 0


@dataclass
class Presence:
    """What Asterisk last told us about each agent's membership of each queue."""

    members: dict[str, dict[str, MemberState]] = field(default_factory=dict)  # agent -> queue -> state
    synced: bool = False
    # what each agent last chose (the store's presence), for when Asterisk has not told us anything yet
    duty: dict[str, Duty] = field(default_factory=dict)

    def update(self, queue: str, agent_id: str, **changes: int | bool) -> None:
        state = self.members.setdefault(agent_id, {}).setdefault(queue, MemberState())
        for name, value in changes.items():
            setattr(state, name, value)

    def remove(self, queue: str, agent_id: str) -> None:
        self.members.get(agent_id, {}).pop(queue, None)

    def _own(self, agent_id: str) -> MemberState | None:
        return self.members.get(agent_id, {}).get(naming.agent_queue(agent_id))

    def offerable(self, agent_id: str) -> bool:
        """Free to take a call now: logged in to their own queue, not paused, not busy or unreachable."""
        if not self.synced:
            # no word from Asterisk (AMI down since start): offer whoever is on duty, ringing will tell
            return self._on_duty(agent_id)
        # both: the member as Asterisk last showed it, and the agent's own choice, which may be newer (a pause
        # while AMI is down reaches Asterisk only with the next resync)
        own = self._own(agent_id)
        return own is not None and not own.paused and own.status in OFFERABLE and self._on_duty(agent_id)

    def reachable(self, agent_id: str) -> bool:
        """Logged in and reachable, perhaps busy: worth waiting for in a queue."""
        if not self.synced:
            return self._on_duty(agent_id)
        own = self._own(agent_id)
        return own is not None and not own.paused and own.status not in UNREACHABLE and self._on_duty(agent_id)

    def status(self, agent_id: str) -> int | None:
        """The device state of the agent's own-queue member (AST_DEVICE_*), None when not a member."""
        own = self._own(agent_id)
        return None if own is None else own.status

    def _on_duty(self, agent_id: str) -> bool:
        duty = self.duty.get(agent_id, ON_DUTY)
        return duty.logged_in and not duty.paused


@dataclass
class _Waiter:
    agent_id: str
    since: float  # monotonic seconds: when we first knew
    joined: bool  # Asterisk said so (QueueCallerJoin, or QueueStatus listed them); False: the IVR's reservation


class QueueCallers:
    """Who waits for which agent in the agents' own queues (``agent-<id>``, ``agent-<id>-vip``), which agents are
    on a queue call since when, and each agent's recent handle time.

    Long-lived (a resync corrects it in place, it is never replaced), so a reservation made while a resync runs
    is not lost. Callers are keyed by their uniqueid: the IVR's reservation and Asterisk's QueueCallerJoin for the
    same caller are one waiter, whichever comes first.
    """

    def __init__(self, *, handle_default: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.handle_default = handle_default
        self.clock = clock
        self._waiters: dict[str, _Waiter] = {}  # caller uniqueid -> waiter
        self._by_agent: dict[str, set[str]] = {}  # agent -> callers waiting for them
        self._talking: dict[str, float] = {}  # agent -> monotonic time their current queue call was connected
        self._handle: dict[str, HandleTime] = {}  # agent -> moving average of their talk times
        self._lapsed: set[str] = set()  # agents whose reservation waiting() dropped since the last expire()

    # -- what the IVR and Asterisk tell us ----------------------------------------------------------------------
    def take(self, agent_id: str, caller: str) -> None:
        """The IVR is putting ``caller`` in ``agent_id``'s queue: count them now, before Asterisk's event."""
        if caller not in self._waiters:
            self._add(caller, _Waiter(agent_id, self.clock(), joined=False))

    def joined(self, queue: str, caller: str) -> None:
        agent_id = naming.own_queue_agent(queue)
        if agent_id is None:
            self.left(caller)  # a shared queue: whatever own queue they were in, they are not there now
            return
        known = self._waiters.get(caller)
        if known is not None and known.agent_id == agent_id:
            known.joined = True
            return
        self.left(caller)
        self._add(caller, _Waiter(agent_id, self.clock(), joined=True))

    def agent_of(self, caller: str) -> str | None:
        """The agent ``caller`` waits for, if any."""
        waiter = self._waiters.get(caller)
        return None if waiter is None else waiter.agent_id

    def expire(self) -> set[str]:
        """Drop the reservations Asterisk never confirmed in time (``waiting`` drops them too, lazily); the agents
        they were for. Looks at the callers waiting (as many as calls in flight), never at the roster."""
        stale = self.clock() - RESERVATION_SECONDS
        gone = [(c, w.agent_id) for c, w in self._waiters.items() if not w.joined and w.since < stale]
        for caller, agent_id in gone:
            log.info("queue_reservation_expired", agent=agent_id, caller=caller)
            self.left(caller)
        lapsed, self._lapsed = self._lapsed, set()
        return {agent_id for _, agent_id in gone} | lapsed

    def left(self, caller: str) -> None:
        """Connected, abandoned, withdrawn, timed out or gone to choose again: no longer waiting."""
        waiter = self._waiters.pop(caller, None)
        if waiter is not None:
            self._by_agent.get(waiter.agent_id, set()).discard(caller)

    def connected(self, agent_id: str) -> None:
        self._talking[agent_id] = self.clock()

    def completed(self, agent_id: str, talk_seconds: float | None) -> None:
        self._talking.pop(agent_id, None)
        if talk_seconds is not None and talk_seconds >= 0:
            self._handle[agent_id] = ewma(self._handle.get(agent_id), talk_seconds)

    def seed_handle(self, samples: Mapping[str, Sequence[float]]) -> None:
        """Start each agent's handle time from their stored talk times (oldest first), at start."""
        for agent_id, talks in samples.items():
            seeded = handle_time(talks)
            if seeded is not None and agent_id not in self._handle:
                self._handle[agent_id] = seeded

    def resynced(self, entries: Mapping[str, str], as_of: float) -> None:
        """QueueStatus's waiting callers (uniqueid -> queue), asked for at ``as_of``, replace what the events said;
        reservations not yet confirmed stay (their callers are still on the way into Queue()), and so do callers
        whose QueueCallerJoin came after the question (the list cannot know them)."""
        for caller, waiter in list(self._waiters.items()):
            if waiter.joined and waiter.since <= as_of and caller not in entries:
                self.left(caller)
        for caller, queue in entries.items():
            self.joined(queue, caller)

    # -- what offers read ---------------------------------------------------------------------------------------
    def waiting(self, agent_id: str) -> int:
        callers = self._by_agent.get(agent_id)
        if not callers:
            return 0
        stale = self.clock() - RESERVATION_SECONDS
        for caller in [c for c in callers if not self._waiters[c].joined and self._waiters[c].since < stale]:
            log.info("queue_reservation_expired", agent=agent_id, caller=caller)
            self.left(caller)
            # found here, by a read: the next expire() says so too, so the agent is filed again as free
            self._lapsed.add(agent_id)
        return len(callers)

    def handle(self, agent_id: str) -> float:
        """The agent's handle time in seconds: their recent talk times, or the configured one before any."""
        known = self._handle.get(agent_id)
        return self.handle_default if known is None else known.seconds

    def talking_for(self, agent_id: str) -> float | None:
        """Seconds the agent has been on their current queue call; None when we saw no call start."""
        since = self._talking.get(agent_id)
        return None if since is None else self.clock() - since

    def _add(self, caller: str, waiter: _Waiter) -> None:
        self._waiters[caller] = waiter
        self._by_agent.setdefault(waiter.agent_id, set()).add(caller)


class QueueSync:
    def __init__(
        self,
        ami: AMILink,
        agents: Sequence[AgentSpec],
        penalties: PenaltyOf,
        duties: DutyOf,
        *,
        talk_times: TalkTimesOf,
        handle_seconds: float,
        corrects: bool = True,
        duty_elsewhere: bool = False,
        watch: LoadWatch | None = None,
    ) -> None:
        """``corrects``: this process fixes Asterisk's members after a (re)connect; with several workers only
        worker 0 does (each QueueAdd would otherwise be sent once per worker, and app_queue refuses the second),
        the others only read ``QueueStatus`` into their own map. ``duty_elsewhere``: other processes change agents'
        presence too (an agent menu served by another worker), so a membership event re-reads that agent's duty
        from the store, where it was written before it reached Asterisk."""
        self.ami = ami
        self.corrects = corrects
        self.duty_elsewhere = duty_elsewhere
        # agents whose presence or penalty this process could not push (link down, action refused): a worker
        # that does not correct (not worker 0) corrects once at its next resync, or nobody ever would (worker 0's
        # link may never have dropped)
        self._unpushed: set[str] = set()
        # told of every change of an agent's load (the kept ranking: free, busy, away)
        self.watch: LoadWatch = watch or NoWatch()
        self.agents = {a.id: a for a in agents}
        self.penalties = penalties
        self.duties = duties
        self.talk_times = talk_times
        self.presence = Presence()
        self.callers = QueueCallers(handle_default=handle_seconds)
        self.entries: list[Message] = []  # QueueStatus's QueueEntry items at the last resync
        self.entries_at: datetime | None = None  # when they were asked for; None: the last resync got none
        self.resyncs = 0  # completed resyncs; wait_resynced() lets tests and operators await the next one
        self._resynced = asyncio.Condition()
        # one membership change at a time: a presence change landing in the middle of a resync would otherwise
        # add a member the resync is adding too (app_queue refuses the second QueueAdd)
        self._changing = asyncio.Lock()
        # agents whose penalty must be pushed, and the one task pushing them (see agent_rated)
        self._stale_penalties: set[str] = set()
        self._pusher: asyncio.Task[None] | None = None
        ami.on_resync(self.resync)
        # every event the queue sync follows, in one place; each must pass manager.conf's event filter for the
        # service's user (tests/unit/ami/test_queues.py compares the two)
        handlers: dict[str, Callable[[Message], Awaitable[None]]] = {
            "QueueMemberStatus": self._on_member,
            "QueueMemberAdded": self._on_membership,
            "QueueMemberPause": self._on_membership,
            "QueueMemberPenalty": self._on_member,
            "QueueMemberRemoved": self._on_removed,
            "QueueCallerJoin": self._on_caller_join,
            "QueueCallerLeave": self._on_caller_leave,
            "QueueCallerAbandon": self._on_caller_leave,
            "AgentConnect": self._on_agent_connect,
            "AgentComplete": self._on_agent_complete,
        }
        for name, handler in handlers.items():
            ami.on_event(name, handler)

    def desired(self, penalties: Mapping[str, int], duty: Mapping[str, Duty]) -> dict[tuple[str, str], int]:
        """(queue, agent) -> penalty, for every membership the roster and the logged-in agents imply."""
        want: dict[tuple[str, str], int] = {}
        for agent in self.agents.values():
            if not duty.get(agent.id, ON_DUTY).logged_in:
                continue
            for queue in agent.queues:
                want[(queue, agent.id)] = penalties.get(agent.id, 0) if naming.is_service_queue(queue) else 0
        return want

    async def load_duty(self) -> None:
        """Read every agent's presence and recent talk times from the store (at start, before Asterisk says
        anything): offers know who is on duty and how long their calls take from the first call on."""
        self.presence.duty = dict(await self.duties(list(self.agents)))
        self.callers.seed_handle(await self.talk_times(list(self.agents)))
        self._touch_all()

    # -- offers: each agent's own queue, from memory ---------------------------------------------------------------
    def load(self, agent_id: str) -> AgentLoad | None:
        """How loaded ``agent_id``'s own queue is for one more caller; None when they cannot be reached at all
        (logged out, paused, their phone unavailable). Reads nothing from Asterisk."""
        presence, callers = self.presence, self.callers
        if not presence.reachable(agent_id):
            return None
        waiting = callers.waiting(agent_id)
        handle = callers.handle(agent_id)
        member_free = presence.offerable(agent_id)
        current: float | None = None
        if not member_free:
            talking = callers.talking_for(agent_id)
            if talking is not None:
                current = remaining(handle, talking)
            elif not (presence.status(agent_id) == RINGING and waiting):
                # busy with a call we did not see start (another queue before a resync, a call of their own):
                # a whole handle time. Ringing for a caller of their own queue is that caller's turn, counted below.
                current = handle
        return load_of(member_free=member_free, waiting=waiting, handle=handle, current=current)

    def take(self, agent_id: str, caller: str) -> None:
        """``caller`` is being put in ``agent_id``'s own queue: the next offer counts them already."""
        self.callers.take(agent_id, caller)
        self._touch(agent_id)

    def refresh(self) -> None:
        """Before an offer: reservations never confirmed in time are dropped, and their agents free again."""
        self._touch(*self.callers.expire())

    def _touch(self, *agent_ids: str | None) -> None:
        # after every change of presence or callers: the watcher (the kept ranking) files the agent again
        for agent_id in agent_ids:
            if agent_id is not None and agent_id in self.agents:
                self.watch.load_changed(agent_id, self.load(agent_id))

    def _touch_all(self) -> None:
        # a resync or the duty read at start replaced everything: every agent once (never on a caller's path)
        self._touch(*self.agents)

    async def resync(self) -> None:
        async with self._changing:
            await self._resync()
        async with self._resynced:
            self.resyncs += 1
            self._resynced.notify_all()

    async def _resync(self, *, correct: bool | None = None) -> None:
        """``correct``: whether to fix the members (default: ``corrects``, i.e. worker 0)."""
        asked = self.callers.clock()
        self.entries_at = None  # until this round's list is in (a failed one leaves no stale list behind)
        asked_at = utcnow()
        messages = await self.ami.send_list({"Action": "QueueStatus"})
        # every caller waiting in any queue, as Asterisk listed them: the wallboard's resync reads these too
        self.entries = [m for m in messages if m.get("Event") == "QueueEntry"]
        self.entries_at = asked_at
        current: dict[tuple[str, str], MemberState] = {}
        # callers waiting in the agents' own queues (uniqueid -> queue): the events lost with a link may have
        # missed some joining or leaving
        self.callers.resynced(
            {
                str(m.get("Uniqueid")): str(m.get("Queue"))
                for m in messages
                if m.get("Event") == "QueueEntry" and naming.own_queue_agent(str(m.get("Queue"))) is not None
            },
            as_of=asked,
        )
        for m in messages:
            if m.get("Event") != "QueueMember":
                continue
            found = naming.MEMBER.match(str(m.get("Location") or m.get("Interface") or ""))
            if found is None:
                continue
            current[(str(m.get("Queue")), found["agent"])] = _state(m)
        duty = dict(await self.duties(list(self.agents)))
        correcting = (self.corrects if correct is None else correct) or bool(self._unpushed)
        unpushed, self._unpushed = self._unpushed, set()
        try:
            corrections = await self._correct(current, duty) if correcting else 0
        except BaseException:
            self._unpushed |= unpushed
            raise
        presence = Presence(synced=True, duty=duty)
        for (queue, agent_id), state in current.items():
            presence.members.setdefault(agent_id, {})[queue] = state
        self.presence = presence
        self._touch_all()
        log.info("queues_resynced", members=len(current), corrections=corrections)

    async def _correct(self, current: dict[tuple[str, str], MemberState], duty: Mapping[str, Duty]) -> int:
        """Make Asterisk's members (``current``, updated in place) what the roster, duty and ratings say; the
        number of corrections."""
        want = self.desired(await self.penalties(list(self.agents)), duty)
        corrections = 0
        for (queue, agent_id), penalty in want.items():
            have = current.get((queue, agent_id))
            wanted = duty.get(agent_id, ON_DUTY)
            try:
                if have is None:
                    await self._add(queue, self.agents[agent_id], penalty, wanted)
                    current[(queue, agent_id)] = MemberState(UNKNOWN, wanted.paused, penalty)
                    corrections += 1
                    continue
                if have.penalty != penalty:
                    await self._set_penalty(queue, agent_id, penalty, have.penalty)
                    have.penalty = penalty
                    corrections += 1
                if have.paused != wanted.paused:
                    await self._pause(queue, agent_id, wanted)
                    have.paused = wanted.paused
                    corrections += 1
            except AMIActionError as exc:
                # refused for this member alone (another process added it a moment ago: "Already there"): the
                # others are still fixed, and the member's own events bring our map up to date
                log.warning("queue_correction_failed", queue=queue, agent=agent_id, error=str(exc))
        for queue, agent_id in set(current) - set(want):
            try:
                await self._remove(queue, agent_id, "not in roster" if agent_id not in self.agents else "logged out")
            except AMIActionError as exc:
                log.warning("queue_correction_failed", queue=queue, agent=agent_id, error=str(exc))
            del current[(queue, agent_id)]
            corrections += 1
        await self._wake_custom_states(current)
        return corrections

    async def wait_resynced(self, count: int, timeout: float) -> None:
        """Return once ``count`` resyncs have completed (e.g. the one after an Asterisk restart)."""
        async with asyncio.timeout(timeout), self._resynced:
            await self._resynced.wait_for(lambda: self.resyncs >= count)

    async def apply(self, agent_id: str, duty: Duty) -> None:
        """An agent logged in, paused, resumed or logged out (already stored): make Asterisk's members say so.

        With AMI down this only remembers the choice; the resync after the reconnect applies it.
        """
        agent = self.agents.get(agent_id)
        if agent is None:
            return
        self.presence.duty[agent_id] = duty
        try:
            if not self.ami.connected:
                log.warning("presence_not_pushed", agent=agent_id, reason="AMI link down; applied on reconnect")
                self._unpushed.add(agent_id)
                return
            async with self._changing:
                await self._apply(agent, duty)
        except AMIError as exc:
            log.warning("presence_not_pushed", agent=agent_id, error=str(exc))
            self._unpushed.add(agent_id)
        finally:
            self._touch(agent_id)

    async def _apply(self, agent: AgentSpec, duty: Duty) -> None:
        if not duty.logged_in:
            # every queue, whatever our map says: a stale map must never leave a logged-out agent rung
            for queue in agent.queues:
                try:
                    await self._remove(queue, agent.id, "logged out")
                except AMIActionError as exc:
                    log.debug("queue_member_already_gone", queue=queue, agent=agent.id, error=str(exc))
                self.presence.remove(queue, agent.id)
            return
        penalty = (await self.penalties([agent.id])).get(agent.id, 0)
        failed = False
        for queue in agent.queues:
            have = self.presence.members.get(agent.id, {}).get(queue)
            try:
                if have is None:
                    wanted_penalty = penalty if naming.is_service_queue(queue) else 0
                    await self._add(queue, agent, wanted_penalty, duty)
                    # QueueMemberAdded may have been handled already, with the member's real status: keep it
                    self.presence.members.setdefault(agent.id, {}).setdefault(
                        queue, MemberState(UNKNOWN, duty.paused, wanted_penalty)
                    )
                elif have.paused != duty.paused:
                    await self._pause(queue, agent.id, duty)
                    have.paused = duty.paused
            except AMIActionError as exc:
                log.warning("presence_step_failed", queue=queue, agent=agent.id, error=str(exc))
                failed = True
        if failed:
            # compare with QueueStatus and fix what is left, rather than leave the agent in half their queues: in
            # whichever worker served the agent's menu (their change, not a reconnect's)
            await self._resync(correct=True)
            return
        own = self.presence.members.get(agent.id, {}).get(agent.own_queue)
        if own is not None:
            await self._wake_custom_states({(agent.own_queue, agent.id): own})

    async def agent_rated(self, agent_id: str) -> None:
        """A rating of ``agent_id`` changed: push their new penalty in the shared queues, in the background.

        The caller who rated never waits for Asterisk: an AMI link that is open but silent would otherwise hold
        their read-back for a whole action timeout. Pushes are coalesced (one task; an agent rated twice meanwhile
        is pushed once, with the newest penalty) and serialised with membership changes (``_changing``).
        """
        if agent_id not in self.agents:
            return
        self._stale_penalties.add(agent_id)
        if self._pusher is None or self._pusher.done():
            self._pusher = asyncio.create_task(self._push_stale_penalties(), name="penalty-push")
            self._pusher.add_done_callback(_log_failure)

    async def _push_stale_penalties(self) -> None:
        while self._stale_penalties:
            agent = self.agents[self._stale_penalties.pop()]
            async with self._changing:
                await self._push_penalty(agent)

    @property
    def pushing(self) -> bool:
        """A penalty push is on its way to Asterisk (it may be waiting on a silent link)."""
        return self._pusher is not None and not self._pusher.done()

    async def close(self) -> None:
        if self._pusher is not None:
            self._pusher.cancel()
            await asyncio.gather(self._pusher, return_exceptions=True)

    async def _push_penalty(self, agent: AgentSpec) -> None:
        agent_id = agent.id
        penalty = (await self.penalties([agent_id])).get(agent_id, 0)
        for queue in agent.service_queues:
            state = self.presence.members.get(agent_id, {}).get(queue)
            if state is None and self.presence.synced:
                continue  # not a member (logged out): logging in sets the penalty of the moment
            if state is not None and state.penalty == penalty:
                continue
            try:
                await self._set_penalty(queue, agent_id, penalty, state.penalty if state else None)
            except AMIError as exc:
                # the next resync (reconnect, restart) corrects it; the rating itself is stored
                log.warning("queue_penalty_not_pushed", queue=queue, agent=agent_id, error=str(exc))
                self._unpushed.add(agent_id)

    async def withdraw_caller(self, queue: str, channel: str) -> None:
        """Ask app_queue to let a waiting caller go (Queue() returns with QUEUESTATUS=WITHDRAW)."""
        try:
            await self.ami.send(
                {"Action": "QueueWithdrawCaller", "Queue": queue, "Caller": channel, "WithdrawInfo": "declined"}
            )
        except AMIError as exc:
            # the caller then waits for queue_timeout, and is told and offered others after it
            log.warning("queue_withdraw_failed", queue=queue, caller=channel, error=str(exc))
        else:
            log.info("queue_caller_withdrawn", queue=queue, caller=channel)

    async def _add(self, queue: str, agent: AgentSpec, penalty: int, duty: Duty) -> None:
        await self.ami.send(
            {
                "Action": "QueueAdd",
                "Queue": queue,
                "Interface": naming.member_interface(agent.id),
                "Penalty": str(penalty),
                "MemberName": agent.id,
                "StateInterface": agent.state_interface,
                # added paused, never rung in between; the reason follows with QueuePause
                "Paused": "true" if duty.paused else "false",
            }
        )
        log.info("queue_member_added", queue=queue, agent=agent.id, penalty=penalty, paused=duty.paused)
        if duty.paused:
            await self._pause(queue, agent.id, duty)

    async def _remove(self, queue: str, agent_id: str, reason: str) -> None:
        await self.ami.send({"Action": "QueueRemove", "Queue": queue, "Interface": naming.member_interface(agent_id)})
        log.info("queue_member_removed", queue=queue, agent=agent_id, reason=reason)

    async def _pause(self, queue: str, agent_id: str, duty: Duty) -> None:
        action = {
            "Action": "QueuePause",
            "Queue": queue,
            "Interface": naming.member_interface(agent_id),
            "Paused": "true" if duty.paused else "false",
        }
        if duty.paused and duty.reason:
            action["Reason"] = duty.reason
        await self.ami.send(action)
        log.info("queue_member_paused" if duty.paused else "queue_member_resumed", queue=queue, agent=agent_id)

    async def _set_penalty(self, queue: str, agent_id: str, penalty: int, old: int | None) -> None:
        await self.ami.send(
            {
                "Action": "QueuePenalty",
                "Queue": queue,
                "Interface": naming.member_interface(agent_id),
                "Penalty": str(penalty),
            }
        )
        log.info("queue_penalty_set", queue=queue, agent=agent_id, penalty=penalty, was=old)

    async def _wake_custom_states(self, current: Mapping[tuple[str, str], MemberState]) -> None:
        # A fresh Asterisk knows no Custom:agent-N state (INVALID): say the agent is free, once. Over the members
        # given, not the roster: one agent's login must not walk every agent.
        for (queue, agent_id), own in current.items():
            agent = self.agents.get(agent_id)
            if agent is None or queue != agent.own_queue:
                continue
            if agent.sip_endpoint is None and own.status in {UNKNOWN, INVALID}:
                await self.ami.send(
                    {
                        "Action": "Setvar",
                        "Variable": f"DEVICE_STATE({naming.custom_state(agent_id)})",
                        "Value": "NOT_INUSE",
                    }
                )
                own.status = NOT_INUSE

    async def _on_member(self, event: Message) -> None:
        found = naming.MEMBER.match(str(event.get("Interface") or event.get("Location") or ""))
        if found is None:
            return
        state = _state(event)
        self.presence.update(
            str(event.get("Queue")), found["agent"], status=state.status, paused=state.paused, penalty=state.penalty
        )
        self._touch(found["agent"])

    async def _on_membership(self, event: Message) -> None:
        """A member added or (un)paused: an agent's presence changed, perhaps by another worker."""
        await self._on_member(event)
        await self._duty_changed(event)

    async def _on_removed(self, event: Message) -> None:
        found = naming.MEMBER.match(str(event.get("Interface") or event.get("Location") or ""))
        if found is not None:
            self.presence.remove(str(event.get("Queue")), found["agent"])
            self._touch(found["agent"])
        await self._duty_changed(event)

    async def _duty_changed(self, event: Message) -> None:
        """With presence changed by other processes too, this one's idea of the agent's duty follows the store
        (written first, then pushed to Asterisk: by the time the event comes, the store says the new duty)."""
        if not self.duty_elsewhere:
            return
        found = naming.MEMBER.match(str(event.get("Interface") or event.get("Location") or ""))
        if found is None or str(event.get("Queue")) != naming.agent_queue(found["agent"]):
            return  # one event per queue: the agent's own queue's is enough
        if found["agent"] in self.agents:
            self.presence.duty.update(await self.duties([found["agent"]]))
            self._touch(found["agent"])

    async def _on_caller_join(self, event: Message) -> None:
        caller = str(event.get("Uniqueid"))
        before = self.callers.agent_of(caller)
        self.callers.joined(str(event.get("Queue")), caller)
        self._touch(before, self.callers.agent_of(caller))

    async def _on_caller_leave(self, event: Message) -> None:
        # QueueCallerLeave comes however the caller left (connected, timed out, withdrawn, pressed 1);
        # QueueCallerAbandon for a hangup: either one is enough
        caller = str(event.get("Uniqueid"))
        agent_id = self.callers.agent_of(caller)
        self.callers.left(caller)
        self._touch(agent_id)

    async def _on_agent_connect(self, event: Message) -> None:
        agent_id = event_agent(event)
        if agent_id is not None:
            self.callers.connected(agent_id)
            self._touch(agent_id)

    async def _on_agent_complete(self, event: Message) -> None:
        agent_id = event_agent(event)
        if agent_id is not None:
            talk = _int(event.get("TalkTime"), default=-1)
            self.callers.completed(agent_id, talk if talk >= 0 else None)
            self._touch(agent_id)
            log.debug("agent_handle_time", agent=agent_id, talk=talk, handle=round(self.callers.handle(agent_id)))


def _log_failure(task: asyncio.Task[None]) -> None:
    # an owned task's failure is logged, never lost (the next resync corrects the penalty anyway)
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("queue_task_failed", task=task.get_name(), exc_info=exc)


def _state(m: Message) -> MemberState:
    return MemberState(status=_int(m.get("Status")), paused=_int(m.get("Paused")) == 1, penalty=_int(m.get("Penalty")))


def _int(value: object, default: int = 0) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def event_agent(event: Message) -> str | None:
    """The agent of an AgentConnect/AgentComplete: their member interface, else the member name (an agent id)."""
    found = naming.MEMBER.match(str(event.get("Interface") or ""))
    if found is not None:
        return found["agent"]
    name = str(event.get("MemberName") or "")
    return name if name.isdigit() else None


class PenaltyPushOnce:
    """The CLI's ``PenaltyPush``: an operator's removal changes an agent's penalty while the service runs in another
    process, with its own AMI link. This logs in to Asterisk once, as the service's AMI user (the CLI has the same
    config and secret), sends the new penalty with ``QueuePenalty`` to each of the agent's shared queues, tells
    every service process to read the agent's ratings again (the ``CallCenterRatingDeleted`` user event) and logs
    off.

    Why this and not the alternatives: Asterisk is where the penalty takes effect, and ``QueuePenalty`` is
    idempotent and computed from the store exactly as the service computes it, so two writers cannot disagree; the
    running service hears it as the ``QueueMemberPenalty`` event it already follows, so its own map stays right. A
    message to the service (an AMI UserEvent it would subscribe to) would need a new event in ``manager.conf``'s
    filter and a service to be running to mean anything; a periodic resync would put a QueueStatus on the link every
    few seconds for a rare operator action. Without Asterisk (or without a secret) there is nothing to push: the
    service's resync after it next connects sets every penalty from the store anyway.
    """

    def __init__(
        self,
        settings: AMISettings,
        agents: Sequence[AgentSpec],
        penalties: PenaltyOf,
        connect: Callable[[AMISettings], Awaitable[AMILink]] | None = None,
    ) -> None:
        self.settings = settings
        self.agents = {a.id: a for a in agents}
        self.penalties = penalties
        self.connect = connect or _login
        self.pushed: list[tuple[str, str, int]] = []  # (queue, agent, penalty), for the command's output

    async def agent_rated(self, agent_id: str) -> None:
        agent = self.agents.get(agent_id)
        if agent is None or not agent.services:
            return
        if not self.settings.secret:
            log.info("queue_penalty_not_pushed", agent=agent_id, reason="no AMI secret; the service resyncs it")
            return
        try:
            ami = await self.connect(self.settings)
        except AMIError as exc:
            # no Asterisk (or not ours): its queues come back from the store when the service next connects
            log.info("queue_penalty_not_pushed", agent=agent_id, reason=str(exc))
            return
        try:
            penalty = (await self.penalties([agent_id])).get(agent_id, 0)
            for queue in agent.service_queues:
                action = {
                    "Action": "QueuePenalty",
                    "Queue": queue,
                    "Interface": naming.member_interface(agent_id),
                    "Penalty": str(penalty),
                }
                try:
                    await ami.send(action)
                except AMIActionError as exc:
                    # not a member now (logged out): logging in sets the penalty of the moment
                    log.info("queue_penalty_not_pushed", queue=queue, agent=agent_id, reason=str(exc))
                else:
                    log.info("queue_penalty_set", queue=queue, agent=agent_id, penalty=penalty, by="cli")
                    self.pushed.append((queue, agent_id, penalty))
            # every running service process keeps the agent's ranking in memory: the same event as a rater's
            # deletion by phone makes each read this agent again (ami/rating_events.py)
            await ami.send(
                {
                    "Action": "UserEvent",
                    "UserEvent": naming.EVENT_RATING_DELETED,
                    "Direction": CLIENT_TO_AGENT,
                    "Agent": agent_id,
                }
            )
        except AMIError as exc:
            log.warning("queue_penalty_not_pushed", agent=agent_id, error=str(exc))
        finally:
            await ami.close()


async def _login(settings: AMISettings) -> AMILink:
    # a few actions and a log-off: no event is of any use to it
    link = AMILink(dataclasses.replace(settings, events="off"))
    await link.start()
    return link
