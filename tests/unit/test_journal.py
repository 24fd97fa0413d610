"""The write-behind journal (callcenter/journal.py) over a real store that fails as a full or unwritable disk would:
every write of a call and its rating is kept in order, survives a restart of the service, and lands once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from callcenter.journal import Recorder
from callcenter.store import StoreUnavailableError
from callcenter.store.models import CLIENT_TO_AGENT
from callcenter.store.sqlite import SqliteStore
from tests.unit.store.helpers import T0, seed

SCORES = {"attitude": 4, "knowledge": 5}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """The store tests' roster, services and categories."""
    async with await SqliteStore.open(tmp_path / "cc.db") as opened:
        await seed(opened)
        yield opened


class FailingWrites:
    """The store, except that every write fails as on a full disk while ``failing`` (reads still work)."""

    WRITES = frozenset(
        {"client_for_number", "start_call", "set_call_service", "call_queued", "call_answered", "call_ended"}
        | {"record_evaluation", "delete_evaluation"}
    )

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.failing = True

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)
        if name not in self.WRITES:
            return method

        async def write(*args: Any, **kwargs: Any) -> Any:
            if self.failing:
                raise StoreUnavailableError("database or disk is full")
            return await method(*args, **kwargs)

        return write


async def a_whole_call(recorder: Recorder) -> None:
    client, call = await recorder.start_call("main-1.1", "main-1.1", "+15550001", T0)
    assert (client, call) == (None, None)  # served as a stranger for now
    await recorder.set_call_service("main-1.1", "support", T0 + timedelta(seconds=5))
    await recorder.call_queued("main-1.1", "agent-1001", T0 + timedelta(seconds=10))
    assert await recorder.call_answered("main-1.1", "1001", T0 + timedelta(seconds=20)) is None
    assert await recorder.call_ended("main-1.1", "answered", T0 + timedelta(minutes=3)) is None
    stored = await recorder.record_evaluation(
        "main-1.1", CLIENT_TO_AGENT, SCORES, "client:+15550001", T0 + timedelta(minutes=4)
    )
    assert stored is None  # kept, not stored


async def test_every_write_of_a_call_lands_in_order_once_the_store_takes_writes_again(
    store: SqliteStore, tmp_path: Path
) -> None:
    failing = FailingWrites(store)
    recorder = Recorder(failing, tmp_path / "cc.db.pending.jsonl")
    await a_whole_call(recorder)
    assert recorder.count == 6
    assert not await recorder.flush()  # still failing: nothing lost, nothing half-done
    assert recorder.count == 6
    failing.failing = False
    assert await recorder.flush()
    call = await store.get_call("main-1.1")
    assert call is not None
    assert (call.service_id, call.queue, call.agent_id, call.outcome) == ("support", "agent-1001", "1001", "answered")
    assert (call.hold_seconds, call.talk_seconds) == (10, 160)
    client = await store.get_client(call.client_id) if call.client_id else None
    assert client is not None
    assert client.number == "+15550001"
    evaluation = await store.get_evaluation("main-1.1", CLIENT_TO_AGENT)
    assert evaluation is not None
    assert dict(evaluation.scores) == SCORES
    assert not (tmp_path / "cc.db.pending.jsonl").exists()
    assert await store.check_invariants() == []


async def test_a_journal_left_by_a_service_that_died_is_written_by_the_next_one_exactly_once(
    store: SqliteStore, tmp_path: Path
) -> None:
    journal = tmp_path / "cc.db.pending.jsonl"
    await a_whole_call(Recorder(FailingWrites(store), journal))
    lines = journal.read_text()
    # the next service starts and replays it; then, as if it died before trimming, the same journal again
    for _ in range(2):
        journal.write_text(lines)
        recorder = Recorder(store, journal)
        recorder.load()
        assert recorder.count == 6
        assert await recorder.flush()
    evaluation = await store.get_evaluation("main-1.1", CLIENT_TO_AGENT)
    assert evaluation is not None
    assert [e.action for e in await store.evaluation_history(evaluation.id)] == ["create"]
    assert len(await store.list_calls()) == 1
    assert await store.check_invariants() == []


