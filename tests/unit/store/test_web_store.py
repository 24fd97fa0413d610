"""The web console's store, on both backends: operators, sessions (by digest, bounded, expiring), one-time codes
(used once, expiring), and the wallboard's counts of the day."""

from __future__ import annotations

from datetime import timedelta

from callcenter.store.sql.store import SqlStore
from tests.unit.store.helpers import T0, answered_call, at


async def test_an_operator_is_created_once_and_a_new_password_ends_their_sessions(store: SqlStore) -> None:
    assert await store.add_operator("sue", "hash-1", T0) is True
    await store.open_session("t1", "operator:sue", "c1", T0, T0 + timedelta(hours=1), keep=5)
    assert await store.add_operator("sue", "hash-2", at(1)) is False
    sue = await store.get_operator("sue")
    assert sue is not None
    assert (sue.password_hash, sue.active, sue.created_at) == ("hash-2", True, T0)
    assert await store.get_session("t1", at(2)) is None
    assert await store.disable_operator("sue") is True
    assert await store.disable_operator("nobody") is False
    disabled = await store.get_operator("sue")
    assert disabled is not None
    assert not disabled.active
    assert [o.name for o in await store.list_operators()] == ["sue"]


async def test_sessions_expire_and_a_subject_keeps_only_its_newest(store: SqlStore) -> None:
    end = T0 + timedelta(hours=1)
    for n in range(4):
        await store.open_session(f"t{n}", "agent:1001", f"c{n}", at(n), end, keep=3)
    live = [n for n in range(4) if await store.get_session(f"t{n}", at(10)) is not None]
    assert live == [1, 2, 3]
    found = await store.get_session("t3", at(10))
    assert found is not None
    assert (found.subject, found.csrf, found.expires_at) == ("agent:1001", "c3", end)
    assert await store.get_session("t3", end) is None  # expired at its end
    await store.close_session("t3")
    assert await store.get_session("t3", at(10)) is None
    # an expired row goes with the next sign-in of anyone
    await store.open_session("u1", "client:7", "c", end + timedelta(seconds=1), end + timedelta(hours=1), keep=3)
    rows = await store.sql.query("SELECT token_hash FROM web_sessions ORDER BY token_hash")
    assert [r["token_hash"] for r in rows] == ["u1"]


async def test_a_code_is_taken_once_before_it_expires_and_a_new_one_replaces_it(store: SqlStore) -> None:
    expires = T0 + timedelta(minutes=10)
    await store.set_web_code("client:1", "d1", expires)
    assert await store.take_web_code("client:2", "d1", T0) is False
    assert await store.take_web_code("client:1", "d1", T0) is True
    assert await store.take_web_code("client:1", "d1", T0) is False
    await store.set_web_code("client:1", "d2", expires)
    await store.set_web_code("client:1", "d3", expires)
    assert await store.take_web_code("client:1", "d2", T0) is False
    assert await store.take_web_code("client:1", "d3", expires) is False  # expired at its end
    await store.set_web_code("client:1", "d4", expires)
    assert await store.take_web_code("client:1", "d4", expires - timedelta(seconds=1)) is True


async def test_the_days_counts_per_queue_service_agent_and_outcome(store: SqlStore) -> None:
    await answered_call(store, "c1", number="+15550001", agent="1001")  # 10 s in service-support
    await store.call_ended("c1", "answered", at(60))
    await store.start_call("c2", "c2", None, "support", at(1))
    await store.call_queued("c2", "service-support", at(2))
    await store.call_ended("c2", "abandoned", at(40))
    await store.start_call("c3", "c3", None, "sales", at(3))  # still going, never queued
    await store.record_screening("c1", "1001", "accept", at(11))
    await store.record_screening("c2", "1002", "decline", at(5))
    days = await store.queue_days(T0, within_seconds=20)
    assert (days["service-support"].calls, days["service-support"].answered) == (2, 1)
    assert (days["service-support"].within, days["service-support"].abandoned) == (1, 1)
    assert days["service-support"].service_level == 0.5
    assert days["service:sales"].calls == 1
    assert "service-sales" not in days
    assert (await store.queue_days(T0, within_seconds=5))["service-support"].within == 0
    assert await store.queue_days(at(100), within_seconds=20) == {}
    agents = await store.agent_days(T0)
    assert agents == {"1001": {"answered": 1, "accept": 1}, "1002": {"decline": 1}}
    assert await store.call_outcomes(T0) == {"answered": 1, "abandoned": 1, "open": 1}


async def test_the_newest_changes_of_the_whole_trail_come_without_a_sort_of_it(store: SqlStore) -> None:
    scores = {"attitude": 4, "knowledge": 4, "availability": 4}
    for n in range(5):
        await answered_call(store, f"c{n}", number=f"+1555000{n}", agent="1001")
        await store.record_evaluation(f"c{n}", "client_to_agent", scores, f"client:{n}", at(100 + n))
    newest = await store.evaluation_changes(limit=2)
    assert [c.call_uniqueid for c in newest] == ["c4", "c3"]
    assert [c.call_uniqueid for c in await store.evaluation_changes(agent_id="1001", limit=2)] == ["c4", "c3"]
    assert len(await store.evaluation_changes()) == 5
