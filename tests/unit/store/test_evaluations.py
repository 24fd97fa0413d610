from __future__ import annotations

import pytest

from callcenter.store.errors import EvaluationRefused, RefusalReason
from callcenter.store.models import (
    AGENT_TO_CLIENT,
    CLIENT_TO_AGENT,
    AuditEntry,
    Call,
    CategoryDef,
    CategoryStat,
    Evaluation,
    EvaluationChange,
    RatingSummary,
)
from callcenter.store.sql.connection import Database
from callcenter.store.sql.store import SqlStore
from callcenter.store.sqlite.conn import SqliteDatabase
from tests.unit.store.helpers import CATEGORIES, T0, Recording, answered_call, at, summary


def trail(entries: list[AuditEntry]) -> list[tuple[str, str, object, object, str | None]]:
    return [
        (
            e.action,
            e.actor,
            None if e.old_scores is None else dict(e.old_scores),
            None if e.new_scores is None else dict(e.new_scores),
            e.reason,
        )
        for e in entries
    ]


async def test_create_update_delete_revive_with_audit_and_totals(store: SqlStore) -> None:
    call = await answered_call(store, "u1", agent="1002")
    await answered_call(store, "u2", agent="1002", number="+15550002")
    other = await store.record_evaluation("u2", "client_to_agent", {"attitude": 2}, "ivr", T0)

    created = await store.record_evaluation("u1", "client_to_agent", {"attitude": 5, "knowledge": 3}, "ivr", at(100))
    assert (created.call_id, created.call_uniqueid, created.direction) == (call.id, "u1", "client_to_agent")
    assert (created.agent_id, created.client_id, created.subject) == ("1002", call.client_id, "1002")
    assert created.scores == {"attitude": 5, "knowledge": 3}
    assert (created.created_at, created.updated_at, created.deleted_at) == (at(100), at(100), None)
    assert await store.agent_summary("1002") == summary({"attitude": 5, "knowledge": 3}, {"attitude": 2})

    updated = await store.record_evaluation("u1", "client_to_agent", {"availability": 4}, "ivr", at(200))
    assert updated.id == created.id
    assert updated.scores == {"availability": 4}  # replaced, not merged
    assert (updated.created_at, updated.updated_at) == (at(100), at(200))
    assert await store.agent_summary("1002") == summary({"availability": 4}, {"attitude": 2})

    # The same scores again: nothing changes, nothing is audited.
    same = await store.record_evaluation("u1", "client_to_agent", {"availability": 4}, "other", at(250))
    assert same == updated

    deleted = await store.delete_evaluation("u1", "client_to_agent", "supervisor", "abusive caller", at(300))
    assert deleted is not None
    assert deleted.deleted
    assert deleted.deleted_at == at(300)
    assert deleted.scores == {"availability": 4}  # still readable after deletion
    assert await store.get_evaluation("u1", "client_to_agent") == deleted
    assert await store.agent_summary("1002") == summary({"attitude": 2})
    assert await store.delete_evaluation("u1", "client_to_agent", "supervisor", "again", at(350)) == deleted

    revived = await store.record_evaluation("u1", "client_to_agent", {"knowledge": 1}, "ivr", at(400))
    assert revived.id == created.id
    assert (revived.deleted_at, revived.updated_at, revived.scores) == (None, at(400), {"knowledge": 1})
    assert await store.agent_summary("1002") == summary({"knowledge": 1}, {"attitude": 2})

    history = await store.evaluation_history(created.id)
    assert trail(history) == [
        ("create", "ivr", None, {"attitude": 5, "knowledge": 3}, None),
        ("update", "ivr", {"attitude": 5, "knowledge": 3}, {"availability": 4}, None),
        ("delete", "supervisor", {"availability": 4}, None, "abusive caller"),
        ("revive", "ivr", None, {"knowledge": 1}, None),
    ]
    assert [e.at for e in history] == [at(100), at(200), at(300), at(400)]
    assert {e.evaluation_id for e in history} == {created.id}
    assert len(await store.evaluation_history(other.id)) == 1
    assert await store.check_invariants() == []


