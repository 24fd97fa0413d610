from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from callcenter.store.errors import StoreBusyError, UnknownReferenceError
from callcenter.store.models import Call, Client
from callcenter.store.sql.store import SqlStore
from callcenter.store.sqlite import SqliteStore
from tests.unit.store.helpers import T0, answered_call, at


async def test_client_for_number_normalises_and_reuses_the_client(store: SqlStore) -> None:
    first = await store.client_for_number("+1 (555) 000-1234", now=T0)
    assert first is not None
    assert first.number == "+15550001234"
    again = await store.client_for_number("+1.555.000.1234", now=at(60))
    assert again == first
    other = await store.client_for_number("15550001234", now=T0)
    assert other is not None
    assert other.id != first.id  # no leading + is a different dial string; never guessed to be the same
    assert await store.get_client(first.id) == first
    assert await store.get_client(9999) is None


@pytest.mark.parametrize("raw", [None, "", "anonymous", "Restricted", "sip:bob@example.com", "12"])
async def test_anonymous_callers_get_no_client(store: SqlStore, raw: str | None) -> None:
    assert await store.client_for_number(raw, now=T0) is None
    assert await store.list_calls() == []


async def test_call_lifecycle_records_hold_and_talk_seconds(store: SqlStore) -> None:
    client = await store.client_for_number("+15550001", now=T0)
    assert client is not None
    started = await store.start_call("u1", "u1", client.id, "support", T0)
    assert started == Call(
        id=started.id,
        uniqueid="u1",
        linkedid="u1",
        client_id=client.id,
        agent_id=None,
        service_id="support",
        queue=None,
        started_at=T0,
        joined_at=None,
        answered_at=None,
        ended_at=None,
        hold_seconds=None,
        talk_seconds=None,
        outcome=None,
    )
    queued = await store.call_queued("u1", "service-support", at(5))
    assert queued is not None
    assert (queued.queue, queued.joined_at) == ("service-support", at(5))
    # Moved on to another queue: the queue changes, the wait keeps counting from the first join.
    requeued = await store.call_queued("u1", "agent-1001", at(20))
    assert requeued is not None
    assert (requeued.queue, requeued.joined_at) == ("agent-1001", at(5))
    answered = await store.call_answered("u1", "1001", at(35))
    assert answered is not None
    assert (answered.agent_id, answered.answered_at) == ("1001", at(35))
    ended = await store.call_ended("u1", "answered", at(155.4))
    assert ended is not None
    assert (ended.ended_at, ended.outcome) == (at(155.4), "answered")
    assert (ended.hold_seconds, ended.talk_seconds) == (30, 120)
    assert await store.get_call("u1") == ended


async def test_events_after_the_end_change_nothing(store: SqlStore) -> None:
    await answered_call(store, "u1")
    ended = await store.call_ended("u1", "answered", at(100))
    assert await store.call_ended("u1", "failed", at(500)) == ended
    assert await store.call_queued("u1", "elsewhere", at(501)) == ended
    assert await store.call_answered("u1", "1002", at(502)) == ended


async def test_first_answer_wins(store: SqlStore) -> None:
    first = await answered_call(store, "u1", agent="1001")
    assert await store.call_answered("u1", "1002", at(50)) == first


async def test_abandoned_in_queue_has_hold_but_no_talk(store: SqlStore) -> None:
    await store.start_call("u1", "u1", None, "support", T0)
    await store.call_queued("u1", "service-support", at(3))
    ended = await store.call_ended("u1", "abandoned", at(48))
    assert ended is not None
    assert (ended.hold_seconds, ended.talk_seconds, ended.agent_id) == (45, None, None)


async def test_call_that_never_queued_has_no_hold(store: SqlStore) -> None:
    await store.start_call("u1", "u1", None, None, T0)
    ended = await store.call_ended("u1", "failed", at(7))
    assert ended is not None
    assert (ended.hold_seconds, ended.talk_seconds, ended.service_id) == (None, None, None)


async def test_start_call_is_idempotent_on_uniqueid(store: SqlStore) -> None:
    client = await store.client_for_number("+15550001", now=T0)
    assert client is not None
    first = await store.start_call("u1", "u1", client.id, "support", T0)
    again = await store.start_call("u1", "other", None, "sales", at(99))
    assert again == first
    assert [c.uniqueid for c in await store.list_calls()] == ["u1"]


async def test_unknown_calls_and_references(store: SqlStore) -> None:
    assert await store.call_queued("nope", "q", T0) is None
    assert await store.call_answered("nope", "1001", T0) is None
    assert await store.call_ended("nope", "failed", T0) is None
    assert await store.get_call("nope") is None
    with pytest.raises(UnknownReferenceError, match="unknown agent '9999'"):
        await store.call_answered("nope", "9999", T0)
    with pytest.raises(UnknownReferenceError, match="unknown client 42"):
        await store.start_call("u1", "u1", 42, None, T0)
    with pytest.raises(UnknownReferenceError, match="unknown service 'nope'"):
        await store.start_call("u1", "u1", None, "nope", T0)
    assert await store.list_calls() == []


async def test_bad_outcome_and_naive_time_are_rejected(store: SqlStore) -> None:
    await store.start_call("u1", "u1", None, None, T0)
    with pytest.raises(ValueError, match="outcome must be one of"):
        await store.call_ended("u1", "hung_up", at(5))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="naive"):
        await store.call_ended("u1", "failed", datetime(2025, 3, 1, 9, 1))
    call = await store.get_call("u1")
    assert call is not None
    assert call.ended_at is None


async def test_list_calls_filters_and_orders_newest_first(store: SqlStore) -> None:
    clients: list[Client] = []
    for number in ("+15550001", "+15550002"):
        client = await store.client_for_number(number, now=T0)
        assert client is not None
        clients.append(client)
    for i, (client, agent) in enumerate(
        [(clients[0], "1001"), (clients[1], "1001"), (clients[0], "1002"), (clients[1], None)]
    ):
        await store.start_call(f"u{i}", f"u{i}", client.id, "support", at(i * 10))
        if agent:
            await store.call_answered(f"u{i}", agent, at(i * 10 + 1))
    assert [c.uniqueid for c in await store.list_calls()] == ["u3", "u2", "u1", "u0"]
    assert [c.uniqueid for c in await store.list_calls(limit=2)] == ["u3", "u2"]
    assert [c.uniqueid for c in await store.list_calls(agent_id="1001")] == ["u1", "u0"]
    assert [c.uniqueid for c in await store.list_calls(client_id=clients[0].id)] == ["u2", "u0"]
    assert [c.uniqueid for c in await store.list_calls(agent_id="1001", client_id=clients[1].id)] == ["u1"]


async def test_a_known_caller_is_found_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    """Every call starts by finding its caller: for a known number that is a read, so it neither waits for another
    writer (a lock held for the busy timeout) nor takes the write lock itself; only a new number is written."""
    async with await SqliteStore.open(tmp_path / "cc.db", busy_timeout_ms=50) as store:
        known = await store.client_for_number("+15550001", now=T0)
        other = sqlite3.connect(tmp_path / "cc.db", isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            assert await store.client_for_number("+15550001", now=at(60)) == known
            with pytest.raises(StoreBusyError):
                await store.client_for_number("+15550002", now=at(60))
        finally:
            other.execute("ROLLBACK")
            other.close()
