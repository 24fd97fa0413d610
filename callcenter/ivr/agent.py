"""The agent's side: screen a call before the bridge (hear the caller's reputation, accept or decline), and
rate the caller when the caller hung up first."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

import structlog

from callcenter.agi import AGISession, RouteRefused

# Asterisk's uniqueids are opaque ("main-1796109392.26" with a systemname): bounded in length and alphabet, never
# parsed
from callcenter.agi.protocol import UNIQUEID
from callcenter.domain import naming
from callcenter.domain.rules import Rater
from callcenter.domain.summaries import Scoring
from callcenter.ivr import speech
from callcenter.ivr.ask import Asking, ask, say
from callcenter.ivr.rating import RatingDialogue
from callcenter.ivr.screenings import Screenings
from callcenter.journal import Recorder
from callcenter.store.api import CallStore, RatingStore, SupervisionStore
from callcenter.store.models import AGENT_TO_CLIENT, ScreenDecision
from callcenter.usecases.ports import Clock

# take a caller (channel) out of a queue: AMI QueueWithdrawCaller (QueueSync.withdraw_caller)
Withdraw = Callable[[str, str], Awaitable[None]]

log = structlog.get_logger(__name__)

ACCEPT = "1"
DECLINE = "2"
# the wallboard's accept/decline count is a statistic: with the store slow or locked it is given up after this long
SCREENING_WRITE_SECONDS = 2.0


AGENT_ID = re.compile(r"[0-9]{2,8}")


async def call_and_agent(session: AGISession) -> tuple[str, str]:
    """The call and the agent this agent-side leg serves, read off the channel, never from the AGI URL.

    CC_CALL is the caller's ${UNIQUEID}, inherited (__) by every leg app_queue and Dial create for the call;
    CC_AGENT is set by the dialplan from cc-agent-offer's extension (the queue member) or the member channel's
    name. Neither is anything a caller can shape; RouteRefused if they are missing or malformed.
    """
    call = await session.get_variable(naming.CALL) or ""
    agent = await session.get_variable(naming.AGENT) or ""
    if not UNIQUEID.fullmatch(call) or not AGENT_ID.fullmatch(agent):
        raise RouteRefused(f"no call or agent on this leg: CC_CALL={call[:40]!r} CC_AGENT={agent[:12]!r}")
    return call, agent


class ScreenStore(CallStore, RatingStore, SupervisionStore, Protocol):
    """The call being screened, its caller and their reputation; where the decision is counted."""


class ScreenFlow:
    def __init__(
        self,
        *,
        store: ScreenStore,
        scoring: Scoring,
        asking: Asking,
        screenings: Screenings,
        withdraw: Withdraw,
        clock: Clock,
    ) -> None:
        self.store = store
        self.scoring = scoring
        self.asking = asking
        self.screenings = screenings
        self.withdraw = withdraw
        self.clock = clock
        # the decisions being counted: off the call's path, owned here, awaited by settle() when the service stops
        self._counting: set[asyncio.Task[None]] = set()

    async def __call__(self, session: AGISession) -> None:
        d = self
        call_id, agent = await call_and_agent(session)
        call = await d.store.get_call(call_id)
        if call is None or call.ended_at is not None:
            # no such call in progress: nothing to screen (the dialplan connects when the route sets nothing)
            raise RouteRefused(f"screening for call {call_id!r}, which is not in progress")
        client = await d.store.get_client(call.client_id) if call.client_id else None
        rep = d.scoring(await d.store.client_summary(client.id)) if client else None
        # the same facts as an AMI event, for an agent's screen pop
        # a new caller has no score worth showing (the prior is not their reputation)
        overall = f"{rep.overall:.1f}" if rep and not rep.is_new else ""
        await session.exec(
            "UserEvent",
            naming.EVENT_SCREEN,
            f"Agent: {agent}",
            f"Call: {call_id}",
            f"Caller: {client.number if client else 'anonymous'}",
            f"Score: {overall}",
            f"Ratings: {rep.count if rep else 0}",
            f"New: {'yes' if rep is None or rep.is_new else 'no'}",
        )
        key = await ask(
            session,
            [*speech.reputation(rep), "cc/accept-decline"],
            lambda k: k in {ACCEPT, DECLINE},
            Asking(d.asking.timeout, 2),
            step="screen",
        )
        if key == ACCEPT:
            log.info("agent_accepted", agent=agent, call=call_id)
            await session.set_variable(naming.SCREEN, naming.SCREEN_ACCEPT)
            self._count(call_id, agent, "accept")
            return
        if key == DECLINE:
            d.screenings.decline(call_id, agent, d.clock())
            await withdraw_caller(session, self.withdraw, agent)
        log.info("agent_declined" if key == DECLINE else "agent_no_decision", agent=agent, call=call_id)
        await session.set_variable(naming.SCREEN, naming.SCREEN_DECLINE)
        self._count(call_id, agent, "decline" if key == DECLINE else "none")

    def _count(self, call_id: str, agent: str, decision: ScreenDecision) -> None:
        """Count the decision for the wallboard, in the background: the agent's bridge never waits for a
        statistic, even with the store slow or locked (a count that cannot be written is logged and lost)."""
        task = asyncio.create_task(self._record(call_id, agent, decision, self.clock()), name="screening-count")
        self._counting.add(task)
        task.add_done_callback(self._counting.discard)

    async def _record(self, call_id: str, agent: str, decision: ScreenDecision, at: datetime) -> None:
        try:
            async with asyncio.timeout(SCREENING_WRITE_SECONDS):
                await self.store.record_screening(call_id, agent, decision, at)
        except Exception as exc:  # any store failure: the call goes on, the count misses one
            log.warning("screening_not_counted", agent=agent, call=call_id, decision=decision, error=repr(exc))

    async def settle(self) -> None:
        """Wait for the counts still being written (the service is stopping; each has its own deadline)."""
        await asyncio.gather(*self._counting, return_exceptions=True)


async def withdraw_caller(session: AGISession, withdraw: Withdraw, agent: str) -> None:
    """A caller waiting in the agent's own queue without a ring limit (a busy favourite) would be offered to the
    same agent again and again: take them out of the queue (QUEUESTATUS=WITHDRAW) so they can choose someone else.
    In the shared queue nothing is done: app_queue tries the next agent itself."""
    queue = await session.get_variable(naming.WAITING_IN) or ""
    channel = await session.get_variable(naming.CALLER_CHAN) or ""
    if queue in naming.own_queues(agent) and channel:
        await withdraw(queue, channel)


class RangOutFlow:
    """The agent's phone rang out (no answer, busy, unreachable): a caller waiting for this agent is told and
    offered others (after-queue says "is not answering"), as after a decline, instead of waiting for the same
    agent ring after ring until queue_timeout."""

    def __init__(self, withdraw: Withdraw) -> None:
        self.withdraw = withdraw

    async def __call__(self, session: AGISession) -> None:
        call_id, agent = await call_and_agent(session)
        status = session.env.params.get("status", "")
        log.info("agent_rang_out", agent=agent, call=call_id, status=status)
        await withdraw_caller(session, self.withdraw, agent)


class RateCallerFlow:
    def __init__(self, calls: CallStore, writes: Recorder, dialogue: RatingDialogue, clock: Clock) -> None:
        self.calls = calls
        self.writes = writes
        self.dialogue = dialogue
        self.clock = clock

    async def __call__(self, session: AGISession) -> None:
        d = self
        call_id, agent = await call_and_agent(session)
        call = await d.calls.get_call(call_id)
        # only the agent who was bridged with this caller rates them (the store checks the call was answered)
        if call is None or call.agent_id != agent:
            log.warning("rate_caller_refused", agent=agent, call=call_id, served_by=call.agent_id if call else None)
            return
        if call.client_id is None:
            log.info("rate_caller_skipped", reason="anonymous caller")
            return
        # the caller's hangup handler closes the call at the same moment; close it here first (idempotent) so the
        # rules see the real talk time
        await d.writes.call_ended(call_id, "answered", d.clock())
        await d.dialogue.rate(
            session, call=call_id, direction=AGENT_TO_CLIENT, rater=Rater("agent", agent), subject=["cc/the-caller"]
        )
        await say(session, ["cc/goodbye"])