async def test_both_directions_are_independent(store: SqlStore) -> None:
    call = await answered_call(store, "u1", agent="1001")
    assert call.client_id is not None
    by_caller = await store.record_evaluation("u1", "client_to_agent", {"attitude": 4}, "ivr", T0)
    by_agent = await store.record_evaluation("u1", "agent_to_client", {"attitude": 1}, "1001", T0)
    assert by_caller.id != by_agent.id
    assert by_agent.subject == call.client_id
    assert await store.agent_summary("1001") == summary({"attitude": 4})
    assert await store.client_summary(call.client_id) == summary({"attitude": 1})
    assert await store.get_evaluation("u1", "agent_to_client") == by_agent
    assert await store.check_invariants() == []


async def test_empty_summaries(store: SqlStore) -> None:
    empty = RatingSummary(count=0, score_count=0, score_total=0, per_category={}, overall_mean=None)
    assert await store.agent_summary("1003") == empty
    assert await store.agent_summary("no-such-agent") == empty
    assert await store.client_summary(12345) == empty


@pytest.mark.parametrize(
    ("uniqueid", "scores", "reason"),
    [
        ("nope", {"attitude": 3}, RefusalReason.UNKNOWN_CALL),
        ("unanswered", {"attitude": 3}, RefusalReason.NOT_ANSWERED),
        ("anonymous", {"attitude": 3}, RefusalReason.ANONYMOUS),
        ("ok", {"attitude": 0}, RefusalReason.BAD_SCORE),
        ("ok", {"attitude": 6}, RefusalReason.BAD_SCORE),
        ("ok", {"attitude": 3, "knowledge": True}, RefusalReason.BAD_SCORE),
        ("ok", {"attitude": 3.0}, RefusalReason.BAD_SCORE),
        ("ok", {}, RefusalReason.BAD_SCORE),
        ("ok", {"attitude": 3, "charm": 4}, RefusalReason.UNKNOWN_CATEGORY),
        ("ok", {"*": 4}, RefusalReason.UNKNOWN_CATEGORY),
    ],
)
async def test_refusals_store_nothing(
    store: SqlStore, uniqueid: str, scores: dict[str, int], reason: RefusalReason
) -> None:
    await answered_call(store, "ok")
    await answered_call(store, "anonymous", number="withheld")
    await store.start_call("unanswered", "unanswered", None, "support", T0)
    await store.call_ended("unanswered", "abandoned", at(30))
    with pytest.raises(EvaluationRefused) as refused:
        await store.record_evaluation(uniqueid, "client_to_agent", scores, "ivr", T0)
    assert refused.value.reason is reason
    assert str(reason) in str(refused.value)
    assert await store.list_evaluations(include_deleted=True) == []
    assert await store.agent_summary("1001") == summary()
    assert await store.check_invariants() == []


async def test_a_known_client_on_an_unanswered_call_is_refused(store: SqlStore) -> None:
    client = await store.client_for_number("+15550001", now=T0)
    assert client is not None
    await store.start_call("u1", "u1", client.id, "support", T0)
    with pytest.raises(EvaluationRefused) as refused:
        await store.record_evaluation("u1", "agent_to_client", {"attitude": 3}, "1001", T0)
    assert refused.value.reason is RefusalReason.NOT_ANSWERED


async def test_a_retired_category_is_refused_but_its_history_still_counts(store: SqlStore) -> None:
    await answered_call(store, "u1")
    await answered_call(store, "u2")
    await store.record_evaluation("u1", "client_to_agent", {"availability": 2}, "ivr", T0)
    await store.sync_categories(CATEGORIES[:2])
    with pytest.raises(EvaluationRefused) as refused:
        await store.record_evaluation("u2", "client_to_agent", {"availability": 5}, "ivr", T0)
    assert refused.value.reason is RefusalReason.UNKNOWN_CATEGORY
    assert await store.agent_summary("1001") == summary({"availability": 2})
    await store.sync_categories([*CATEGORIES, CategoryDef("other", "other")])
    await store.record_evaluation("u2", "client_to_agent", {"other": 5}, "ivr", T0)
    assert await store.agent_summary("1001") == summary({"availability": 2}, {"other": 5})


async def test_actor_and_direction_are_checked(store: SqlStore) -> None:
    await answered_call(store, "u1")
    with pytest.raises(ValueError, match="actor"):
        await store.record_evaluation("u1", "client_to_agent", {"attitude": 3}, " ", T0)
    with pytest.raises(ValueError, match="direction"):
        await store.record_evaluation("u1", "sideways", {"attitude": 3}, "ivr", T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="actor"):
        await store.delete_evaluation("u1", "client_to_agent", "", "why", T0)
    assert await store.list_evaluations(include_deleted=True) == []


