"""The write-behind journal with several workers sharing one store (callcenter/journal.py: Journals, PeerJournals,
take_over): one file per worker, a call's writes in order whichever worker made them, every entry replayed once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from callcenter.journal import Journals, PeerJournals, Recorder, load_journal, take_over
from callcenter.store.models import CLIENT_TO_AGENT
from callcenter.store.sqlite import SqliteStore
from tests.unit.store.helpers import T0
from tests.unit.test_journal import SCORES, FailingWrites, a_whole_call, store

__all__ = ["store"]  # the fixture, shared with the single-process journal tests


def test_each_worker_has_its_own_file_and_worker_0_keeps_the_single_process_one(tmp_path: Path) -> None:
    journals = Journals(tmp_path / "callcenter.pending.jsonl")
    assert journals.of(0) == tmp_path / "callcenter.pending.jsonl"
    assert journals.of(3) == tmp_path / "callcenter.pending.w3.jsonl"
    for index in (0, 1, 3):
        journals.of(index).write_text("")
    # not journals: what a journal sets aside, and its rewrite in progress
    (tmp_path / "callcenter.pending.w1.jsonl.rejected").write_text("x\n")
    (tmp_path / "callcenter.pending.w1.jsonl.tmp").write_text("x\n")
    assert list(journals.existing()) == [0, 1, 3]


def workers(store: SqliteStore, tmp_path: Path, count: int = 2) -> tuple[list[Recorder], list[FailingWrites]]:
    """``count`` workers' recorders on one store, each failing on its own switch."""
    journals = Journals(tmp_path / "cc.db.pending.jsonl")
    stores = [FailingWrites(store) for _ in range(count)]
    recorders = [
        Recorder(stores[i], journals.of(i), peers=PeerJournals(journals, i, count), retry=0.01) for i in range(count)
    ]
    return recorders, stores


async def test_a_call_journaled_by_one_worker_queues_its_later_writes_in_another(
    store: SqliteStore, tmp_path: Path
) -> None:
    """inbound ran in worker 0 while the store was full; connected and call-end run in worker 1, whose store works:
    their writes wait behind worker 0's, and the replay writes them in the order they happened."""
    (w0, w1), (s0, s1) = workers(store, tmp_path)
    s1.failing = False
    assert await w0.start_call("main-3.1", "main-3.1", "+15550031", T0) == (None, None)
    await w0.set_call_service("main-3.1", "support", T0 + timedelta(seconds=5))
    await w0.call_queued("main-3.1", "agent-1001", T0 + timedelta(seconds=10))
    assert w1.waiting("main-3.1")  # read from worker 0's file
    assert w1.waiting("main-3.1", "queued")
    assert not w1.waiting("main-3.1", "answered")
    assert await w1.call_answered("main-3.1", "1001", T0 + timedelta(seconds=20)) is None  # journaled, not written
    assert await w1.call_ended("main-3.1", "answered", T0 + timedelta(minutes=3)) is None
    assert await store.get_call("main-3.1") is None
    # the reaper (worker 0's) leaves the call alone: worker 1 holds its end
    assert w0.waiting("main-3.1", "ended")
    # worker 1 first: its entries are later than worker 0's, so it waits for them
    assert not await w1.flush()
    assert w1.count == 2
    s0.failing = False
    assert await w0.flush()
    assert await w1.flush()
    call = await store.get_call("main-3.1")
    assert call is not None
    assert (call.service_id, call.queue, call.agent_id, call.outcome) == ("support", "agent-1001", "1001", "answered")
    assert (call.hold_seconds, call.talk_seconds) == (10, 160)
    assert not w1.waiting("main-3.1")
    assert Journals(tmp_path / "cc.db.pending.jsonl").existing() == {}
    assert await store.check_invariants() == []


