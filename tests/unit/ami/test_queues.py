"""QueueSync against a fake AMI link: the exact actions a resync or a presence change sends."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from panoramisk.message import Message

from callcenter.ami.link import SERVICE_EVENTS, AMIActionError, AMILink
from callcenter.ami.queues import QueueSync
from callcenter.ami.rating_events import RatingEvents
from callcenter.domain.agents import AgentSpec, Duty
from callcenter.domain.policy import Policy
from callcenter.domain.waits import AgentLoad
from callcenter.store import Store
from callcenter.usecases.ports import TalkTimesOf, utcnow
from callcenter.web.board import Board


def agent(agent_id: str, *services: str) -> AgentSpec:
    return AgentSpec(agent_id, f"agent {agent_id}", services, "dial", f"Local/{agent_id}@phones/n", None)


AGENTS = (agent("1001", "support"), agent("1002", "support"), agent("1003", "support"))


class NoRanking:
    async def agent_rated(self, agent_id: str) -> None: ...
    async def agent_answered(self, agent_id: str) -> None: ...


class FakeAMI:
    """Records actions; QueueStatus answers with the members it was given."""

    def __init__(self, members: Sequence[tuple[str, str, bool]] = (), entries: Sequence[tuple[str, str]] = ()) -> None:
        self.members = list(members)  # (queue, agent, paused)
        self.entries = list(entries)  # (queue, caller uniqueid): callers waiting, as QueueStatus lists them
        self.sent: list[dict[str, Any]] = []
        self.connected = True
        self.refuse: set[tuple[str, str]] = set()  # (action, queue) answered with an error
        self.handlers: dict[str, Callable[[Message], Awaitable[None]]] = {}

    def on_event(self, name: str, handler: Callable[[Message], Awaitable[None]]) -> None:
        self.handlers[name] = handler

    def on_resync(self, *_: object) -> None: ...

    async def emit(self, name: str, **fields: str) -> None:
        """Deliver an event as the link's dispatcher would."""
        await self.handlers[name](Message({"Event": name, **fields}))

    async def send(self, action: dict[str, Any]) -> Message:
        self.sent.append(action)
        if (action["Action"], action.get("Queue")) in self.refuse:
            self.refuse.discard((action["Action"], action.get("Queue")))  # a passing failure: once
            raise AMIActionError(action["Action"], "Unable to add interface")
        return Message({"Response": "Success"})

    async def send_list(self, action: dict[str, Any]) -> list[Message]:
        assert action == {"Action": "QueueStatus"}
        entries = [
            Message({"Event": "QueueEntry", "Queue": queue, "Uniqueid": caller, "Position": "1"})
            for queue, caller in self.entries
        ]
        return entries + [
            Message(
                {
                    "Event": "QueueMember",
                    "Queue": queue,
                    "Location": f"Local/{agent_id}@cc-agent-offer/n",
                    "Status": "1",
                    "Paused": "1" if paused else "0",
                    "Penalty": "0",
                }
            )
            for queue, agent_id, paused in self.members
        ]

    def actions(self, name: str) -> list[tuple[str, ...]]:
        keys = ("Queue", "Interface", "Paused", "Reason")
        return [tuple(str(a.get(k, "")) for k in keys) for a in self.sent if a["Action"] == name]


async def no_talk_times(ids: Sequence[str]) -> dict[str, list[float]]:
    """No stored calls: every agent starts with the configured handle time."""
    return {}


def sync(ami: FakeAMI, duty: Mapping[str, Duty], talk_times: TalkTimesOf = no_talk_times) -> QueueSync:
    async def penalties(ids: Sequence[str]) -> dict[str, int]:
        return dict.fromkeys(ids, 0)

    async def duties(ids: Sequence[str]) -> dict[str, Duty]:
        return {i: duty[i] for i in ids if i in duty}

    return QueueSync(cast(AMILink, ami), AGENTS, penalties, duties, talk_times=talk_times, handle_seconds=180)


