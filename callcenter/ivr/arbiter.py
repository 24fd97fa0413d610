"""The cluster's arbiter on the member's leg (dialplan cc-agent-offer): ``reserve`` before the agent's phone rings,
``release`` when the leg hangs up. The call and the agent are read off the channel (``call_and_agent``), never
from the URL. A store that cannot answer leaves CC_RESERVED empty: the dialplan rings the agent anyway (a human
answer beats none)."""

from __future__ import annotations

import structlog

from callcenter.agi import AGISession
from callcenter.domain import naming
from callcenter.ivr.agent import call_and_agent
from callcenter.store.errors import StoreError
from callcenter.usecases.arbiter import AgentArbiter

log = structlog.get_logger(__name__)


class ReserveFlow:
    def __init__(self, arbiter: AgentArbiter) -> None:
        self.arbiter = arbiter

    async def __call__(self, session: AGISession) -> None:
        call, agent = await call_and_agent(session)
        try:
            held = await self.arbiter.reserve(agent, call)
        except StoreError as exc:
            log.warning("agent_reservation_failed", agent=agent, call=call, error=str(exc))
            return
        await session.set_variable(naming.RESERVED, naming.RESERVED_HELD if held else naming.RESERVED_TAKEN)


class ReleaseFlow:
    def __init__(self, arbiter: AgentArbiter) -> None:
        self.arbiter = arbiter

    async def __call__(self, session: AGISession) -> None:
        call, agent = await call_and_agent(session)
        try:
            await self.arbiter.release(agent, call)
        except StoreError as exc:
            # this node frees it within a few beats, once Asterisk no longer lists the member's leg (cluster/keeper.py)
            log.warning("agent_release_failed", agent=agent, call=call, error=str(exc))
