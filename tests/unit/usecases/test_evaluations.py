from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callcenter.app import open_serving_store
from callcenter.config import load_config
from callcenter.config.roster import load_roster
from callcenter.demo.seed import DEMO_HISTORY, seed_history
from callcenter.domain.rules import RatingRules
from callcenter.store import EvaluationRefused, RefusalReason
from callcenter.usecases.evaluations import list_evaluations
from callcenter.usecases.ports import utcnow
from callcenter.usecases.ratings import DirectWrites, Ratings

PROJECT = Path(__file__).resolve().parents[3]


class Pushed:
    """A PenaltyPush that remembers whose penalty it was asked to push."""

    def __init__(self) -> None:
        self.agents: list[str] = []

    async def agent_rated(self, agent_id: str) -> None:
        self.agents.append(agent_id)


async def test_an_operator_removes_an_evaluation_and_the_audit_trail_keeps_it(tmp_path: Path) -> None:
    config = load_config(PROJECT / "callcenter/demo/callcenter.toml", {"CALLCENTER_STATE_DIR": str(tmp_path)})
    agents = load_roster(PROJECT / "callcenter/demo/agents.toml", {s.id for s in config.services})
    async with await open_serving_store(config, agents) as store:
        await seed_history(store, DEMO_HISTORY)
        before = (await store.agent_summary("1001")).count
        pushed = Pushed()
        ratings = Ratings(store, DirectWrites(store), pushed, RatingRules(), utcnow)
        removed = await ratings.remove("seed-1001-0", "client_to_agent", operator="ops", reason="abusive")
        assert removed is not None
        assert removed.deleted
        # the agent's penalty follows at once (the CLI pushes it over AMI, the service through its queue sync)
        assert pushed.agents == ["1001"]
        assert (await store.agent_summary("1001")).count == before - 1
        history = await store.evaluation_history(removed.id)
        assert (history[-1].action, history[-1].actor, history[-1].reason) == ("delete", "operator:ops", "abusive")
        live = await list_evaluations(store, agent_id="1001", number=None, include_deleted=False, limit=50)
        every = await list_evaluations(store, agent_id="1001", number=None, include_deleted=True, limit=50)
        assert len(every) == len(live) + 1
        with pytest.raises(LookupError, match="no call 'nope'"):
            await ratings.remove("nope", "client_to_agent", operator="ops", reason="x")
        with pytest.raises(ValueError, match="a reason is required"):
            await ratings.remove("seed-1001-1", "client_to_agent", operator="ops", reason="  ")
        assert pushed.agents == ["1001"]
        # the rater cannot put it back, and the call is not owed a rating again
        with pytest.raises(EvaluationRefused) as refused:
            await store.record_evaluation(
                "seed-1001-0", "client_to_agent", {"attitude": 5}, "client:5551001", datetime.now(UTC)
            )
        assert refused.value.reason is RefusalReason.REMOVED
        client = await store.client_for_number("5551001")
        assert client is not None
        owed = await store.unrated_calls(
            "client_to_agent", since=datetime.now(UTC) - timedelta(days=90), client_id=client.id
        )
        assert "seed-1001-0" not in [c.uniqueid for c in owed]
        assert await store.check_invariants() == []