def wallboard(ami: FakeAMI) -> Board:
    """The wallboard's model, following its events on ``ami`` (its store is not read here)."""
    return Board(
        store=cast(Store, None),
        ami=cast(AMILink, ami),
        queues=sync(ami, {}),
        agents=AGENTS,
        services=[("support", "support")],
        policy=Policy(),
        initial="available",
        score_of=lambda _: None,
        clock=utcnow,
    )


def member(agent_id: str) -> str:
    return f"Local/{agent_id}@cc-agent-offer/n"


def all_queues(agent_id: str) -> list[str]:
    return [f"agent-{agent_id}", f"agent-{agent_id}-vip", "service-support"]


async def test_resync_makes_members_follow_presence() -> None:
    ami = FakeAMI(
        [(q, "1001", False) for q in all_queues("1001")]
        + [(q, "1002", False) for q in all_queues("1002")]
        + [(q, "1003", False) for q in all_queues("1003")]
    )
    queues = sync(ami, {"1002": Duty(True, True, "lunch"), "1003": Duty(False)})
    await queues.resync()
    assert ami.actions("QueuePause") == [(q, member("1002"), "true", "lunch") for q in all_queues("1002")]
    assert sorted(ami.actions("QueueRemove")) == sorted((q, member("1003"), "", "") for q in all_queues("1003"))
    assert ami.actions("QueueAdd") == []
    assert queues.presence.offerable("1001")
    assert not queues.presence.offerable("1002")
    assert not queues.presence.offerable("1003")
    assert not queues.presence.reachable("1003")


async def test_resync_after_an_asterisk_restart_adds_paused_members_paused() -> None:
    ami = FakeAMI()  # a fresh Asterisk: no members at all
    queues = sync(ami, {"1002": Duty(True, True, "training"), "1003": Duty(False)})
    await queues.resync()
    added = {(q, i, p) for q, i, p, _ in ami.actions("QueueAdd")}
    assert added == {
        (q, member(a), "true" if a == "1002" else "false") for a in ("1001", "1002") for q in all_queues(a)
    }
    assert ami.actions("QueuePause") == [(q, member("1002"), "true", "training") for q in all_queues("1002")]


async def test_apply_logs_out_and_back_in_with_exact_actions() -> None:
    ami = FakeAMI([(q, "1001", False) for q in all_queues("1001")])
    queues = sync(ami, {})
    await queues.resync()
    ami.sent.clear()
    await queues.apply("1001", Duty(False))
    assert list(ami.actions("QueueRemove")) == [(q, member("1001"), "", "") for q in all_queues("1001")]
    assert not queues.presence.offerable("1001")
    ami.sent.clear()
    await queues.apply("1001", Duty(True))
    assert [(q, i, p) for q, i, p, _ in ami.actions("QueueAdd")] == [
        (q, member("1001"), "false") for q in all_queues("1001")
    ]
    # its custom device state is set free so app_queue rings it
    assert {"Action": "Setvar", "Variable": "DEVICE_STATE(Custom:agent-1001)", "Value": "NOT_INUSE"} in ami.sent
    assert queues.presence.offerable("1001")


async def test_with_ami_down_a_change_is_remembered_and_offers_follow_it() -> None:
    ami = FakeAMI()
    ami.connected = False
    queues = sync(ami, {})
    await queues.apply("1002", Duty(True, True, "lunch"))
    assert ami.sent == []
    # never synced: the offers go by what agents chose
    assert not queues.presence.offerable("1002")
    assert queues.presence.offerable("1001")


async def test_a_failed_step_of_a_log_in_is_followed_by_a_resync() -> None:
    ami = FakeAMI()
    stored = {"1001": Duty(False), "1002": Duty(False), "1003": Duty(False)}
    queues = sync(ami, stored)
    await queues.resync()
    ami.refuse = {("QueueAdd", "agent-1001-vip")}
    ami.sent.clear()
    stored["1001"] = Duty(True)  # the store is written first, then Asterisk is told
    await queues.apply("1001", Duty(True))
    # all three adds were tried, then the resync (QueueStatus: nothing there in this fake) tried every one again
    assert [q for q, *_ in ami.actions("QueueAdd")] == all_queues("1001") * 2