async def test_worker_0_takes_over_the_journals_of_workers_that_no_longer_exist(
    store: SqliteStore, tmp_path: Path
) -> None:
    """A run with 3 workers died with writes in every journal; the next runs with 2: worker 1 takes its own file,
    worker 0 its own and worker 2's, and every entry is stored once."""
    journals = Journals(tmp_path / "cc.db.pending.jsonl")
    old = [Recorder(FailingWrites(store), journals.of(i), peers=PeerJournals(journals, i, 3)) for i in range(3)]
    for i, recorder in enumerate(old):
        await a_whole_call_as(recorder, f"main-4.{i}")
    # the call of worker 2's journal started in worker 2; its rating was kept by worker 0 (another route)
    at = T0 + timedelta(minutes=4)
    await old[0].record_evaluation("main-4.2", CLIENT_TO_AGENT, SCORES, "client:+15550042", at)
    assert list(journals.existing()) == [0, 1, 2]
    mine = take_over(journals, 1, 2)
    assert {e.call for e in mine} == {"main-4.1"}
    taken = take_over(journals, 0, 2)
    assert {e.call for e in taken} == {"main-4.0", "main-4.2"}
    assert list(journals.existing()) == [0, 1]  # worker 2's file is gone, its entries in worker 0's
    assert load_journal(journals.of(0)) == taken
    assert [e.when() for e in taken] == sorted(e.when() for e in taken)
    new = [
        Recorder(store, journals.of(i), pending=p, peers=PeerJournals(journals, i, 2))
        for i, p in enumerate((taken, mine))
    ]
    assert await new[1].flush()
    assert await new[0].flush()
    for n in range(3):
        call = await store.get_call(f"main-4.{n}")
        assert call is not None
        assert call.outcome == "answered"
        evaluation = await store.get_evaluation(f"main-4.{n}", CLIENT_TO_AGENT)
        assert evaluation is not None
        assert [e.action for e in await store.evaluation_history(evaluation.id)] == ["create"]
    assert len(await store.list_calls()) == 3
    assert journals.existing() == {}
    assert await store.check_invariants() == []


async def a_whole_call_as(recorder: Recorder, uniqueid: str) -> None:
    number = f"+155500{uniqueid[-3:].replace('.', '')}"
    await recorder.start_call(uniqueid, uniqueid, number, T0)
    await recorder.set_call_service(uniqueid, "support", T0 + timedelta(seconds=5))
    await recorder.call_queued(uniqueid, "agent-1001", T0 + timedelta(seconds=10))
    await recorder.call_answered(uniqueid, "1001", T0 + timedelta(seconds=20))
    await recorder.call_ended(uniqueid, "answered", T0 + timedelta(minutes=3))
    if uniqueid.endswith(".2"):
        return  # this one's rating is kept by another worker
    await recorder.record_evaluation(uniqueid, CLIENT_TO_AGENT, SCORES, f"client:{number}", T0 + timedelta(minutes=4))


async def test_one_worker_alone_takes_over_every_journal_a_run_of_several_left(
    store: SqliteStore, tmp_path: Path
) -> None:
    journals = Journals(tmp_path / "cc.db.pending.jsonl")
    await a_whole_call(Recorder(FailingWrites(store), journals.of(1)))
    taken = take_over(journals, 0, 1)
    assert len(taken) == 6
    recorder = Recorder(store, journals.of(0), pending=taken)
    assert await recorder.flush()
    call = await store.get_call("main-1.1")
    assert call is not None
    assert call.outcome == "answered"
    assert journals.existing() == {}


async def test_a_call_waiting_for_another_worker_holds_back_only_its_own_writes(
    store: SqliteStore, tmp_path: Path
) -> None:
    """Worker 0 holds the start of call A while its store fails (or it cannot restart); worker 1 journaled A's
    answer and, separately, the whole of call B: B is written, A's answer waits for A's start."""
    (w0, w1), (_, s1) = workers(store, tmp_path)
    assert await w0.start_call("main-4.1", "main-4.1", "+15550041", T0) == (None, None)
    assert await w1.call_answered("main-4.1", "1001", T0 + timedelta(seconds=20)) is None  # behind worker 0's
    assert await w1.start_call("main-4.2", "main-4.2", "+15550042", T0 + timedelta(seconds=30)) == (None, None)
    s1.failing = False
    assert not await w1.flush()
    assert await store.get_call("main-4.2") is not None  # B: not held back by A
    assert await store.get_call("main-4.1") is None
    assert w1.count == 1  # A's answer still waits, in order
    assert w1.waiting("main-4.1", "answered")
