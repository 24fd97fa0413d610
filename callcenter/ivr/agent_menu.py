"""The agent menu, by phone: log in, pause with a reason, resume, log out, and review the callers served.

Reached with the feature code from the agent's own softphone (the authenticated endpoint names the agent) or
with the access number from any phone (agent number and PIN, three tries).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

import structlog

from callcenter.agi import AGISession
from callcenter.domain import naming
from callcenter.domain.pins import check_agent_pin
from callcenter.domain.rules import Rater
from callcenter.ivr import speech
from callcenter.ivr.ask import Asking, announce, ask, say
from callcenter.ivr.pin_entry import PinCheck, PinEntry
from callcenter.ivr.review import Review, Reviewer
from callcenter.store import Call, PresenceState
from callcenter.store.api import CallStore, RosterStore
from callcenter.store.models import AGENT_TO_CLIENT
from callcenter.usecases.duty import AgentDuty

log = structlog.get_logger(__name__)

MAX_AGENT_ID = 8
MAX_ROUNDS = 20
LOG_IN, PAUSE, RESUME, LOG_OUT, REVIEW, FINISH = "1", "2", "3", "4", "5", "#"
OPTIONS: dict[PresenceState, list[tuple[str, str]]] = {
    "logged_out": [(LOG_IN, "cc/to-log-in")],
    "available": [(PAUSE, "cc/to-pause"), (LOG_OUT, "cc/to-log-out")],
    "paused": [(RESUME, "cc/to-resume"), (LOG_OUT, "cc/to-log-out")],
}


class AgentMenuStore(RosterStore, CallStore, Protocol):
    """Who the agent is (the roster, their PIN hash) and the calls they served."""


class AgentMenuFlow:
    def __init__(
        self,
        *,
        store: AgentMenuStore,
        duty: AgentDuty,
        pins: PinEntry,
        review: Review,
        asking: Asking,
        pause_reasons: Sequence[str],
    ) -> None:
        self.store = store
        self.duty = duty
        self.pins = pins
        self.review = review
        self.asking = asking
        self.pause_reasons = tuple(pause_reasons)

    async def __call__(self, session: AGISession) -> None:
        via = "softphone" if session.env.params.get("via") == "softphone" else "access-number"
        agent = await self.softphone_agent(session) if via == "softphone" else None
        if agent is None:
            agent = await self.log_in_by_pin(session)
        if agent is None:
            await announce(session, ["cc/login-goodbye"])
            await session.set_variable(naming.RESULT, naming.RESULT_DONE)
            return
        with structlog.contextvars.bound_contextvars(agent=agent):
            log.info("agent_menu_opened", via=via)
            await self.menu(session, agent, via)
            await say(session, ["cc/agent-goodbye"])
        await session.set_variable(naming.RESULT, naming.RESULT_DONE)

    async def softphone_agent(self, session: AGISession) -> str | None:
        """The agent whose softphone this is, or None (then the PIN is asked for).

        The URL says only which door the call came through (the feature code, from an agents' endpoint); who it
        is, Asterisk says: the endpoint that authenticated, ``agent<id>``, which the roster must give that agent.
        Nothing in the URL or the header block, which a caller could have shaped, names the agent.
        """
        endpoint = await session.get_variable("CHANNEL(endpoint)") or ""
        found = naming.SIP_ENDPOINT.fullmatch(endpoint)
        agent = await self.store.get_agent(found.group(1)) if found else None
        if agent is None or not agent.active or agent.interface != naming.pjsip_interface(endpoint):
            log.warning("agent_menu_unknown_endpoint", endpoint=endpoint[:20])
            return None
        return agent.id

    async def log_in_by_pin(self, session: AGISession) -> str | None:
        """The agent number, then the PIN, both keyed with GET DATA (read_secret: an agent keying both in one go
        must not have them logged); the agent id of a right pair, or None (goodbye said, or locked out)."""
        d = self
        for attempt in range(1, d.asking.attempts + 1):
            agent_id = await d.pins.read_secret(session, "cc/enter-agent-id", MAX_AGENT_ID)
            agent = await d.store.get_agent(agent_id) if agent_id.isdigit() else None
            stored = agent.pin_hash if agent is not None and agent.active else None
            subject = f"agent:{agent_id}" if stored else None
            # a locked-out agent is not even asked for the PIN (try_pin decides; this only spares the asking)
            if subject is not None and await d.pins.locked_out(session, subject):
                return None
            pin = await d.pins.read_pin(session, "cc/enter-agent-pin")
            # the hash is computed even for an unknown agent: the answer takes as long either way
            right = await asyncio.to_thread(check_agent_pin, agent_id or "0", pin, stored or "-") and bool(stored)
            if subject is not None:
                checked = await d.pins.try_pin(session, subject, right=right, attempt=attempt)
                if checked is PinCheck.OK:
                    return agent_id
                if checked is PinCheck.LOCKED:
                    return None
            # no agent id in this line: a typo of the id is often the PIN
            log.warning("agent_authentication_failed", attempt=attempt, known_agent=agent is not None)
            if attempt < d.asking.attempts:
                await announce(session, ["cc/login-failed"])
        return None

    async def menu(self, session: AGISession, agent: str, via: str) -> None:
        d = self
        actor = Rater("agent", agent).actor
        for _ in range(MAX_ROUNDS):
            presence = (await d.duty.current([agent]))[agent]
            options = [*OPTIONS[presence.state], (REVIEW, "cc/to-review-callers"), (FINISH, "cc/to-finish")]
            files = [*speech.presence(presence.state, presence.reason), *speech.agent_menu_options(options)]
            allowed = {k for k, _ in options} | {"*"}
            key = await ask(session, files, allowed.__contains__, d.asking, step="agent_menu")
            if key is None or key == FINISH:
                return
            if key in {LOG_IN, RESUME}:
                await d.duty.change(agent, "available", actor=actor, via=via)
            elif key == LOG_OUT:
                await d.duty.change(agent, "logged_out", actor=actor, via=via)
            elif key == PAUSE:
                reason = await self.pause_reason(session)
                await d.duty.change(agent, "paused", reason, actor=actor, via=via)
            elif key == REVIEW:
                await d.review(session, agent_reviewer(d.store, agent))

    async def pause_reason(self, session: AGISession) -> str:
        reasons = self.pause_reasons
        keys = {str(i): r for i, r in enumerate(reasons, start=1)}
        key = await ask(
            session, speech.pause_reasons_menu(reasons), keys.__contains__, self.asking, step="pause_reason"
        )
        # an agent who wanted to pause but keyed nothing valid still wants their break: the first reason
        return keys.get(key or "1", reasons[0])


def agent_reviewer(store: CallStore, agent: str) -> Reviewer:
    async def calls(limit: int) -> list[Call]:
        return await store.served_calls(agent_id=agent, limit=limit)

    async def party(call: Call) -> Sequence[str]:
        client = await store.get_client(call.client_id) if call.client_id is not None else None
        return speech.number_ending(client.number) if client else ["cc/the-caller"]

    return Reviewer(Rater("agent", agent), AGENT_TO_CLIENT, calls, party)