# --- the queue load offers read --------------------------------------------------------------------------------

PROJECT = Path(__file__).resolve().parents[3]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def loaded(entries: Sequence[tuple[str, str]] = ()) -> tuple[FakeAMI, QueueSync, Clock]:
    """Every agent logged in and free; ``entries`` callers already waiting when the resync runs."""
    ami = FakeAMI([(q, a.id, False) for a in AGENTS for q in all_queues(a.id)], entries)
    queues = sync(ami, {})
    clock = Clock()
    queues.callers.clock = clock
    await queues.resync()
    return ami, queues, clock


def test_the_service_user_receives_exactly_the_events_the_service_handles() -> None:
    """manager.conf filters the service's events by name: a handler whose event is not let through never runs,
    and an event let through that nobody handles only costs (and is one more thing a forged line could be)."""
    ami = FakeAMI()
    sync(ami, {})
    RatingEvents(ami, NoRanking())  # type: ignore[arg-type]
    wallboard(ami)
    text = (PROJECT / "asterisk-conf/manager.conf").read_text()
    service = text.split("[{{ami_user}}]", 1)[1].split("\n[", 1)[0]
    filtered = set(re.findall(r"^eventfilter\(action\(include\),name\((\w+)\)[,)]", service, flags=re.MULTILINE))
    # the link resyncs on FullyBooted and drops on Shutdown; the reaper's Status list travels as events
    assert filtered == set(ami.handlers) | {"FullyBooted", "Shutdown", "Status", "StatusComplete"}


def test_the_service_logs_in_for_the_classes_of_the_events_it_handles_and_its_user_may_read() -> None:
    text = (PROJECT / "asterisk-conf/manager.conf").read_text()
    service = text.split("[{{ami_user}}]", 1)[1].split("\n[", 1)[0]
    (readable,) = re.findall(r"^read = (.*)$", service, flags=re.MULTILINE)
    assert set(SERVICE_EVENTS.split(",")) <= set(readable.split(","))
    # FullyBooted/Shutdown (system), queue members, callers and agent calls (agent), our UserEvents (user)
    assert set(SERVICE_EVENTS.split(",")) == {"system", "agent", "user"}


async def test_a_caller_the_ivr_enqueues_makes_the_agent_taken_before_asterisk_says_so() -> None:
    ami, queues, _ = await loaded()
    assert queues.load("1001") == AgentLoad(True, 0, 0.0)
    queues.take("1001", "caller-1")
    # the next offer: Alice has a caller on the way, the next one would wait a whole handle time
    assert queues.load("1001") == AgentLoad(False, 1, 180.0)
    # Asterisk's join (the preferred queue, for a caller with a good reputation) is the same caller
    await ami.emit("QueueCallerJoin", Queue="agent-1001-vip", Uniqueid="caller-1", Position="1")
    assert queues.load("1001") == AgentLoad(False, 1, 180.0)
    # connected (or withdrawn, timed out, gone back to the menu): no longer waiting
    await ami.emit("QueueCallerLeave", Queue="agent-1001-vip", Uniqueid="caller-1")
    assert queues.load("1001") == AgentLoad(True, 0, 0.0)
    # a caller of the shared queue waits for nobody in particular
    await ami.emit("QueueCallerJoin", Queue="service-support", Uniqueid="caller-2", Position="1")
    assert queues.load("1001") == AgentLoad(True, 0, 0.0)


async def test_a_reservation_asterisk_never_confirms_stops_counting() -> None:
    _, queues, clock = await loaded()
    queues.take("1002", "hung-up-during-the-sentence")
    clock.now += 15
    assert queues.load("1002") == AgentLoad(False, 1, 180.0)
    clock.now += 10  # past RESERVATION_SECONDS without a QueueCallerJoin
    assert queues.load("1002") == AgentLoad(True, 0, 0.0)


