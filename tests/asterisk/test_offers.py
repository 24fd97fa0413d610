"""Offers that know the queue, and short menus, on a real Asterisk 22 (issue 12, items 2 and 3).

Each offered agent comes with their wait, from the queue state the service keeps out of Asterisk's own events;
callers choosing the same free agent at once do not all land on them; a full queue is not offered; the first pass
is short, the categories come on request, and a caller who presses nothing reaches the shared queue after one
pass of each menu and a short re-prompt. Asserted on what callers heard (the prompt files), on Asterisk's queue
events and QueueStatus, and on what the service's queue state says, never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callcenter.ami.link import AMIActionError
from callcenter.app import CallCenter, serving
from callcenter.asterisk.sounds import SoundLengths
from callcenter.config import JourneyConfig
from callcenter.demo.script import Caller, Driver, event, is_read, read_files
from callcenter.demo.seed import DEMO_HISTORY, seed_history
from callcenter.domain.waits import AgentLoad
from callcenter.ivr.ask import Asking
from callcenter.ivr.lengths import silent_path
from tests.asterisk.conftest import ROOT, AsteriskUnderTest, store_at
from tests.asterisk.ivr import (
    AGENT_MENU,
    BUSY_LIST,
    DETAILS,
    agent_on_a_call,
    key_of,
    offer_of,
    offered,
    store_of,
)

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.usefixtures("scripted_agents"),
]

SHARED = "service-support"


def heard(driver: Driver, caller: Caller, since: int = 0) -> list[list[str]]:
    return [read_files(str(e.get("Command"))) or [] for e in driver.log.matching(is_read(caller.uniqueid), since)]


def wait_files(offer: list[str]) -> list[str]:
    """What an offer says about the agent's queue: "free now", "on a call", "N waiting", "about N minutes"."""
    return [f for f in offer if f in {"cc/free-now", "cc/on-call"} or f.startswith(("cc/wait-", "cc/waiting-"))]


async def joined(driver: Driver, caller: Caller, since: int) -> str:
    join = await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid), since=since, timeout=30)
    return str(join.get("Queue"))


async def waiting_in(driver: Driver, queue: str) -> set[str]:
    """The callers QueueStatus lists in ``queue``."""
    listing = await driver.link.send_list({"Action": "QueueStatus", "Queue": queue})
    return {str(e.get("Uniqueid")) for e in listing if e.get("Event") == "QueueEntry"}


async def hang_up(*callers: Caller) -> None:
    for caller in callers:
        with contextlib.suppress(AMIActionError):  # already gone (their call ended by itself)
            await caller.hangup()
    for caller in callers:
        await caller.ended()


@contextlib.asynccontextmanager
async def center_with(asterisk: AsteriskUnderTest, tmp_path: Path, **journey: Any) -> AsyncIterator[CallCenter]:
    """The service as the ``center`` fixture runs it, with other [journey] settings (the same FastAGI port: use
    it instead of that fixture, never beside it)."""
    config = dataclasses.replace(
        asterisk.config,
        store=store_at(asterisk.config.store, tmp_path / "cc.db"),
        asterisk=dataclasses.replace(asterisk.config.asterisk, queue_log=asterisk.layout.queue_log),
        journey=dataclasses.replace(asterisk.config.journey, **journey),
    )
    async with serving(config, asterisk.agents) as running:
        await running.queues.wait_resynced(1, timeout=15)
        yield running
        assert await store_of(running).check_invariants() == []
        assert await running.rankings.check() == []


