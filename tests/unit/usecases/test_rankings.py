"""The kept ranking against the store: after ratings (here and from another process), answers, roster changes and
time with a half-life, every list is the order a full sort of the store's summaries gives (``Rankings.check``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from panoramisk.message import Message

from callcenter.ami.link import EventHandler
from callcenter.ami.rating_events import RatingEvents
from callcenter.domain.agents import AgentSpec
from callcenter.domain.policy import Policy
from callcenter.domain.summaries import Scoring
from callcenter.domain.waits import AgentLoad
from callcenter.store.models import CLIENT_TO_AGENT
from callcenter.store.sqlite import SqliteStore
from callcenter.usecases import rankings as rankings_module
from callcenter.usecases.rankings import Rankings
from tests.unit.store.helpers import AGENTS, T0, answered_call, seed

FREE = AgentLoad(True, 0, 0.0)
CATEGORIES = ("attitude", "knowledge", "availability")
ROSTER = [AgentSpec(a.id, a.name, a.services, "dial", a.interface, None) for a in AGENTS]


class Clock:
    def __init__(self) -> None:
        self.now = T0 + timedelta(minutes=5)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with await SqliteStore.open(tmp_path / "cc.db", half_life_days=1.0) as opened:
        await seed(opened)
        yield opened


async def rate(store: SqliteStore, call: str, scores: tuple[int, int, int], when: datetime) -> None:
    await store.record_evaluation(call, CLIENT_TO_AGENT, dict(zip(CATEGORIES, scores, strict=True)), "client:1", when)


async def kept(store: SqliteStore, clock: Clock) -> Rankings:
    rankings = Rankings(store, Scoring(CATEGORIES, Policy(half_life_days=1.0)), ROSTER, clock=clock)
    await rankings.load()
    for agent in ROSTER:
        rankings.load_changed(agent.id, FREE)
    return rankings


async def test_ratings_answers_and_decay_keep_every_list_equal_to_the_stores_full_sort(store: SqliteStore) -> None:
    clock = Clock()
    a = await answered_call(store, "c1", agent="1001")
    b = await answered_call(store, "c2", agent="1002", number="+15550002")
    await rate(store, a.uniqueid, (4, 4, 4), T0 + timedelta(minutes=1))
    rankings = await kept(store, clock)
    assert await rankings.check() == []
    assert rankings.order("support") == ["1001", "1002"]
    # a newcomer's single 5 (Bob) against Alice's one 4: Bob first, by the kept list and the store alike
    clock.now += timedelta(hours=1)
    await rate(store, b.uniqueid, (5, 5, 5), clock.now)
    await rankings.agent_rated("1002")
    assert rankings.order("support") == ["1002", "1001"]
    assert [c.agent_id for c in rankings.walk("support", "attitude", "free")] == ["1002", "1001"]
    assert await rankings.check() == []
    # two days on: the re-rank moves the reference time, and the kept lists are the store's order of now
    clock.now += timedelta(days=2)
    await rankings.rerank()
    assert await rankings.check() == []
    # a deletion moves the agent back
    await store.delete_evaluation(b.uniqueid, CLIENT_TO_AGENT, "client:2", "changed my mind", clock.now)
    await rankings.agent_rated("1002")
    assert rankings.order("support") == ["1001", "1002"]
    assert await rankings.check() == []


async def test_ties_go_to_the_agent_idle_longest_as_answers_come_in(store: SqliteStore) -> None:
    clock = Clock()
    rankings = await kept(store, clock)
    # nobody rated, nobody answered: by id
    assert rankings.order("support") == ["1001", "1002"]
    call = await answered_call(store, "c1", agent="1001")
    rankings.call_answered(call)
    assert rankings.order("support") == ["1002", "1001"]
    assert await rankings.check() == []


async def test_another_process_rating_reaches_this_ranking_through_the_ami_user_event(store: SqliteStore) -> None:
    clock = Clock()
    rankings = await kept(store, clock)
    handlers: dict[str, EventHandler] = {}

    class Link:
        def on_event(self, name: str, handler: EventHandler) -> None:
            handlers[name] = handler

    RatingEvents(Link(), rankings)  # type: ignore[arg-type]
    call = await answered_call(store, "c1", agent="1002")
    await rate(store, call.uniqueid, (5, 5, 5), T0 + timedelta(minutes=1))  # the other process's write
    assert rankings.order("support") == ["1001", "1002"]
    fields = {"Call": "c1", "Direction": CLIENT_TO_AGENT, "Evaluation": "1", "Agent": "1002"}
    await handlers["UserEvent"](Message({"Event": "UserEvent", "UserEvent": "CallCenterRated", **fields}))
    assert rankings.order("support") == ["1002", "1001"]
    # its answer, heard as AgentComplete, is read from the store too
    await handlers["AgentComplete"](Message({"Event": "AgentComplete", "MemberName": "1002", "TalkTime": "30"}))
    candidate = rankings.candidate("1002")
    assert candidate is not None
    assert candidate.last_call_at == call.answered_at.timestamp()  # type: ignore[union-attr]
    assert await rankings.check() == []


async def test_the_roster_adds_removes_and_moves_agents_between_services(store: SqliteStore) -> None:
    clock = Clock()
    rankings = await kept(store, clock)
    alice, bob, _ = ROSTER
    await rankings.roster([alice, AgentSpec(bob.id, bob.name, ("sales",), "dial", bob.interface, None)])
    assert rankings.order("support") == ["1001"]
    assert rankings.order("sales") == ["1002"]
    await rankings.roster(ROSTER)
    assert rankings.order("sales") == ["1002", "1003"]
    assert rankings.order("support") == ["1001", "1002"]
    assert await rankings.check() == []


async def test_only_the_free_are_walked_for_a_free_offer_and_nobody_reachable_is_said(store: SqliteStore) -> None:
    rankings = await kept(store, Clock())
    rankings.load_changed("1001", AgentLoad(False, 1, 100.0))
    assert [c.agent_id for c in rankings.walk("support", None, "free")] == ["1002"]
    assert [c.agent_id for c in rankings.walk("support", None, "busy")] == ["1001"]
    rankings.load_changed("1002", None)
    rankings.load_changed("1001", None)
    assert not rankings.reachable("support")
    assert rankings.reachable("sales")  # Carol
    assert await rankings.penalties(["1001", "9999"]) == {"1001": 2}


async def test_the_check_names_a_list_the_store_disagrees_with(store: SqliteStore) -> None:
    clock = Clock()
    rankings = await kept(store, clock)
    call = await answered_call(store, "c1", agent="1002")
    await rate(store, call.uniqueid, (5, 5, 5), T0 + timedelta(minutes=1))  # nobody told the ranking
    problems = await rankings.check()
    assert problems[0] == (
        "ranking: service support by overall is kept as 1001 1002, the store's summaries give 1002 1001"
    )


async def test_a_rerank_built_a_few_agents_at_a_time_keeps_what_changed_meanwhile(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rankings_module, "RERANK_CHUNK", 1)  # a turn of the loop after every agent
    clock = Clock()
    a = await answered_call(store, "c1", agent="1001")
    b = await answered_call(store, "c2", agent="1002", number="+15550002")
    await rate(store, a.uniqueid, (4, 4, 4), T0 + timedelta(minutes=1))
    rankings = await kept(store, clock)
    clock.now += timedelta(days=1)
    await rate(store, b.uniqueid, (5, 5, 5), clock.now)
    rerank = asyncio.create_task(rankings.rerank())
    await asyncio.sleep(0)
    # while the fresh ranking is being built (Alice is copied already): Alice is taken, and Bob's rating is read
    rankings.load_changed("1001", AgentLoad(False, 1, 100.0))
    await rankings.agent_rated("1002")
    await rerank
    assert rankings.as_of == clock.now
    assert [c.agent_id for c in rankings.walk("support", None, "free")] == ["1002"]
    assert [c.agent_id for c in rankings.walk("support", None, "busy")] == ["1001"]
    assert await rankings.check() == []


store_op = st.one_of(
    st.tuples(st.just("rate"), st.integers(0, 5), st.tuples(*[st.integers(1, 5)] * 3)),
    st.tuples(st.just("delete"), st.integers(0, 5), st.none()),
    st.tuples(st.just("load"), st.integers(0, 2), st.sampled_from([None, FREE, AgentLoad(False, 1, 60.0)])),
    st.tuples(st.just("rerank"), st.none(), st.sampled_from([0.5, 3.0])),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(store_op, max_size=12))
def test_after_any_writes_through_the_store_the_kept_ranking_is_the_stores_full_sort(
    tmp_path: Path, ops: list[tuple[str, object, object]]
) -> None:
    async def scenario(path: Path) -> None:
        async with await SqliteStore.open(path, half_life_days=1.0) as store:
            await seed(store)
            # six answered calls, two per agent, answered in turn
            calls = [
                await answered_call(store, f"c{i}", agent=AGENTS[i % 3].id, number=f"+1555000{i}") for i in range(6)
            ]
            clock = Clock()
            rankings = await kept(store, clock)
            store.watch(rankings)
            for kind, which, value in ops:
                if kind == "rate":
                    assert isinstance(which, int)
                    await rate(store, calls[which].uniqueid, value, clock.now)  # type: ignore[arg-type]
                elif kind == "delete":
                    assert isinstance(which, int)
                    call = calls[which].uniqueid
                    if await store.get_evaluation(call, CLIENT_TO_AGENT) is not None:
                        await store.delete_evaluation(call, CLIENT_TO_AGENT, "client:1", "why not", clock.now)
                elif kind == "load":
                    assert isinstance(which, int)
                    rankings.load_changed(AGENTS[which].id, value)  # type: ignore[arg-type]
                else:
                    assert isinstance(value, float)
                    clock.now += timedelta(hours=value)
                    await rankings.rerank()
            assert await rankings.check() == []

    path = tmp_path / f"cc-{uuid.uuid4().hex}.db"
    asyncio.run(scenario(path))


async def test_ratings_another_process_stored_without_an_event_are_read_by_the_next_refresh(tmp_path: Path) -> None:
    """Several workers: a rating another one stored reaches this one's ranking by an AMI user event, which a
    journaled write, a dropped link or a worker starting between its load and its login never brings; ``refresh``
    (each round of ``run`` when ``shared``) reads every agent again."""
    db = tmp_path / "cc.db"
    async with (
        await SqliteStore.open(db, half_life_days=1.0) as here,
        await SqliteStore.open(db, half_life_days=1.0) as elsewhere,
    ):
        await seed(here)
        clock = Clock()
        ranking = await kept(here, clock)
        here.watch(ranking)
        for i, (agent, score) in enumerate([("1002", (5, 5, 5)), ("1001", (1, 1, 1))]):
            await answered_call(elsewhere, f"c{i}", agent=agent)
            await rate(elsewhere, f"c{i}", score, T0 + timedelta(minutes=1))
        assert await ranking.check() != []  # heard nothing of it
        clock.now += timedelta(minutes=2)
        await ranking.refresh()
        assert await ranking.check() == []