async def test_a_joined_caller_counts_until_they_leave_however_long_they_wait() -> None:
    ami, queues, clock = await loaded()
    await ami.emit("QueueCallerJoin", Queue="agent-1002", Uniqueid="patient", Position="1")
    clock.now += 3600
    assert queues.load("1002") == AgentLoad(False, 1, 180.0)
    await ami.emit("QueueCallerAbandon", Queue="agent-1002", Uniqueid="patient")
    assert queues.load("1002") == AgentLoad(True, 0, 0.0)


async def test_the_wait_follows_the_call_in_progress_and_the_talk_times() -> None:
    ami, queues, clock = await loaded()
    await ami.emit("AgentConnect", Queue="service-support", MemberName="1003", Interface=member("1003"))
    await ami.emit("QueueMemberStatus", Queue="agent-1003", Interface=member("1003"), Status="2", Paused="0")
    clock.now += 30
    assert queues.load("1003") == AgentLoad(False, 0, 150.0)  # 180 s handle time, 30 s into the call
    await ami.emit("QueueCallerJoin", Queue="agent-1003", Uniqueid="next", Position="1")
    assert queues.load("1003") == AgentLoad(False, 1, 330.0)
    clock.now += 30
    await ami.emit("AgentComplete", Queue="service-support", MemberName="1003", Interface=member("1003"), TalkTime="60")
    await ami.emit("QueueMemberStatus", Queue="agent-1003", Interface=member("1003"), Status="1", Paused="0")
    # the first talk time is the handle time now; the caller waiting is next
    assert queues.callers.handle("1003") == 60.0
    assert queues.load("1003") == AgentLoad(False, 1, 60.0)


async def test_a_busy_agent_whose_call_we_did_not_see_start_counts_a_whole_handle_time() -> None:
    ami, queues, _ = await loaded()
    await ami.emit("QueueMemberStatus", Queue="agent-1001", Interface=member("1001"), Status="2", Paused="0")
    assert queues.load("1001") == AgentLoad(False, 0, 180.0)
    # ringing for the caller at the head of their own queue: that caller's turn, not one more call
    await ami.emit("QueueCallerJoin", Queue="agent-1001", Uniqueid="head", Position="1")
    await ami.emit("QueueMemberStatus", Queue="agent-1001", Interface=member("1001"), Status="6", Paused="0")
    assert queues.load("1001") == AgentLoad(False, 1, 180.0)


async def test_agents_who_cannot_be_reached_have_no_load() -> None:
    ami, queues, _ = await loaded()
    await ami.emit("QueueMemberPause", Queue="agent-1002", Interface=member("1002"), Status="1", Paused="1")
    assert queues.load("1002") is None
    await ami.emit("QueueMemberStatus", Queue="agent-1003", Interface=member("1003"), Status="5", Paused="0")
    assert queues.load("1003") is None


async def test_the_resync_takes_the_waiting_callers_from_queue_status() -> None:
    ami, queues, _ = await loaded(entries=[("agent-1002", "was-waiting"), ("service-support", "shared")])
    assert queues.load("1002") == AgentLoad(False, 1, 180.0)
    # events lost while the link was down: one caller left, another joined, one reservation is on its way
    await ami.emit("QueueCallerJoin", Queue="agent-1001", Uniqueid="left-meanwhile", Position="1")
    queues.take("1003", "on-the-way")
    ami.entries = [("agent-1001-vip", "joined-meanwhile")]
    await queues.resync()
    assert queues.load("1001") == AgentLoad(False, 1, 180.0)  # the one QueueStatus lists, not the one it does not
    assert queues.load("1002") == AgentLoad(True, 0, 0.0)
    assert queues.load("1003") == AgentLoad(False, 1, 180.0)  # not in Queue() yet: kept