async def test_delete_of_a_missing_evaluation_returns_none(store: SqlStore) -> None:
    await answered_call(store, "u1")
    assert await store.delete_evaluation("u1", "client_to_agent", "admin", "why", T0) is None
    assert await store.delete_evaluation("nope", "client_to_agent", "admin", "why", T0) is None
    assert await store.get_evaluation("u1", "client_to_agent") is None


async def test_list_evaluations_filters(store: SqlStore) -> None:
    a = await answered_call(store, "a", agent="1001", number="+15550001")
    b = await answered_call(store, "b", agent="1002", number="+15550001")
    c = await answered_call(store, "c", agent="1002", number="+15550002")
    await store.record_evaluation("a", "client_to_agent", {"attitude": 5}, "ivr", at(1))
    await store.record_evaluation("b", "client_to_agent", {"attitude": 4}, "ivr", at(2))
    await store.record_evaluation("b", "agent_to_client", {"attitude": 3}, "1002", at(3))
    await store.record_evaluation("c", "client_to_agent", {"knowledge": 2}, "ivr", at(4))
    await store.delete_evaluation("c", "client_to_agent", "admin", "test call", at(5))

    def keys(evaluations: list[Evaluation]) -> list[tuple[str, str]]:
        return [(e.call_uniqueid, e.direction) for e in evaluations]

    assert keys(await store.list_evaluations()) == [
        ("b", "agent_to_client"),
        ("b", "client_to_agent"),
        ("a", "client_to_agent"),
    ]
    assert len(await store.list_evaluations(include_deleted=True)) == 4
    assert keys(await store.list_evaluations(agent_id="1002", direction="client_to_agent")) == [
        ("b", "client_to_agent")
    ]
    assert keys(await store.list_evaluations(client_id=a.client_id, direction="agent_to_client")) == [
        ("b", "agent_to_client")
    ]
    assert keys(await store.list_evaluations(client_id=c.client_id, include_deleted=True)) == [("c", "client_to_agent")]
    assert keys(await store.list_evaluations(limit=1)) == [("b", "agent_to_client")]
    listed = await store.list_evaluations(agent_id="1001")
    assert listed[0].scores == {"attitude": 5}
    assert b.client_id == a.client_id


async def test_agent_summaries_in_one_query(store: SqlStore, db: Database) -> None:
    await answered_call(store, "a", agent="1001")
    await answered_call(store, "b", agent="1002")
    await answered_call(store, "c", agent="1002", number="+15550002")
    await store.record_evaluation("a", "client_to_agent", {"attitude": 5}, "ivr", T0)
    await store.record_evaluation("b", "client_to_agent", {"attitude": 4, "knowledge": 2}, "ivr", T0)
    await store.record_evaluation("c", "client_to_agent", {"knowledge": 3}, "ivr", T0)
    statements: list[str] = []
    if isinstance(db, SqliteDatabase):  # SQLite's own trace: one SELECT (the IN list chunked into one)
        assert db.raw.inline is not None
        db.raw.inline.set_trace_callback(statements.append)
    recording = Recording(db)
    summaries = await SqlStore(recording).agent_summaries(["1001", "1002", "1003", "1001"])
    assert recording.calls == ["query_in"]
    if isinstance(db, SqliteDatabase):
        assert db.raw.inline is not None
        db.raw.inline.set_trace_callback(None)
        assert [s.split()[0] for s in statements] == ["SELECT"]  # a statement is its own snapshot
    assert summaries == {
        "1001": summary({"attitude": 5}),
        "1002": summary({"attitude": 4, "knowledge": 2}, {"knowledge": 3}),
        "1003": summary(),
    }
    s1002 = summaries["1002"]
    assert s1002.per_category["knowledge"] == CategoryStat(n=2, total=5, mean=2.5)
    assert s1002.overall_mean == 3.0


