"""The inbound route's agent menu against a fake Asterisk and a fake queue state: what it offers from the queue
load, and a choice checked again when the key comes (callers choosing the same agent at the same moment)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from callcenter.config import SelfServiceConfig
from callcenter.domain.agents import AgentSpec
from callcenter.domain.policy import Policy
from callcenter.domain.rules import RatingRules
from callcenter.domain.summaries import Scoring
from callcenter.domain.waits import AgentLoad, QueueLimits
from callcenter.ivr.ask import Asking
from callcenter.ivr.caller_ratings import CallerRatings
from callcenter.ivr.inbound import MAX_SKIPPED, InboundFlow, Menus
from callcenter.ivr.rating import RatingDialogue
from callcenter.ivr.review import Review
from callcenter.journal import Recorder
from callcenter.store.models import AgentDef
from callcenter.store.sqlite import SqliteStore
from callcenter.usecases.ports import LoadWatch, NoWatch
from callcenter.usecases.rankings import Rankings
from callcenter.usecases.ratings import Ratings
from tests.unit.ivr.conftest import NoPush, Transcript, phone_call, pin_entry
from tests.unit.store.helpers import AGENTS, T0

FREE = AgentLoad(True, 0, 0.0)


class FakeQueues:
    """The queue state as the flow sees it: each agent's load, and taking one counts a caller for them.
    ``rival``: after that many loads, another caller takes Alice (1001), as while this one listens to the menu."""

    def __init__(self, loads: Mapping[str, AgentLoad | None], rival: int | None = None) -> None:
        self.loads = dict(loads)
        self.taken: list[tuple[str, str]] = []
        self.rival = rival
        self.reads = 0
        # the kept ranking, told of every load change as QueueSync tells it
        self.watch: LoadWatch = NoWatch()

    def refresh(self) -> None: ...

    def load(self, agent_id: str) -> AgentLoad | None:
        self.reads += 1
        if self.reads == self.rival:
            self.take("1001", "another-caller")
        return self.loads.get(agent_id)

    def take(self, agent_id: str, caller: str) -> None:
        self.taken.append((agent_id, caller))
        now = self.loads[agent_id]
        assert now is not None
        self.loads[agent_id] = AgentLoad(False, now.waiting + 1, now.wait_seconds + 120.0)
        self.watch.load_changed(agent_id, self.loads[agent_id])


async def inbound(store: SqliteStore, queues: FakeQueues, limits: QueueLimits | None = None) -> InboundFlow:
    asking = Asking(timeout=0.5, attempts=2, reprompt_timeout=0.5)
    rules = RatingRules()
    categories = ("attitude", "knowledge", "availability")
    scoring = Scoring(categories, Policy())
    roster = [AgentSpec(a.id, a.name, a.services, "dial", a.interface, None) for a in await store.list_agents()]
    rankings = Rankings(store, scoring, roster, clock=lambda: T0)
    await rankings.load()
    queues.watch = rankings
    for agent in roster:
        rankings.load_changed(agent.id, queues.loads.get(agent.id))
    dialogue = RatingDialogue(Ratings(store, Recorder(store, None), NoPush(), rules, lambda: T0), asking, categories)
    review = Review(
        evaluations=store,
        dialogue=dialogue,
        asking=asking,
        selfservice=SelfServiceConfig(),
        rules=rules,
        clock=lambda: T0,
    )
    return InboundFlow(
        store=store,
        writes=Recorder(store, None),
        queues=queues,
        ranking=rankings,
        menus=Menus(("support", "sales"), 3, 14, limits or QueueLimits()),
        scoring=scoring,
        asking=asking,
        dialogue=dialogue,
        caller_ratings=CallerRatings(
            store=store,
            pins=pin_entry(store),
            review=review,
            asking=asking,
            selfservice=SelfServiceConfig(),
            clock=lambda: T0,
        ),
        rules=rules,
        clock=lambda: T0,
    )


def menus(transcript: Transcript) -> list[list[str]]:
    return [
        line.decode().split(",")[1].split("&")
        for line in transcript.commands
        if line.startswith(b"EXEC Read") and b"cc/first-available" in line
    ]


async def test_of_two_callers_pressing_the_same_free_agent_one_gets_them_the_other_is_told_and_chooses_again(
    store: SqliteStore,
) -> None:
    queues = FakeQueues({"1001": FREE, "1002": FREE})
    flow = await inbound(store, queues)
    # both heard Alice (1001) offered free as key 1; their keys are taken one after the other
    async with phone_call({}, route="inbound") as (first, _):
        assert await flow.take(first, "1001", from_busy=False) is not None
    async with phone_call({}, route="inbound") as (second, heard):
        assert await flow.take(second, "1001", from_busy=False) is None
    assert queues.taken == [("1001", first.env.uniqueid)]
    assert heard.prompts() == ["cc/agent-1001", "cc/not-free-now"]


async def test_a_stale_choice_hears_why_then_a_fresh_menu_without_that_agent_among_the_free(
    store: SqliteStore,
) -> None:
    # the menu is built from two loads (Alice, Bob); by the third, the check of the key, Alice was taken
    queues = FakeQueues({"1001": FREE, "1002": FREE}, rival=3)
    flow = await inbound(store, queues)
    # the menu's Read answers 1 (Alice); the notice hears nothing; the fresh menu's 1 is Bob
    async with phone_call({}, route="inbound", reads=["1", "", "1"]) as (session, transcript):
        choice = await flow.choose(session, "support", set())
    assert choice is not None
    assert (choice.agent_id, choice.ring_once) == ("1002", True)
    assert queues.taken == [("1001", "another-caller"), ("1002", session.env.uniqueid)]
    first, again = menus(transcript)
    assert first[first.index("cc/key-1") + 1] == "cc/agent-1001"
    assert again[again.index("cc/key-1") + 1] == "cc/agent-1002"
    assert "cc/agent-1001" not in again
    assert "cc/opt-busy" in again  # Alice is behind 7, with her wait
    assert transcript.prompts()[len(first) : len(first) + 2] == ["cc/agent-1001", "cc/not-free-now"]


async def test_a_full_queue_is_offered_neither_free_nor_with_a_wait(store: SqliteStore) -> None:
    queues = FakeQueues({"1001": AgentLoad(False, 2, 300.0), "1002": AgentLoad(False, 0, 100.0)})
    flow = await inbound(store, queues, QueueLimits(max_waiting=2, max_wait_seconds=600.0))
    async with phone_call({}, route="inbound", reads=[""]) as (session, transcript):
        choice = await flow.choose(session, "support", set())
    assert choice is not None
    assert choice.agent_id is None  # the silent caller's default: the first available agent
    (menu,) = menus(transcript)
    # nobody free: the agents with a wait, without Alice, whose queue is full
    assert menu[:3] == ["cc/no-free", "cc/press-0", "cc/first-available"]
    assert [f for f in menu if f.startswith("cc/agent-")] == ["cc/agent-1002"]
    assert "cc/opt-free" not in menu


async def test_a_favourite_whose_queue_filled_while_the_caller_listened_is_refused(store: SqliteStore) -> None:
    queues = FakeQueues({"1001": AgentLoad(False, 1, 300.0), "1002": FREE})
    flow = await inbound(store, queues, QueueLimits(max_waiting=2, max_wait_seconds=600.0))
    async with phone_call({}, route="inbound") as (first, _):
        choice = await flow.take(first, "1001", from_busy=True)  # 1 waiting: one more may
    assert choice is not None
    assert (choice.ring_once, choice.load) == (False, AgentLoad(False, 1, 300.0))  # waits, told the wait
    async with phone_call({}, route="inbound") as (second, heard):
        assert await flow.take(second, "1001", from_busy=True) is None  # 2 waiting: full
    assert heard.prompts() == ["cc/agent-1001", "cc/queue-full"]


async def test_a_caller_put_through_to_a_free_agent_hears_only_the_name_one_waiting_hears_the_wait_and_the_way_out(
    store: SqliteStore,
) -> None:
    """Until Queue() the agent is held for this caller by the service alone, so the sentence before it is short;
    "while you wait, press 1" is for callers who will wait."""
    queues = FakeQueues({"1001": FREE, "1002": AgentLoad(False, 1, 200.0)})
    flow = await inbound(store, queues)
    heard: dict[str, list[str]] = {}
    for agent, busy in (("1001", False), ("1002", True)):
        async with phone_call({}, route="inbound") as (session, transcript):
            choice = await flow.take(session, agent, from_busy=busy)
            assert choice is not None
            await flow.enqueue(session, None, choice)
        heard[agent] = transcript.prompts()
    assert heard["1001"] == ["cc/connecting", "cc/agent-1001"]
    connecting, agent, wait, leave = heard["1002"]
    assert (connecting, agent, leave) == ("cc/connecting", "cc/agent-1002", "cc/leave-queue")
    assert wait.startswith("cc/wait-")


async def test_pages_walk_the_kept_ranking_three_at_a_time_and_wrap_and_7_lists_those_with_a_wait(
    store: SqliteStore,
) -> None:
    """Eight agents of the service: 9 pages through them (the last page short), then back to the first; 7 the agents
    with a wait. Nobody rated or answered: the ranking is by id, as a full sort of the store's summaries says."""
    more = [
        AgentDef(
            id=f"20{i:02d}",
            name=f"agent {i}",
            interface=f"PJSIP/agent20{i:02d}",
            kind="sip",
            services=("support",),
            queues=(),
        )
        for i in range(6)
    ]
    # Carol (1003) serves support too, and is on a call with a caller waiting
    await store.sync_roster([*AGENTS[:2], dataclasses.replace(AGENTS[2], services=("support", "sales")), *more], now=T0)
    free = ["1001", "1002", *(a.id for a in more)]
    queues = FakeQueues({**dict.fromkeys(free, FREE), "1003": AgentLoad(False, 1, 200.0)})
    flow = await inbound(store, queues)
    async with phone_call({}, route="inbound", reads=["9", "9", "9", "7", "0"]) as (session, transcript):
        choice = await flow.choose(session, "support", set())
    assert choice is not None
    assert choice.agent_id is None
    pages = [[f.removeprefix("cc/agent-") for f in menu if f.startswith("cc/agent-")] for menu in menus(transcript)]
    assert pages == [free[:3], free[3:6], free[6:], free[:3], ["1003"]]