async def test_handle_times_start_from_the_stored_talk_times() -> None:
    async def talk_times(ids: Sequence[str]) -> dict[str, list[float]]:
        return {"1001": [100.0, 200.0], "1002": []}

    queues = sync(FakeAMI(), {}, talk_times)
    await queues.load_duty()
    assert queues.callers.handle("1001") == 150.0
    assert queues.callers.handle("1002") == 180.0  # no calls yet: the configured handle time


async def test_a_caller_who_joined_after_queue_status_was_asked_for_is_kept() -> None:
    ami, queues, clock = await loaded()
    queues.callers.resynced({}, as_of=clock.now)
    await ami.emit("QueueCallerJoin", Queue="agent-1001", Uniqueid="just-now", Position="1")
    # a resync whose QueueStatus was asked for before that join (a presence change's, running beside the events)
    queues.callers.resynced({}, as_of=clock.now - 1)
    assert queues.load("1001") == AgentLoad(False, 1, 180.0)
    queues.callers.resynced({}, as_of=clock.now + 1)
    assert queues.load("1001") == AgentLoad(True, 0, 0.0)


# --- several workers: one corrects, every one follows ----------------------------------------------------------


def worker_sync(ami: FakeAMI, stored: dict[str, Duty], *, corrects: bool) -> QueueSync:
    async def penalties(ids: Sequence[str]) -> dict[str, int]:
        return dict.fromkeys(ids, 2)

    async def duties(ids: Sequence[str]) -> dict[str, Duty]:
        return {i: stored[i] for i in ids if i in stored}

    return QueueSync(
        cast(AMILink, ami),
        AGENTS,
        penalties,
        duties,
        talk_times=no_talk_times,
        handle_seconds=180,
        corrects=corrects,
        duty_elsewhere=True,
    )


async def test_a_worker_that_does_not_correct_only_reads_queue_status_into_its_map() -> None:
    # 1001 in Asterisk with the wrong penalty, 1002 logged in but missing, 1003 logged out but still a member
    ami = FakeAMI([(q, "1001", False) for q in all_queues("1001")] + [(q, "1003", False) for q in all_queues("1003")])
    stored = {"1003": Duty(False)}
    follower = worker_sync(ami, stored, corrects=False)
    await follower.resync()
    assert [a["Action"] for a in ami.sent] == []  # not one QueueAdd/QueuePenalty/QueueRemove/Setvar
    assert follower.presence.offerable("1001")
    assert not follower.presence.reachable("1002")  # not a member (yet): worker 0 adds them
    leader = worker_sync(ami, stored, corrects=True)
    await leader.resync()
    # and the custom device states of the members it added (a fresh Asterisk knows none)
    assert {a["Action"] for a in ami.sent} == {"QueueAdd", "QueuePenalty", "QueueRemove", "Setvar"}


async def test_a_correction_another_process_made_first_does_not_stop_the_resync() -> None:
    ami = FakeAMI()
    ami.refuse = {("QueueAdd", "agent-1001")}  # "Already there": added a moment ago by another process
    queues = worker_sync(ami, {}, corrects=True)
    await queues.resync()
    assert len(ami.actions("QueueAdd")) == 3 * len(all_queues("1001"))  # every add was tried, none given up
    assert queues.presence.synced


async def test_a_presence_change_made_by_another_worker_reaches_this_one_through_the_events() -> None:
    stored = {a.id: Duty(False) for a in AGENTS}  # everyone logged out when this worker started
    ami = FakeAMI()
    queues = worker_sync(ami, stored, corrects=False)
    await queues.load_duty()
    await queues.resync()
    assert not queues.presence.offerable("1001")
    # another worker's agent menu: the store first, then QueueAdd; here only Asterisk's events arrive
    stored["1001"] = Duty(True)
    for queue in all_queues("1001"):
        await ami.emit("QueueMemberAdded", Queue=queue, Interface=member("1001"), Status="1", Paused="0", Penalty="0")
    assert queues.presence.offerable("1001")
    stored["1001"] = Duty(True, True, "lunch")
    await ami.emit("QueueMemberPause", Queue="agent-1001", Interface=member("1001"), Status="1", Paused="1")
    assert not queues.presence.offerable("1001")
    assert queues.presence.duty["1001"].paused
    stored["1001"] = Duty(False)
    await ami.emit("QueueMemberRemoved", Queue="agent-1001", Interface=member("1001"))
    assert not queues.presence.reachable("1001")
    assert not queues.presence.duty["1001"].logged_in


