"""Self-service by phone on a real Asterisk 22: callers manage their ratings of agents, agents log in, pause,
resume, log out and rate the callers they served. What the phone heard, what Asterisk did, what was stored.

Past calls are written to the store directly (as the journey would have left them); everything after that is
a real call through the dialplan, FastAGI and AMI.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from callcenter.app import CallCenter, serving
from callcenter.demo.script import Caller, Driver, event, is_read, read_files
from callcenter.demo.seed import seed_history
from callcenter.domain.pins import check_client_pin, hash_client_pin
from callcenter.store import Call, Store
from callcenter.store.models import AGENT_TO_CLIENT, CLIENT_TO_AGENT
from callcenter.usecases.ports import utcnow
from tests.asterisk.conftest import AsteriskUnderTest, store_at
from tests.asterisk.ivr import DETAILS, key_of, offer_of, offered, restart_asterisk, store_of

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.usefixtures("scripted_agents"),
]

CATEGORIES = ("attitude", "knowledge", "availability", "other")
NAV = ["cc/press", "digits/star", "cc/to-repeat", "cc/press", "digits/pound", "cc/to-finish"]


async def served(store: Store, uniqueid: str, number: str, agent: str, days_ago: float) -> Call:
    """A call ``agent`` answered ``days_ago`` and that ended after two minutes of talk."""
    client = await store.client_for_number(number)
    assert client is not None
    answered = utcnow() - timedelta(days=days_ago)
    await store.start_call(uniqueid, uniqueid, client.id, "support", answered - timedelta(seconds=40))
    await store.call_queued(uniqueid, f"agent-{agent}", answered - timedelta(seconds=30))
    await store.call_answered(uniqueid, agent, answered)
    call = await store.call_ended(uniqueid, "answered", answered + timedelta(minutes=2))
    assert call is not None
    return call


async def agent_menu_of_a_new_caller(driver: Driver, number: str, service_key: str = "1") -> tuple[Caller, list[str]]:
    caller = await driver.call("800", number)
    await caller.answer("cc/choose-service", service_key)
    return caller, await caller.prompt("cc/first-available")


async def hang_up(caller: Caller) -> None:
    await caller.hangup()
    await caller.ended()


async def log_in_by_access_number(driver: Driver, agent: str, pin: str) -> Caller:
    phone = await driver.call("801", f"555900{agent[-1]}")
    await phone.answer("cc/enter-agent-id", f"{agent}#")
    await phone.answer("cc/enter-agent-pin", f"{pin}#")
    return phone


# --- callers ----------------------------------------------------------------------------------------------------


async def test_caller_adds_changes_and_deletes_a_rating_and_the_next_caller_hears_each_step(
    center: CallCenter, driver: Driver
) -> None:
    store = store_of(center)
    await seed_history(store, {"1002": [(3, 3, 3, 3)] * 4}, tag="ss")
    call = await served(store, "ss-call-1", "5550401", "1002", days_ago=1)

    async def bobs_offer(number: str) -> list[str]:
        """What a caller hears about Bob in the details (#), up to his count of ratings."""
        other, _ = await agent_menu_of_a_new_caller(driver, number)
        await other.press("#")
        details = await other.prompt(DETAILS)
        await hang_up(other)
        offer = offer_of(details, "1002")
        return offer[: offer.index("cc/from") + 2]

    caller = await driver.call("800", "5550401")
    # the journey reminds of the unrated call; 2 goes straight to the ratings menu
    await caller.answer("cc/unrated-call", "2")
    await caller.answer("cc/offer-pin", "2")  # no PIN, thanks
    entry = await caller.prompt("cc/call")
    # fmt: off
    assert entry == [
        "cc/call", "digits/1", "cc/of", "digits/1", "digits/yesterday", "cc/with", "cc/agent-1002",
        "cc/not-rated-yet", "cc/press", "digits/1", "cc/to-rate", *NAV,
    ]
    # fmt: on
    await caller.press("1")
    request = await caller.answer("cc/please-rate", "5555")
    assert request[:2] == ["cc/please-rate", "cc/agent-1002"]
    entry = await caller.prompt("cc/call")
    # fmt: off
    assert entry[entry.index("cc/your-rating"):] == [
        "cc/your-rating", "cc/cat-attitude", "digits/5", "cc/cat-knowledge", "digits/5",
        "cc/cat-availability", "digits/5", "cc/cat-other", "digits/5",
        "cc/press", "digits/1", "cc/to-change", "cc/press", "digits/7", "cc/to-delete", *NAV,
    ]
    # fmt: on
    await hang_up(caller)
    assert (await store.agent_summary("1002")).count == 5
    added = await bobs_offer("5550499")
    assert added[-2:] == ["cc/from", "digits/5"]

    caller = await driver.call("800", "5550401")  # a later call: change it
    await caller.answer("cc/choose-service", "9")
    await caller.answer("cc/offer-pin", "2")
    await caller.answer("cc/call", "1")
    await caller.answer("cc/please-rate", "2222")
    entry = await caller.prompt("cc/call")
    assert entry[entry.index("cc/your-rating") :].count("digits/2") == 4
    await hang_up(caller)
    evaluation = await store.get_evaluation(call.uniqueid, CLIENT_TO_AGENT)
    assert evaluation is not None
    assert dict(evaluation.scores) == dict.fromkeys(CATEGORIES, 2)
    changed = await bobs_offer("5550498")
    assert changed[-2:] == ["cc/from", "digits/5"]
    assert changed != added  # same count, lower score

    caller = await driver.call("800", "5550401")  # and delete it
    await caller.answer("cc/choose-service", "9")
    await caller.answer("cc/offer-pin", "2")
    await caller.answer("cc/call", "7")
    await caller.answer("cc/confirm-delete", "7")
    await caller.prompt("cc/rating-deleted")
    entry = await caller.answer("cc/call", "#")
    assert "cc/not-rated-yet" in entry
    await caller.prompt("cc/choose-service")  # back in the main menu
    await hang_up(caller)
    deleted = await bobs_offer("5550497")
    assert deleted[-2:] == ["cc/from", "digits/4"]

    evaluation = await store.get_evaluation(call.uniqueid, CLIENT_TO_AGENT)
    assert evaluation is not None
    assert evaluation.deleted
    history = await store.evaluation_history(evaluation.id)
    rater = f"client:{call.client_id}"
    assert [(h.action, h.actor) for h in history] == [("create", rater), ("update", rater), ("delete", rater)]
    assert history[-1].old_scores == dict.fromkeys(CATEGORIES, 2)
    assert (await store.agent_summary("1002")).count == 4


async def test_caller_cannot_reach_a_call_they_were_not_a_party_to(center: CallCenter, driver: Driver) -> None:
    store = store_of(center)
    theirs = await served(store, "ss-theirs", "5550411", "1001", days_ago=2)
    mine = await served(store, "ss-mine", "5550412", "1003", days_ago=3)
    caller = await driver.call("800", "5550412")
    await caller.answer("cc/unrated-call", "2")
    await caller.answer("cc/offer-pin", "2")
    # every key the single-entry list does not offer is refused; after three the list closes
    for keys in ("6", "4", "7"):
        entry = await caller.answer("cc/call", keys)
        assert offered(entry) == ["1003"]
    await caller.answer("cc/choose-service", "9")
    await caller.answer("cc/offer-pin", "2")
    await caller.answer("cc/call", "1")
    await caller.answer("cc/please-rate", "1111")
    await caller.prompt("cc/call")
    await hang_up(caller)
    assert await store.get_evaluation(theirs.uniqueid, CLIENT_TO_AGENT) is None
    assert await store.list_evaluations(agent_id="1001") == []
    mine_rated = await store.get_evaluation(mine.uniqueid, CLIENT_TO_AGENT)
    assert mine_rated is not None
    assert mine_rated.agent_id == "1003"


async def test_pin_set_on_first_use_is_asked_next_time_and_three_wrong_pins_end_the_call(
    center: CallCenter, driver: Driver
) -> None:
    store = store_of(center)
    call = await served(store, "ss-pin", "5550421", "1001", days_ago=1)
    await store.record_evaluation(call.uniqueid, CLIENT_TO_AGENT, dict.fromkeys(CATEGORIES, 4), "client:x", utcnow())
    caller = await driver.call("800", "5550421")
    await caller.answer("cc/choose-service", "9")
    await caller.answer("cc/offer-pin", "1")
    await caller.answer("cc/choose-pin", "4321#")
    await caller.answer("cc/repeat-pin", "4321#")
    await caller.prompt("cc/pin-saved")
    await caller.answer("cc/call", "#")
    await caller.answer("cc/choose-service", "9")
    await caller.answer("cc/enter-pin", "4321#")  # now it is asked for, and the right one opens the list
    entry = await caller.prompt("cc/call")
    assert "cc/agent-1001" in entry
    await hang_up(caller)
    assert call.client_id is not None
    stored, _ = await store.client_pin(call.client_id)
    assert check_client_pin("4321", stored)

    # a spoofer with the caller's number: an owed call is waiting, and rating it from the reminder needs the PIN too
    owed = await served(store, "ss-pin-owed", "5550421", "1002", days_ago=0)
    before = await store.evaluation_history((await store.list_evaluations(agent_id="1001"))[0].id)
    spoofer = await driver.call("800", "5550421")
    await spoofer.answer("cc/unrated-call", "1")
    for wrong in ("0000#", "1234#"):
        await spoofer.answer("cc/enter-pin", wrong)
        await spoofer.prompt("cc/pin-wrong")
    await spoofer.answer("cc/enter-pin", "9999#")
    await spoofer.prompt("cc/pin-goodbye")
    await spoofer.ended()
    heard = [read_files(str(e.get("Command"))) or [] for e in driver.log.matching(is_read(spoofer.uniqueid))]
    assert not any("cc/please-rate" in files or "cc/call" in files for files in heard)
    assert await store.get_evaluation(owed.uniqueid, CLIENT_TO_AGENT) is None
    after = await store.evaluation_history((await store.list_evaluations(agent_id="1001"))[0].id)
    assert after == before
    assert (await store.client_pin(call.client_id))[0] == stored


async def test_a_rating_past_the_edit_window_is_read_out_but_frozen(center: CallCenter, driver: Driver) -> None:
    store = store_of(center)
    days = center.config.rules.edit_window_days + 5
    old = await served(store, "ss-old", "5550431", "1003", days_ago=days)
    await store.set_client_pin(old.client_id or 0, hash_client_pin("2468"), utcnow())
    await store.record_evaluation(old.uniqueid, CLIENT_TO_AGENT, dict.fromkeys(CATEGORIES, 3), "client:x", utcnow())
    caller = await driver.call("800", "5550431")
    await caller.answer("cc/choose-service", "9")
    await caller.answer("cc/enter-pin", "2468#")
    entry = await caller.prompt("cc/call")
    assert "cc/rating-frozen" in entry
    assert "cc/to-change" not in entry
    assert "cc/to-delete" not in entry
    assert old.answered_at is not None
    assert f"digits/mon-{old.answered_at.month - 1}" in entry
    await caller.press("7")  # refused like any key it was not offered
    await caller.prompt("cc/invalid")
    await hang_up(caller)
    evaluation = await store.get_evaluation(old.uniqueid, CLIENT_TO_AGENT)
    assert evaluation is not None
    assert not evaluation.deleted


# --- agents -----------------------------------------------------------------------------------------------------


async def test_agent_pauses_is_neither_offered_nor_rung_resumes_and_logs_out(
    center: CallCenter, driver: Driver
) -> None:
    store = store_of(center)
    # Bob is the best rated agent: in the shared queue he rings first whenever he can take calls
    await seed_history(store, {"1002": [(5, 5, 5, 5)] * 5, "1001": [(3, 3, 3, 3)] * 5, "1003": [(2, 2, 2, 2)] * 5})
    await center.queues.resync()
    mark = driver.log.mark()
    bob = await log_in_by_access_number(driver, "1002", "2222")
    menu = await bob.prompt("cc/agent-available")
    assert menu[1:7] == ["cc/press", "digits/2", "cc/to-pause", "cc/press", "digits/4", "cc/to-log-out"]
    await bob.press("2")
    await bob.answer("cc/choose-pause-reason", "2")  # lunch
    paused = await driver.log.wait_for(
        event("QueueMemberPause", Queue="service-support", MemberName="1002", Paused="1"), since=mark
    )
    assert paused.get("PausedReason") == "lunch"
    menu = await bob.answer("cc/agent-paused", "#")
    assert menu[:5] == ["cc/agent-paused", "cc/reason-lunch", "cc/press", "digits/3", "cc/to-resume"]
    await bob.ended()
    stored = (await store.get_presence(["1002"]))["1002"]
    assert (stored.state, stored.reason, stored.actor) == ("paused", "lunch", "agent:1002")

    caller, menu = await agent_menu_of_a_new_caller(driver, "5550441")
    assert "1002" not in offered(menu)
    mark = driver.log.mark()
    await caller.press("0")  # the shared queue: Bob would ring first if he were not paused
    connect = await driver.log.wait_for(event("AgentConnect", Queue="service-support"), since=mark, timeout=40)
    assert connect.get("MemberName") != "1002"
    assert "1002" not in {e.get("MemberName") for e in driver.log.matching(event("AgentCalled"), since=mark)}
    await hang_up(caller)

    mark = driver.log.mark()
    bob = await log_in_by_access_number(driver, "1002", "2222")
    await bob.answer("cc/agent-paused", "3")  # resume
    await driver.log.wait_for(
        event("QueueMemberPause", Queue="service-support", MemberName="1002", Paused="0"), since=mark
    )
    await bob.answer("cc/agent-available", "#")
    await bob.ended()
    caller, menu = await agent_menu_of_a_new_caller(driver, "5550442")
    assert "1002" in offered(menu)
    mark = driver.log.mark()
    await caller.press("0")
    rung = await driver.log.wait_for(event("AgentCalled", Queue="service-support"), since=mark, timeout=20)
    assert rung.get("MemberName") == "1002"  # back, and first again
    await hang_up(caller)

    mark = driver.log.mark()
    bob = await log_in_by_access_number(driver, "1002", "2222")
    await bob.answer("cc/agent-available", "4")  # log out
    for queue in ("agent-1002", "agent-1002-vip", "service-support"):
        await driver.log.wait_for(event("QueueMemberRemoved", Queue=queue, MemberName="1002"), since=mark)
    await bob.answer("cc/agent-logged-out", "#")
    await bob.prompt("cc/agent-goodbye")
    await bob.ended()
    assert (await store.get_presence(["1002"]))["1002"].state == "logged_out"
    status = await driver.link.send_list({"Action": "QueueStatus", "Queue": "service-support"})
    assert "1002" not in {m.get("Name") for m in status if m.get("Event") == "QueueMember"}


async def test_agent_reviews_and_rates_a_caller_they_served(center: CallCenter, driver: Driver) -> None:
    store = store_of(center)
    call = await served(store, "ss-agent", "5550651", "1003", days_ago=0)
    await served(store, "ss-not-carol", "5550652", "1001", days_ago=0)
    carol = await log_in_by_access_number(driver, "1003", "3333")
    await carol.answer("cc/agent-available", "5")
    entry = await carol.prompt("cc/call")
    # fmt: off
    assert entry == [
        "cc/call", "digits/1", "cc/of", "digits/1", "digits/today", "cc/with",
        "cc/caller-ending", "digits/0", "digits/6", "digits/5", "digits/1",
        "cc/not-rated-yet", "cc/press", "digits/1", "cc/to-rate", *NAV,
    ]
    # fmt: on
    await carol.press("1")
    request = await carol.answer("cc/please-rate", "3434")
    assert request[1:6] == ["cc/caller-ending", "digits/0", "digits/6", "digits/5", "digits/1"]
    await carol.answer("cc/call", "#")
    await carol.answer("cc/agent-available", "#")
    await carol.ended()
    evaluation = await store.get_evaluation(call.uniqueid, AGENT_TO_CLIENT)
    assert evaluation is not None
    assert dict(evaluation.scores) == {"attitude": 3, "knowledge": 4, "availability": 3, "other": 4}
    assert call.client_id is not None
    assert (await store.client_summary(call.client_id)).count == 1


async def test_wrong_agent_pins_end_the_call_and_many_lock_the_agent_out_even_for_the_right_pin(
    center: CallCenter, driver: Driver
) -> None:
    store = store_of(center)
    limit = center.config.selfservice.pin_max_failures
    assert limit == 5  # conftest: two calls reach it
    phone = await driver.call("801", "5559009")
    for attempt in range(3):
        await phone.answer("cc/enter-agent-id", "1002#")
        await phone.answer("cc/enter-agent-pin", "9999#")
        if attempt < 2:
            await phone.prompt("cc/login-failed")
    await phone.prompt("cc/login-goodbye")
    await phone.ended()
    assert await store.get_presence(["1002"]) == {}
    assert await store.pin_failures("agent:1002", utcnow() - timedelta(hours=1)) == 3

    phone = await driver.call("801", "5559009")  # a patient guesser calls again
    for _ in range(2):
        await phone.answer("cc/enter-agent-id", "1002#")
        await phone.answer("cc/enter-agent-pin", "8888#")
        await phone.prompt("cc/login-failed")
    await phone.answer("cc/enter-agent-id", "1002#")
    await phone.prompt("cc/pin-locked")  # not even asked for the PIN now
    await phone.prompt("cc/login-goodbye")
    await phone.ended()

    bob = await driver.call("801", "5559002")  # the right PIN waits for the lockout to pass
    await bob.answer("cc/enter-agent-id", "1002#")
    await bob.prompt("cc/pin-locked")
    await bob.ended()
    heard = [read_files(str(e.get("Command"))) or [] for e in driver.log.matching(is_read(bob.uniqueid))]
    assert not any("cc/agent-available" in files for files in heard)
    assert await store.get_presence(["1002"]) == {}


async def test_outside_phone_agent_logs_in_by_access_number_and_takes_a_call(
    center: CallCenter, driver: Driver
) -> None:
    store = store_of(center)
    mark = driver.log.mark()
    erin = await log_in_by_access_number(driver, "1005", "5555")
    await erin.answer("cc/agent-available", "4")  # the demo starts everyone on duty: log out first
    await driver.log.wait_for(event("QueueMemberRemoved", Queue="agent-1005"), since=mark)
    await erin.answer("cc/agent-logged-out", "#")
    await erin.ended()
    caller, menu = await agent_menu_of_a_new_caller(driver, "5550461", service_key="2")
    assert "1005" not in offered(menu)
    await hang_up(caller)

    mark = driver.log.mark()
    erin = await log_in_by_access_number(driver, "1005", "5555")
    await erin.answer("cc/agent-logged-out", "1")
    await driver.log.wait_for(event("QueueMemberAdded", Queue="agent-1005", MemberName="1005"), since=mark)
    await erin.answer("cc/agent-available", "#")
    await erin.ended()
    assert (await store.get_presence(["1005"]))["1005"].state == "available"

    caller, menu = await agent_menu_of_a_new_caller(driver, "5550462", service_key="2")
    assert "1005" in offered(menu)
    mark = driver.log.mark()
    await caller.press(key_of(menu, "1005"))
    join = await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid), since=mark)
    assert join.get("Queue") == "agent-1005"
    # app_queue rang her member, whose Dial went out through cc-outbound to her outside number
    await driver.log.wait_for(
        lambda e: (
            e.get("Event") == "Newchannel"
            and str(e.get("Channel", "")).startswith("Local/+15550001005@cc-demo-outside")
        ),
        since=mark,
        timeout=20,
    )
    connect = await driver.log.wait_for(event("AgentConnect", Queue="agent-1005"), since=mark, timeout=30)
    assert connect.get("MemberName") == "1005"
    await caller.answer("cc/please-rate", "5454", timeout=30)
    await caller.ended()
    answered = await store.get_call(caller.uniqueid)
    assert answered is not None
    assert (answered.agent_id, answered.outcome) == ("1005", "answered")
    assert (await store.agent_summary("1005")).count == 1