async def test_with_every_queue_full_an_offer_reads_a_bounded_number_of_agents_not_the_roster(
    store: SqliteStore,
) -> None:
    """Peak hour: 300 agents on calls, each with a full queue (full is not a group of the kept ranking, so they stay
    in the busy list). The menu gives up on the list after MAX_SKIPPED of them and offers the first available;
    the last agent, not full, is not worth reading the whole roster for."""
    many = [
        AgentDef(id=f"3{i:03d}", name=f"a{i}", interface=f"PJSIP/a{i}", kind="sip", services=("support",), queues=())
        for i in range(300)
    ]
    await store.sync_roster(many, now=T0)
    full = AgentLoad(False, 2, 300.0)
    queues = FakeQueues({**{a.id: full for a in many[:-1]}, many[-1].id: AgentLoad(False, 0, 100.0)})
    flow = await inbound(store, queues, QueueLimits(max_waiting=2, max_wait_seconds=600.0))
    queues.reads = 0
    async with phone_call({}, route="inbound", reads=[""]) as (session, transcript):
        choice = await flow.choose(session, "support", set())
    assert choice is not None
    assert choice.agent_id is None  # to the shared queue
    assert queues.reads <= 2 * (MAX_SKIPPED + 1)  # the free list (empty) and the busy list's bounded walk
    assert transcript.prompts()[:1] == ["cc/no-agents"]
