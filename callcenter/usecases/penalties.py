"""Each agent's penalty in the shared queues, from callers' ratings of them: what the service's queue sync and
the CLI's one-off push both send to Asterisk, computed one way."""

from __future__ import annotations

from collections.abc import Sequence

from callcenter.domain.policy import member_penalty
from callcenter.domain.summaries import Scoring
from callcenter.store.api import RatingStore


class Penalties:
    def __init__(self, ratings: RatingStore, scoring: Scoring) -> None:
        self.ratings = ratings
        self.scoring = scoring

    async def __call__(self, agent_ids: Sequence[str]) -> dict[str, int]:
        summaries = await self.ratings.agent_summaries(agent_ids)
        return {
            agent_id: member_penalty(self.scoring(summary), self.scoring.policy)
            for agent_id, summary in summaries.items()
        }
