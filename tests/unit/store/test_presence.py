from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from callcenter.store import PinOutcome
from callcenter.store.errors import UnknownReferenceError
from callcenter.store.sql.store import SqlStore
from tests.unit.store.helpers import T0, answered_call, at


async def test_an_agent_without_a_row_has_no_stored_presence(store: SqlStore) -> None:
    assert await store.get_presence(["1001", "1002"]) == {}


async def test_presence_is_stored_replaced_and_logged(store: SqlStore) -> None:
    await store.set_presence("1001", "available", None, actor="agent:1001", via="phone", now=at(1))
    paused = await store.set_presence("1001", "paused", "lunch", actor="agent:1001", via="phone", now=at(2))
    again = await store.set_presence("1001", "paused", "lunch", actor="agent:1001", via="phone", now=at(3))
    assert again == paused  # same state: since stays, nothing logged
    got = (await store.get_presence(["1001", "1002"]))["1001"]
    assert (got.state, got.reason, got.since) == ("paused", "lunch", at(2))
    async with store.sql.read() as conn:
        rows = await conn.fetch_all("SELECT state, reason, via FROM agent_presence_log ORDER BY id")
    assert [(r["state"], r["reason"], r["via"]) for r in rows] == [
        ("available", None, "phone"),
        ("paused", "lunch", "phone"),
    ]


async def test_presence_refuses_unknown_agents_and_inconsistent_reasons(store: SqlStore) -> None:
    with pytest.raises(UnknownReferenceError):
        await store.set_presence("9999", "available", None, actor="agent:9999", via="phone", now=T0)
    with pytest.raises(ValueError, match="reason"):
        await store.set_presence("1001", "paused", None, actor="agent:1001", via="phone", now=T0)
    with pytest.raises(ValueError, match="reason"):
        await store.set_presence("1001", "available", "lunch", actor="agent:1001", via="phone", now=T0)
    assert await store.get_presence(["1001"]) == {}


async def test_client_pin_set_read_and_reset(store: SqlStore) -> None:
    call = await answered_call(store, "u1")
    assert call.client_id is not None
    assert await store.client_pin(call.client_id) == (None, None)
    await store.set_client_pin(call.client_id, "hash", at(5))
    assert await store.client_pin(call.client_id) == ("hash", at(5))
    await store.set_client_pin(call.client_id, None, at(6))
    assert await store.client_pin(call.client_id) == (None, None)
    with pytest.raises(UnknownReferenceError):
        await store.client_pin(12345)


async def test_served_calls_are_the_answered_calls_of_that_party_newest_first(store: SqlStore) -> None:
    first = await answered_call(store, "u1", number="+15550001", agent="1001")
    await answered_call(store, "u2", number="+15550002", agent="1001")  # another caller
    # a later call of the same caller to another agent (started later: newest first)
    client = await store.client_for_number("+15550001", now=T0)
    assert client is not None
    await store.start_call("u3", "u3", client.id, "support", at(60))
    await store.call_answered("u3", "1002", at(70))
    await store.start_call("u4", "u4", client.id, "support", at(80))  # never answered: nothing to review
    served = await store.served_calls(client_id=first.client_id)
    assert [c.uniqueid for c in served] == ["u3", "u1"]
    assert [c.uniqueid for c in await store.served_calls(agent_id="1001")] == ["u2", "u1"]
    assert [c.uniqueid for c in await store.served_calls(agent_id="1001", limit=1)] == ["u2"]
    with pytest.raises(ValueError, match="exactly one"):
        await store.served_calls()


HOUR = timedelta(hours=1)


async def attempt(store: SqlStore, subject: str, right: bool, seconds: float, limit: int = 10) -> PinOutcome:
    now = at(seconds)
    return await store.record_pin_attempt(subject, right=right, now=now, since=now - HOUR, max_failures=limit)


async def test_wrong_pins_count_within_the_window_and_a_right_pin_clears_them(store: SqlStore) -> None:
    assert [await attempt(store, "agent:1001", False, s) for s in (0, 10, 20)] == ["wrong"] * 3
    assert await attempt(store, "client:7", False, 15) == "wrong"
    assert await store.pin_failures("agent:1001", at(5)) == 2
    assert await store.pin_failures("agent:1001", T0) == 3
    assert await attempt(store, "agent:1001", True, 30) == "ok"
    assert await store.pin_failures("agent:1001", T0) == 0
    assert await store.pin_failures("client:7", T0) == 1


async def test_at_the_limit_even_the_right_pin_is_refused_until_the_window_passes(store: SqlStore) -> None:
    for n in range(3):
        assert await attempt(store, "agent:1001", False, n, limit=3) == "wrong"
    assert await attempt(store, "agent:1001", True, 10, limit=3) == "locked"
    assert await attempt(store, "agent:1001", False, 11, limit=3) == "locked"
    assert await store.pin_failures("agent:1001", T0) == 3  # refused tries are not failures
    # an hour after the first failure it no longer counts
    assert await attempt(store, "agent:1001", True, 3600.5, limit=3) == "ok"


async def test_without_a_limit_nobody_is_locked_out(store: SqlStore) -> None:
    outcomes = {await attempt(store, "client:7", False, n, limit=0) for n in range(15)}
    assert outcomes == {"wrong"}
    assert await attempt(store, "client:7", True, 20, limit=0) == "ok"
    with pytest.raises(ValueError, match="max_failures"):
        await attempt(store, "client:7", True, 20, limit=-1)


async def test_failures_outside_the_window_are_dropped_by_the_next_one(store: SqlStore) -> None:
    await attempt(store, "agent:1002", False, 0)
    await attempt(store, "agent:1002", False, 7200)
    async with store.sql.read() as conn:
        assert await conn.fetch_value("SELECT COUNT(*) FROM pin_failures WHERE subject = 'agent:1002'") == 1


@pytest.mark.parametrize("subject", ["agent:1001", "client:7"])
async def test_concurrent_wrong_pins_never_exceed_the_limit(store: SqlStore, subject: str) -> None:
    """Twenty calls at once, one wrong PIN each, limit ten: exactly ten failures, the rest refused as locked."""

    async def one(n: int) -> PinOutcome:
        # the PIN check runs in a thread between reading the id and recording: let the calls interleave there
        await asyncio.to_thread(lambda: None)
        for _ in range(n % 3):
            await asyncio.sleep(0)
        return await attempt(store, subject, False, 0)

    outcomes = await asyncio.gather(*(one(n) for n in range(20)))
    assert sorted(outcomes) == ["locked"] * 10 + ["wrong"] * 10
    assert await store.pin_failures(subject, T0 - HOUR) == 10