async def test_check_invariants_reports_tampering(store: SqlStore, db: Database) -> None:
    await answered_call(store, "u1")
    await store.record_evaluation("u1", "client_to_agent", {"attitude": 4}, "ivr", T0)
    await store.start_call("u2", "u2", None, None, T0)
    assert await store.check_invariants() == []
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE agent_rating_totals SET total = 5 WHERE agent_id = '1001' AND category_id = 'attitude'"
        )
        await conn.execute(
            "INSERT INTO client_rating_totals (client_id, category_id, n, total, as_of) "
            "VALUES (1, 'knowledge', 1, 3, ?)",
            (T0,),
        )
        await conn.execute(
            "INSERT INTO evaluations (call_id, direction, agent_id, client_id, created_at, updated_at) "
            "SELECT id, 'client_to_agent', '1002', 1, ?, ? FROM calls WHERE uniqueid = 'u2'",
            (T0, T0),
        )
    problems = await store.check_invariants()
    assert problems == [
        "agent_rating_totals: agent_id 1001 category 'attitude' stores n=1 total=5, evaluations give n=1 total=4",
        "client_rating_totals: client_id 1 category 'knowledge' stores n=1 total=3, evaluations give n=0 total=0",
        "evaluation 2 (client_to_agent) is on call u2 which was never answered",
        "evaluation 2 names agent 1002 / client 1, but its call u2 has agent None / client None",
        "evaluation 2 is live but has no scores",
    ]


async def test_evaluation_changes_are_the_audit_trail_across_calls_newest_first(store: SqlStore) -> None:
    one = await answered_call(store, "u1", agent="1001")
    two = await answered_call(store, "u2", agent="1002", number="+15550002")
    await store.record_evaluation("u1", "client_to_agent", {"attitude": 5}, f"client:{one.client_id}", at(100))
    await store.record_evaluation("u1", "agent_to_client", {"attitude": 3}, "agent:1001", at(110))
    await store.record_evaluation("u2", "client_to_agent", {"attitude": 1}, f"client:{two.client_id}", at(120))
    await store.record_evaluation("u1", "client_to_agent", {"attitude": 4}, f"client:{one.client_id}", at(130))
    await store.delete_evaluation("u2", "client_to_agent", "operator:ops", "abusive", at(140))

    every = await store.evaluation_changes()
    assert [(c.call_uniqueid, c.direction, c.entry.action, c.entry.at) for c in every] == [
        ("u2", "client_to_agent", "delete", at(140)),
        ("u1", "client_to_agent", "update", at(130)),
        ("u2", "client_to_agent", "create", at(120)),
        ("u1", "agent_to_client", "create", at(110)),
        ("u1", "client_to_agent", "create", at(100)),
    ]
    assert (every[0].agent_id, every[0].client_id) == ("1002", two.client_id)
    assert every[0].entry.reason == "abusive"
    assert (every[1].entry.old_scores, every[1].entry.new_scores) == ({"attitude": 5}, {"attitude": 4})

    def calls(changes: list[EvaluationChange]) -> list[tuple[str, str]]:
        return [(c.call_uniqueid, c.entry.action) for c in changes]

    assert calls(await store.evaluation_changes(call_uniqueid="u1", limit=2)) == [("u1", "update"), ("u1", "create")]
    assert calls(await store.evaluation_changes(agent_id="1002")) == [("u2", "delete"), ("u2", "create")]
    assert one.client_id is not None
    assert len(await store.evaluation_changes(client_id=one.client_id)) == 3
    assert await store.evaluation_changes(agent_id="1001", client_id=two.client_id) == []


class Watcher:
    """What a store's watcher hears, and what the store already says when it hears it (after the commit)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.heard: list[tuple[str, str, int]] = []

    async def agent_rated(self, agent_id: str) -> None:
        self.heard.append(("rated", agent_id, (await self.store.agent_summary(agent_id)).count))

    def call_answered(self, call: Call) -> None:
        assert call.agent_id is not None
        self.heard.append(("answered", call.agent_id, 0))


async def test_a_watcher_hears_each_agent_rating_change_and_answer_after_the_commit(store: SqlStore) -> None:
    watcher = Watcher(store)
    store.watch(watcher)
    call = await answered_call(store, "w1", agent="1002")
    scores = {c.id: 4 for c in CATEGORIES}
    await store.record_evaluation(call.uniqueid, CLIENT_TO_AGENT, scores, "client:1", at(300))
    # an agent's rating of the caller moves no agent's standing: not told
    await store.record_evaluation(call.uniqueid, AGENT_TO_CLIENT, scores, "agent:1002", at(300))
    await store.delete_evaluation(call.uniqueid, CLIENT_TO_AGENT, "client:1", "changed my mind", at(400))
    assert watcher.heard == [("answered", "1002", 0), ("rated", "1002", 1), ("rated", "1002", 0)]