async def test_callers_choosing_the_same_free_agent_at_once_do_not_all_land_on_them(
    center: CallCenter, driver: Driver
) -> None:
    """Three callers hear Alice offered free as 1 and press 1 together: one gets her; the others are told she is
    not free any more and offered the others, and the busy list says her wait."""
    await seed_history(store_of(center), DEMO_HISTORY)
    for agent in ("1001", "1003"):
        await driver.set_global(f"CC_DEMO_{agent}", "stay")  # whoever is connected stays on the line
    mark = driver.log.mark()
    callers = list(await asyncio.gather(*(driver.call("800", f"555060{n}") for n in range(3))))
    for caller in callers:
        await caller.answer("cc/choose-service", "1")
    menus = [await caller.prompt(AGENT_MENU) for caller in callers]
    assert all(offered(menu)[0] == "1001" and key_of(menu, "1001") == "1" for menu in menus), menus
    assert all(offer_of(menu, "1001")[-1] == "cc/free-now" for menu in menus)
    await asyncio.gather(*(caller.press("1") for caller in callers))
    # exactly one of them is put through to Alice; the others hear why not, and the menu again
    told: list[Caller] = []
    winner: Caller | None = None
    for caller in callers:
        after = await caller.prompt()
        if after == ["cc/agent-1001", "cc/not-free-now"]:
            told.append(caller)
        else:
            assert after[:2] == ["cc/connecting", "cc/agent-1001"], after
            winner = caller
    assert winner is not None
    assert len(told) == 2
    assert await joined(driver, winner, mark) == "agent-1001"
    second, third = told
    again = await second.prompt(AGENT_MENU)
    # Alice is not offered among the free agents any more, and key 7 leads to her with her wait
    assert "1001" not in offered(again)
    assert offered(again)[0] == "1003"
    assert "cc/opt-busy" in again
    await second.press("7")
    busy = await second.prompt(BUSY_LIST)
    assert offered(busy) == ["1001"]
    waits = wait_files(offer_of(busy, "1001"))
    assert waits[0] in {"cc/on-call", "cc/waiting-1"}, busy  # connected by now, or still being rung
    assert waits[1].startswith("cc/wait-")
    # the second caller takes Carol (free, key 1 back in the free list), the third the first available agent
    await second.press("7")
    free = await second.prompt(AGENT_MENU)
    assert offered(free)[0] == "1003"
    await second.press("1")
    assert await joined(driver, second, mark) == "agent-1003"
    await third.answer(AGENT_MENU, "0")
    assert await joined(driver, third, mark) == SHARED
    joins = driver.log.matching(lambda e: e.get("Event") == "QueueCallerJoin" and e.get("Queue") == "agent-1001", mark)
    assert [e.get("Uniqueid") for e in joins] == [winner.uniqueid]
    await hang_up(*callers)


async def test_the_offer_never_presents_a_full_queue_as_free(
    asterisk: AsteriskUnderTest, driver: Driver, tmp_path: Path
) -> None:
    """With max_waiting = 1: Alice on a call is offered with her wait; once a caller waits for her, her queue is
    full and she is offered neither as free nor with a wait, by the menu or by a resync from QueueStatus."""
    async with center_with(asterisk, tmp_path, max_waiting=1) as center:
        await agent_on_a_call(driver, "1001")
        try:
            mark = driver.log.mark()
            first = await driver.call("800", "5550611")
            await first.answer("cc/choose-service", "1")
            menu = await first.answer(AGENT_MENU, "7")
            assert "1001" not in offered(menu)
            busy = await first.prompt(BUSY_LIST)
            assert offered(busy) == ["1001"]
            assert wait_files(offer_of(busy, "1001")) == ["cc/on-call", "cc/wait-3"]  # 180 s: nothing learnt yet
            await first.press("1")
            # told the wait they chose, before Queue()
            assert await first.prompt("cc/connecting") == [
                "cc/connecting",
                "cc/agent-1001",
                "cc/wait-3",
                "cc/leave-queue",
            ]
            assert await joined(driver, first, mark) == "agent-1001"
            load = center.queues.load("1001")
            assert load is not None
            assert (load.free, load.waiting) == (False, 1)
            # the queue state a resync reads back from Asterisk says the same (QueueStatus's entries pass)
            assert await waiting_in(driver, "agent-1001") == {first.uniqueid}
            await center.queues.resync()
            assert center.queues.load("1001") == load
            second = await driver.call("800", "5550612")
            await second.answer("cc/choose-service", "1")
            menu = await second.prompt(AGENT_MENU)
            # full: not among the free agents, and no busy list to offer her in (nobody else is busy)
            assert "1001" not in offered(menu)
            assert "cc/opt-busy" not in menu
            assert offered(menu)[0] in {"1002", "1003"}
            await second.press("0")
            assert await joined(driver, second, mark) == SHARED
            await hang_up(first, second)
        finally:
            await driver.set_global("DEVICE_STATE(Custom:agent-1001)", "NOT_INUSE")


async def test_the_first_pass_is_short_and_the_categories_come_on_request(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest
) -> None:
    await seed_history(store_of(center), DEMO_HISTORY)
    mark = driver.log.mark()
    caller = await driver.call("800", "5550621")
    await caller.answer("cc/choose-service", "1")
    menu = await caller.prompt(AGENT_MENU)
    # key, name, overall score, grade and wait for each: no category
    assert menu == [
        *["cc/press-0", "cc/first-available"],
        *["cc/key-1", "cc/agent-1001", "cc/rated-4-3", "cc/grade-b", "cc/free-now"],
        *["cc/then-2", "cc/agent-1003", "cc/rated-4-0", "cc/grade-b", "cc/free-now"],
        *["cc/then-3", "cc/agent-1002", "cc/rated-3-3", "cc/grade-d", "cc/free-now"],
        *["cc/opt-details", "cc/opt-repeat"],
    ]
    # what it plays, measured from the files this Asterisk plays
    sounds = await asyncio.to_thread(SoundLengths.of_root, ROOT)
    assert all(f in sounds for f in menu)
    assert sounds.seconds(menu) < 25.0, sounds.seconds(menu)
    # the categories on request
    await caller.press("#")
    details = await caller.prompt(DETAILS)
    assert {f for f in details if f.startswith("cc/cat-")} == {f"cc/cat-{c.id}" for c in center.config.categories}
    assert offer_of(details, "1003")[3:6] == ["cc/from", "digits/3", "cc/ratings"]
    # and when ranking by one: Carol has the best attitude, each agent said with that score
    await caller.press("8")
    ranked = await caller.prompt("cc/ranked-by")
    assert ranked[2:4] == ["cc/ranked-by", "cc/cat-attitude"]
    assert offered(ranked)[0] == "1001"
    assert offer_of(ranked, "1001") == ["cc/agent-1001", "cc/score-4-2", "cc/free-now"]
    assert ranked[ranked.index("cc/opt-rank") + 1] == "cc/cat-knowledge"
    # * repeats; 0 is the first available agent from any page
    await caller.press("*")
    assert await caller.prompt("cc/ranked-by") == ranked
    await caller.press("0")
    assert await joined(driver, caller, mark) == SHARED
    await hang_up(caller)