async def test_presence_survives_a_service_restart_and_is_restored_after_an_asterisk_restart(
    asterisk: AsteriskUnderTest, driver: Driver, tmp_path: Path
) -> None:
    config = dataclasses.replace(asterisk.config, store=store_at(asterisk.config.store, tmp_path / "cc.db"))

    async def members() -> dict[tuple[str, str], tuple[str, str]]:
        status = await driver.link.send_list({"Action": "QueueStatus"})
        return {
            (str(m.get("Queue")), str(m.get("Name"))): (str(m.get("Paused")), str(m.get("PausedReason") or ""))
            for m in status
            if m.get("Event") == "QueueMember" and str(m.get("Name")) in {"1001", "1002", "1003"}
        }

    def as_chosen(have: dict[tuple[str, str], tuple[str, str]]) -> None:
        assert have[("service-support", "1002")] == ("1", "training")
        assert have[("agent-1002", "1002")] == ("1", "training")
        assert have[("service-support", "1001")] == ("0", "")
        assert not any(name == "1003" for _, name in have)

    async with serving(config, asterisk.agents) as first:
        await first.queues.wait_resynced(1, timeout=15)
        await first.duty.change("1002", "paused", "training", actor="operator:test", via="test")
        await first.duty.change("1003", "logged_out", actor="operator:test", via="test")
        as_chosen(await members())
    # the service restarts on the same database: its resync re-adds and unpauses nobody
    async with serving(config, asterisk.agents) as again:
        await again.queues.wait_resynced(1, timeout=15)
        as_chosen(await members())
        # Asterisk restarts (persistentmembers = no: its queues come back empty): the resync restores presence
        await restart_asterisk(asterisk, again, driver)
        as_chosen(await members())
        assert again.store is not None
        assert await again.store.check_invariants() == []


async def test_a_rating_an_operator_removed_is_announced_and_cannot_be_put_back(
    center: CallCenter, driver: Driver
) -> None:
    store = store_of(center)
    call = await served(store, "ss-removed", "5550471", "1001", days_ago=2)
    await store.record_evaluation(call.uniqueid, CLIENT_TO_AGENT, dict.fromkeys(CATEGORIES, 1), "client:x", utcnow())
    await store.delete_evaluation(call.uniqueid, CLIENT_TO_AGENT, "operator:alice", "abusive", utcnow())
    caller = await driver.call("800", "5550471")
    await caller.answer("cc/choose-service", "9")
    await caller.answer("cc/offer-pin", "2")
    entry = await caller.answer("cc/call", "1")  # refused: not offered
    assert "cc/rating-removed" in entry
    assert "cc/to-rate" not in entry
    await caller.prompt("cc/invalid")
    await hang_up(caller)
    evaluation = await store.get_evaluation(call.uniqueid, CLIENT_TO_AGENT)
    assert evaluation is not None
    assert evaluation.deleted
    assert (await store.agent_summary("1001")).count == 0
