from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.app import open_serving_store
from callcenter.config import load_config
from callcenter.config.roster import load_roster
from callcenter.demo.seed import DEMO_HISTORY, seed_history
from callcenter.usecases.explain import explain_agent, explain_client

PROJECT = Path(__file__).resolve().parents[3]


async def test_explain_spells_out_scores_penalty_rank_and_priority(tmp_path: Path) -> None:
    config = load_config(PROJECT / "callcenter/demo/callcenter.toml", {"CALLCENTER_STATE_DIR": str(tmp_path)})
    agents = load_roster(PROJECT / "callcenter/demo/agents.toml", {s.id for s in config.services})
    async with await open_serving_store(config, agents) as store:
        await seed_history(store, DEMO_HISTORY)
        agent = "\n".join(await explain_agent(store, "1001", config))
        client = "\n".join(await explain_client(store, "555-1001", config))
        with pytest.raises(LookupError, match="no agent '9999'"):
            await explain_agent(store, "9999", config)
        with pytest.raises(LookupError, match="no calls from 5559999"):
            await explain_client(store, "5559999", config)
    # Alice: 5 evaluations, 20 scores totalling 89 -> (3.5*3 + 89) / 23 = 4.33
    assert '(3.5 x 3 + 89) / (3 + 20) = 4.33   grade B   heard "4 point 3"' in agent
    assert "Penalty in shared queues = round((5 - 4.33) / (5 - 1) x 4) = 1" in agent
    assert "Rank among support agents (if all were free): overall 1/4" in agent
    # caller 5551001 was rated 4s by agents three times: (10.5 + 48) / 15 = 3.90 -> priority 6, normal queue
    assert "QUEUE_PRIO = 5 + (3.90 - 3.5) / (5 - 3.5) x (10 - 5) rounded, bounded = 6" in client
    assert "they join agent-<id>: priority 6 < preferred_priority 8" in client