async def test_a_silent_caller_reaches_the_shared_queue_after_one_pass_and_a_short_reprompt_of_each_menu(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest
) -> None:
    await seed_history(store_of(center), DEMO_HISTORY)
    mark = driver.log.mark()
    caller = await driver.call("800", "5550631")
    # what the caller hears, Read by Read, pressing nothing
    prompts = [await caller.prompt(timeout=40) for _ in range(6)]
    join = await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid), since=mark, timeout=30)
    assert join.get("Queue") == SHARED
    assert heard(driver, caller, mark) == prompts  # nothing else was played
    service_menu, agent_menu = prompts[1], prompts[3]
    assert prompts == [
        ["cc/welcome"],
        service_menu,
        ["cc/or-hold-for", "cc/service-support"],  # "press a key, or hold for technical support"
        agent_menu,
        ["cc/or-hold-agent"],  # "press a key, or hold for the first available agent"
        ["cc/shared-queue"],
    ]
    assert service_menu[0] == "cc/choose-service"
    assert agent_menu[:2] == ["cc/press-0", "cc/first-available"]
    # the path the menus' lengths promise: under a minute with the demo's own waits (`make run`: 6 s, then 3 s)...
    sounds = await asyncio.to_thread(SoundLengths.of_root, ROOT)
    assert all(f in sounds for prompt in prompts for f in prompt)
    journey = asterisk.config.journey
    services = [s.id for s in center.config.services]
    demo = Asking(JourneyConfig().input_timeout, journey.attempts, journey.reprompt_timeout)
    promised = silent_path(services, agent_menu, demo, sounds)
    assert promised.total < 60.0, promised
    # ...and this call took no longer than the same path with this test run's shorter waits (plus the AGI traffic)
    ours = silent_path(
        services, agent_menu, Asking(journey.input_timeout, journey.attempts, journey.reprompt_timeout), sounds
    )
    first = next(t for t, e in driver.log.timed(mark) if is_read(caller.uniqueid)(e))
    joined_at = next(t for t, e in driver.log.timed(mark) if e is join)
    assert joined_at - first < ours.total + 5.0, (joined_at - first, ours)
    call = await store_of(center).get_call(caller.uniqueid)
    assert call is not None
    assert (call.service_id, call.queue) == ("support", SHARED)
    await hang_up(caller)


async def test_the_wait_follows_the_agents_talk_times(center: CallCenter, driver: Driver) -> None:
    """A call to Alice (1 s of talk) teaches the service her handle time from AgentComplete: on her next call,
    the busy list says less than a minute, not the configured 3 minutes."""
    mark = driver.log.mark()
    caller = await driver.call("800", "5550641")
    await caller.answer("cc/choose-service", "1")
    menu = await caller.prompt(AGENT_MENU)
    await caller.press(key_of(menu, "1001"))
    complete = await driver.log.wait_for(event("AgentComplete", Queue="agent-1001"), since=mark, timeout=30)
    await caller.answer("cc/please-rate", "*", timeout=30)
    await caller.ended()
    talk = float(str(complete.get("TalkTime")))
    assert center.queues.callers.handle("1001") == pytest.approx(talk)
    # the caller left her queue when they were connected (QueueCallerLeave): she is free again, nobody waiting
    assert center.queues.load("1001") == AgentLoad(True, 0, 0.0)
    await agent_on_a_call(driver, "1001")
    try:
        other = await driver.call("800", "5550642")
        await other.answer("cc/choose-service", "1")
        await other.answer(AGENT_MENU, "7")
        busy = await other.prompt(BUSY_LIST)
        assert wait_files(offer_of(busy, "1001")) == ["cc/on-call", "cc/wait-0"]  # less than a minute
        await hang_up(other)
    finally:
        await driver.set_global("DEVICE_STATE(Custom:agent-1001)", "NOT_INUSE")
