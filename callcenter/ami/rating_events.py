"""What another service process on the same store tells this one through Asterisk: a rating stored or deleted
(the ``CallCenterRated`` / ``CallCenterRatingDeleted`` user events every process's AMI link receives) and a queue
call finished (``AgentComplete``), so each process's kept ranking follows every process's calls and ratings.

The events say which agent; the numbers are read again from the store, never taken from the event, so a forged or
reordered event can only cause one more read of the truth. A process hears its own events too: one more read of
one agent, off any caller's path.
"""

from __future__ import annotations

from typing import Protocol

from panoramisk.message import Message

from callcenter.ami.link import AMILink
from callcenter.ami.queues import event_agent
from callcenter.domain import naming
from callcenter.store.models import CLIENT_TO_AGENT


class RankingFollows(Protocol):
    async def agent_rated(self, agent_id: str) -> None: ...
    async def agent_answered(self, agent_id: str) -> None: ...


class RatingEvents:
    def __init__(self, ami: AMILink, ranking: RankingFollows) -> None:
        self.ranking = ranking
        # each must pass manager.conf's event filter for the service's user (tests/unit/ami/test_queues.py)
        ami.on_event("UserEvent", self._on_user_event)
        ami.on_event("AgentComplete", self._on_agent_complete)

    async def _on_user_event(self, event: Message) -> None:
        if event.get("UserEvent") not in {naming.EVENT_RATED, naming.EVENT_RATING_DELETED}:
            return
        agent_id = str(event.get("Agent") or "")
        # an agent's rating of a caller moves no agent; an event from before the Agent field carries none
        if event.get("Direction") == CLIENT_TO_AGENT and agent_id:
            await self.ranking.agent_rated(agent_id)

    async def _on_agent_complete(self, event: Message) -> None:
        agent_id = event_agent(event)
        if agent_id is not None:
            await self.ranking.agent_answered(agent_id)
