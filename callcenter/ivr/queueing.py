"""Around Queue(): the bridge is made (connected), Queue() returned (after-queue), the caller hung up (call-end)."""

from __future__ import annotations

import structlog

from callcenter.agi import AGISession
from callcenter.domain import naming
from callcenter.domain.rules import Rater
from callcenter.ivr import speech
from callcenter.ivr.ask import say
from callcenter.ivr.rating import RatingDialogue
from callcenter.ivr.screenings import Screenings
from callcenter.journal import Recorder
from callcenter.store.api import CallStore
from callcenter.store.models import CALL_OUTCOMES, CLIENT_TO_AGENT, Call, CallOutcome
from callcenter.usecases.ports import Clock

log = structlog.get_logger(__name__)

# Queue() ended without a bridge: the chosen agent declined, did not answer, or nobody could take the call
NOT_CONNECTED = frozenset({"TIMEOUT", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL", "FULL", "WITHDRAW"})


async def excluded_agents(session: AGISession) -> set[str]:
    """The agents this caller was not connected to (declined, no answer): not offered again this call."""
    return set(filter(None, (await session.get_variable(naming.EXCLUDE) or "").split("-")))


class ConnectedFlow:
    """Queue()'s AGI argument: runs on the caller the moment an agent is connected, so "answered" does not
    depend on the AMI link being up."""

    def __init__(self, writes: Recorder, clock: Clock) -> None:
        self.writes = writes
        self.clock = clock

    async def __call__(self, session: AGISession) -> None:
        agent = await session.get_variable("MEMBERNAME") or ""
        if not agent.isdigit():
            found = naming.MEMBER_PREFIX.match(await session.get_variable("MEMBERINTERFACE") or "")
            agent = found.group(1) if found else ""
        if not agent:
            log.error("connected_without_agent")
            return
        await self.writes.call_answered(session.env.uniqueid, agent, self.clock())
        log.info("call_answered", agent=agent)


class AfterQueueFlow:
    def __init__(
        self, calls: CallStore, writes: Recorder, dialogue: RatingDialogue, screenings: Screenings, clock: Clock
    ) -> None:
        self.calls = calls
        self.writes = writes
        self.dialogue = dialogue
        self.screenings = screenings
        self.clock = clock

    async def __call__(self, session: AGISession) -> None:
        d = self
        call = session.env.uniqueid
        status = session.env.params.get("status", "")
        chosen = await session.get_variable(naming.CHOSEN) or ""
        if await session.get_variable(naming.LEFT_QUEUE):
            await session.set_variable(naming.LEFT_QUEUE, "")
            log.info("caller_left_queue", agent=chosen or None)
            await session.set_variable(naming.RESULT, naming.RESULT_CHOOSE)
            return
        record = await d.calls.get_call(call)
        if record is not None and record.answered_at is None and status == "CONTINUE":
            # the bridge happened but the connected route did not record it (FastAGI hiccup): record it now
            member = await session.get_variable("MEMBERNAME") or ""
            if member.isdigit():
                record = await d.writes.call_answered(call, member, d.clock()) or record
        if record is not None and record.answered_at is not None:
            # The agent hung up first (Queue option c): the conversation is over, so the call row closes now
            # (talk time is the bridge's, not the survey's); the caller is still here to rate the agent.
            await d.writes.call_ended(call, "answered", d.clock())
            if record.client_id is not None and record.agent_id is not None:
                await d.dialogue.rate(
                    session,
                    call=call,
                    direction=CLIENT_TO_AGENT,
                    rater=Rater("client", str(record.client_id)),
                    subject=[speech.agent_name(record.agent_id)],
                )
            await say(session, ["cc/goodbye"])
            await session.set_variable(naming.RESULT, naming.RESULT_DONE)
            return
        if chosen and status in NOT_CONNECTED:
            outcome: CallOutcome = "declined" if d.screenings.was_declined(call, chosen) else "no_answer"
            log.info("agent_not_connected", agent=chosen, outcome=outcome, status=status)
            await session.set_variable(naming.LAST_OUTCOME, outcome)
            excluded = await excluded_agents(session)
            await session.set_variable(naming.EXCLUDE, "-".join(sorted(excluded | {chosen})))
            reason = "cc/declined" if outcome == "declined" else "cc/not-answering"
            await say(session, [speech.agent_name(chosen), reason])
            await session.set_variable(naming.RESULT, naming.RESULT_CHOOSE)
            return
        if status == "CONTINUE":
            # the caller talked to an agent, but the store has no answered call to ask a rating for (its writes
            # failed meanwhile): their business is done, so a plain goodbye, never "no agent can take calls"
            log.warning("answered_call_not_recorded", status=status, recorded=record is not None)
            # the bridge is over: the journal closes the call behind the writes it already holds for it
            await d.writes.call_ended(call, "answered", d.clock())
            await say(session, ["cc/goodbye"])
            await session.set_variable(naming.RESULT, naming.RESULT_DONE)
            return
        # the shared queue gave up (queue_timeout), or Queue() failed: a clear goodbye
        log.info("queue_gave_up", status=status or "none")
        await session.set_variable(naming.LAST_OUTCOME, "timeout")
        await say(session, ["cc/no-agents", "cc/goodbye"])
        await session.set_variable(naming.RESULT, naming.RESULT_DONE)


class CallEndFlow:
    """The caller's hangup handler: close the call row with its outcome (the store ignores a second end)."""

    def __init__(self, calls: CallStore, writes: Recorder, clock: Clock) -> None:
        self.calls = calls
        self.writes = writes
        self.clock = clock

    async def __call__(self, session: AGISession) -> None:
        d = self
        call = await d.calls.get_call(session.env.uniqueid)
        if call is None:
            if d.writes.waiting(session.env.uniqueid):
                # the row itself is still in the journal: so is its end
                answered = d.writes.waiting(session.env.uniqueid, "answered")
                last = await session.get_variable(naming.LAST_OUTCOME) or ""
                outcome: CallOutcome = "answered" if answered else last if last in CALL_OUTCOMES else "abandoned"
                await d.writes.call_ended(session.env.uniqueid, outcome, d.clock())
            return
        if call.ended_at is None:
            call = await self.close(session, call)
        # the call row is final: say so on AMI (dashboards, the demo's transcript); AGI may EXEC on a dead channel
        await session.exec("UserEvent", naming.EVENT_CALL_ENDED, f"Call: {call.uniqueid}", f"Outcome: {call.outcome}")

    async def close(self, session: AGISession, call: Call) -> Call:
        d = self
        last = await session.get_variable(naming.LAST_OUTCOME) or ""
        outcome: CallOutcome
        if call.answered_at is not None or d.writes.waiting(call.uniqueid, "answered"):
            outcome = "answered"
        elif last in CALL_OUTCOMES:
            outcome = last
        else:
            outcome = "abandoned"
        ended = await d.writes.call_ended(call.uniqueid, outcome, d.clock())
        if ended is None:  # journaled: the store takes it later
            return call
        log.info("call_ended", outcome=outcome, hold=ended.hold_seconds, talk=ended.talk_seconds)
        return ended