@pytest.mark.parametrize("kind", ["answered", "ended"])
async def test_a_later_write_of_a_journaled_call_waits_behind_it(store: SqliteStore, tmp_path: Path, kind: str) -> None:
    """The store is back before the call's next write: that write must not go first (it would find no row)."""
    failing = FailingWrites(store)
    recorder = Recorder(failing, None)
    await recorder.start_call("main-1.2", "main-1.2", "+15550002", T0)
    failing.failing = False
    if kind == "answered":
        assert await recorder.call_answered("main-1.2", "1001", T0 + timedelta(seconds=9)) is None
    else:
        assert await recorder.call_ended("main-1.2", "abandoned", T0 + timedelta(seconds=9)) is None
    assert recorder.count == 2
    assert await recorder.flush()
    call = await store.get_call("main-1.2")
    assert call is not None
    assert (call.agent_id if kind == "answered" else call.outcome) == ("1001" if kind == "answered" else "abandoned")


async def test_a_really_full_database_is_journaled_and_written_once_there_is_room(
    store: SqliteStore, tmp_path: Path
) -> None:
    """Not a fake: SQLite itself says "database or disk is full" (max_page_count at the pages in use)."""
    writer = store.db.inline  # the connection the store writes on (a per-connection setting)
    assert writer is not None
    pages = int(writer.execute("PRAGMA page_count").fetchone()[0])
    writer.execute(f"PRAGMA max_page_count = {pages}")
    recorder = Recorder(store, tmp_path / "cc.db.pending.jsonl")
    for n in range(500):  # enough rows to need new pages
        await recorder.start_call(f"main-9.{n}", f"main-9.{n}", f"+1555009{n:04d}", T0)
        if recorder.count:
            break
    assert recorder.count == 1
    writer.execute(f"PRAGMA max_page_count = {pages * 100}")
    assert await recorder.flush()
    assert len(await store.list_calls(limit=1000)) == n + 1
    assert await store.check_invariants() == []


async def test_a_write_that_can_never_be_made_is_set_aside_and_does_not_block_the_others(
    store: SqliteStore, tmp_path: Path
) -> None:
    failing = FailingWrites(store)
    journal = tmp_path / "cc.db.pending.jsonl"
    recorder = Recorder(failing, journal)
    await recorder.start_call("main-2.1", "main-2.1", "+15550021", T0)
    await recorder.call_answered("main-2.1", "9999", T0 + timedelta(seconds=5))  # an agent the roster never had
    await recorder.start_call("main-2.2", "main-2.2", "+15550022", T0)
    failing.failing = False
    assert await recorder.flush()
    assert await store.get_call("main-2.1") is not None
    assert await store.get_call("main-2.2") is not None
    rejected = journal.with_name(journal.name + ".rejected").read_text()
    assert '"agent": "9999"' in rejected


async def test_a_rater_deleting_a_journaled_rating_does_not_see_it_come_back(
    store: SqliteStore, tmp_path: Path
) -> None:
    failing = FailingWrites(store)
    recorder = Recorder(failing, tmp_path / "cc.db.pending.jsonl")
    await a_whole_call(recorder)
    at = T0 + timedelta(minutes=5)
    assert await recorder.delete_evaluation("main-1.1", CLIENT_TO_AGENT, "client:+15550001", "by phone", at) is None
    assert recorder.waiting("main-1.1", "unrate")
    failing.failing = False
    assert await recorder.flush()
    evaluation = await store.get_evaluation("main-1.1", CLIENT_TO_AGENT)
    assert evaluation is not None
    assert evaluation.deleted_at is not None
    assert await store.check_invariants() == []


async def test_a_replayed_rating_and_a_replayed_deletion_each_move_the_agents_penalty(
    store: SqliteStore, tmp_path: Path
) -> None:
    """What the store took late moves the agent's penalty like any other write: the rating, and its deletion."""
    told: list[tuple[str, str]] = []

    async def on_stored(evaluation: Any) -> None:
        told.append((evaluation.agent_id, "deleted" if evaluation.deleted_at else "rated"))

    failing = FailingWrites(store)
    recorder = Recorder(failing, tmp_path / "cc.db.pending.jsonl", on_stored=on_stored)
    await a_whole_call(recorder)
    at = T0 + timedelta(minutes=5)
    assert await recorder.delete_evaluation("main-1.1", CLIENT_TO_AGENT, "client:+15550001", "by phone", at) is None
    failing.failing = False
    assert await recorder.flush()
    assert told == [("1001", "rated"), ("1001", "deleted")]