class Watch:
    """What the kept ranking hears: each agent's load as the queue sync last said it."""

    def __init__(self) -> None:
        self.loads: dict[str, AgentLoad | None] = {}

    def load_changed(self, agent_id: str, load: AgentLoad | None) -> None:
        self.loads[agent_id] = load


async def test_every_change_of_an_agents_load_is_told_to_the_watcher_as_the_load_now_says_it() -> None:
    ami, queues, clock = await loaded()
    watch = Watch()
    queues.watch = watch
    await queues.resync()
    assert watch.loads == {a.id: AgentLoad(True, 0, 0.0) for a in AGENTS}

    def told() -> dict[str, AgentLoad | None]:
        # what the watcher holds must be what load() says, after every change
        assert watch.loads == {a.id: queues.load(a.id) for a in AGENTS}
        return dict(watch.loads)

    queues.take("1001", "caller-1")
    assert told()["1001"] == AgentLoad(False, 1, 180.0)
    # Asterisk moves the caller to Bob's queue (they chose again): both agents move
    await ami.emit("QueueCallerJoin", Queue="agent-1002", Uniqueid="caller-1", Position="1")
    assert told()["1001"] == AgentLoad(True, 0, 0.0)
    await ami.emit("QueueCallerLeave", Queue="agent-1002", Uniqueid="caller-1")
    await ami.emit("QueueMemberStatus", Queue="agent-1003", Interface=member("1003"), Status="2", Paused="0")
    busy = told()["1003"]
    assert busy is not None
    assert not busy.free
    await ami.emit("QueueMemberRemoved", Queue="agent-1003", Interface=member("1003"))
    assert told()["1003"] is None
    # a reservation nobody confirmed: the next offer's refresh frees the agent again
    queues.take("1002", "caller-2")
    clock.now += 60
    queues.refresh()
    assert told()["1002"] == AgentLoad(True, 0, 0.0)
    # one that lapsed while an offer read the load: filed again by the next refresh all the same
    queues.take("1002", "caller-3")
    told()
    clock.now += 60
    assert queues.load("1002") == AgentLoad(True, 0, 0.0)
    assert watch.loads["1002"] != AgentLoad(True, 0, 0.0)
    queues.refresh()
    assert told()["1002"] == AgentLoad(True, 0, 0.0)
    await queues.apply("1001", Duty(logged_in=False))
    assert told()["1001"] is None


async def test_a_pause_a_worker_could_not_push_while_its_link_was_down_is_pushed_by_its_next_resync() -> None:
    """Only worker 0 corrects at a resync; a worker that did not push a change itself must, or nobody would (worker
    0's link may never have dropped, so it never resyncs)."""
    ami = FakeAMI([(q, "1001", False) for q in all_queues("1001")])
    stored: dict[str, Duty] = {"1001": Duty(True)}
    follower = worker_sync(ami, stored, corrects=False)
    await follower.resync()
    assert ami.actions("QueuePause") == []
    ami.connected = False
    stored["1001"] = Duty(True, True, "lunch")  # the agent menu stored it first
    await follower.apply("1001", stored["1001"])
    assert ami.actions("QueuePause") == []
    ami.connected = True
    await follower.resync()  # the reconnect's
    paused = {queue for queue, _, how, reason in ami.actions("QueuePause") if how == "true" and reason == "lunch"}
    assert paused == set(all_queues("1001"))
    ami.sent.clear()
    await follower.resync()  # pushed once: the next resync only reads again
    assert [a["Action"] for a in ami.sent] == []
