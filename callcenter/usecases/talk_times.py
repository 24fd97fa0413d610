"""Each agent's recent talk times from the stored calls: where their handle time starts when the service starts
(the queue sync then follows AgentComplete's talk times), so the first caller already hears a sensible wait."""

from __future__ import annotations

from collections.abc import Sequence

from callcenter.store.api import CallStore

# the last calls that count: the handle time is a moving average, older calls weigh next to nothing in it
RECENT_CALLS = 20


class RecentTalkTimes:
    def __init__(self, calls: CallStore, count: int = RECENT_CALLS) -> None:
        self.calls = calls
        self.count = count

    async def __call__(self, agent_ids: Sequence[str]) -> dict[str, list[float]]:
        # once per agent at start (one index range each), never on a caller's path
        times: dict[str, list[float]] = {}
        for agent_id in agent_ids:
            served = await self.calls.served_calls(agent_id=agent_id, limit=self.count)
            # most recent first from the store; the average wants them in the order they happened
            times[agent_id] = [float(c.talk_seconds) for c in reversed(served) if c.talk_seconds is not None]
        return times
