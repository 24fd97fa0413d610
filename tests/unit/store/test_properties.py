"""Property: whatever sequence of record / re-record / delete / refused operations happens, the incrementally
kept totals equal a naive recount, and the audit trail has one row per effective change."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callcenter.store.errors import EvaluationRefused, RefusalReason
from callcenter.store.models import DIRECTIONS, Direction
from callcenter.store.sql.store import SqlStore
from tests.postgres import PostgresServer
from tests.unit.store.helpers import BACKENDS, CATEGORIES, T0, answered_call, at, fresh_store, seed, server_for, summary

# uniqueid -> (agent, caller number); None number = anonymous caller
ANSWERED = {
    "c1": ("1001", "+15550001"),
    "c2": ("1001", "+15550002"),
    "c3": ("1002", "+15550001"),
    "c4": ("1002", "+15550003"),
    "c5": ("1003", "+15550002"),
    "anon": ("1001", None),
}
UNANSWERED = "missed"
CALLS = (*ANSWERED, UNANSWERED)
CATEGORY_IDS = tuple(c.id for c in CATEGORIES)

Key = tuple[str, Direction]


@dataclass(frozen=True)
class Op:
    kind: str  # record | delete | bad
    call: str
    direction: Direction
    scores: dict[str, int] = field(default_factory=dict)


scores_st = st.dictionaries(st.sampled_from(CATEGORY_IDS), st.integers(1, 5), min_size=1)
ops_st = st.lists(
    st.one_of(
        st.builds(Op, st.just("record"), st.sampled_from(CALLS), st.sampled_from(DIRECTIONS), scores_st),
        st.builds(Op, st.just("delete"), st.sampled_from(CALLS), st.sampled_from(DIRECTIONS)),
        st.builds(
            Op,
            st.just("bad"),
            st.sampled_from(CALLS),
            st.sampled_from(DIRECTIONS),
            st.fixed_dictionaries({"attitude": st.sampled_from([0, 6, -1, 100])}),
        ),
    ),
    max_size=30,
)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(
    max_examples=60,
    deadline=None,
    # the fixture is the session's server (or none): nothing an example could leave behind for the next one
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=ops_st)
def test_random_operations_keep_totals_equal_to_a_recount(
    backend: str, request: pytest.FixtureRequest, ops: list[Op]
) -> None:
    asyncio.run(run(server_for(backend, request), ops))


async def run(server: PostgresServer | None, ops: list[Op]) -> None:
    async with fresh_store(server) as store:
        await seed(store)
        clients: dict[str, int] = {}
        for uniqueid, (agent, number) in ANSWERED.items():
            call = await answered_call(store, uniqueid, number=number, agent=agent)
            if call.client_id is not None and number is not None:
                clients[number] = call.client_id
        await store.start_call(UNANSWERED, UNANSWERED, clients["+15550001"], "support", T0)

        live: dict[Key, dict[str, int]] = {}
        changes: dict[Key, int] = {}
        for step, op in enumerate(ops):
            await apply(store, op, live, changes, step)

        assert await store.check_invariants() == []
        for agent in ("1001", "1002", "1003"):
            expected = [s for (c, d), s in live.items() if d == "client_to_agent" and ANSWERED[c][0] == agent]
            assert await store.agent_summary(agent) == summary(*expected)
        assert await store.agent_summaries(["1001", "1002", "1003"]) == {
            a: await store.agent_summary(a) for a in ("1001", "1002", "1003")
        }
        for number, client_id in clients.items():
            expected = [s for (c, d), s in live.items() if d == "agent_to_client" and ANSWERED[c][1] == number]
            assert await store.client_summary(client_id) == summary(*expected)

        listed = await store.list_evaluations()
        assert {(e.call_uniqueid, e.direction): dict(e.scores) for e in listed} == live
        for e in await store.list_evaluations(include_deleted=True):
            history = await store.evaluation_history(e.id)
            assert len(history) == changes[(e.call_uniqueid, e.direction)]


async def apply(store: SqlStore, op: Op, live: dict[Key, dict[str, int]], changes: dict[Key, int], step: int) -> None:
    key = (op.call, op.direction)
    if op.kind == "delete":
        deleted = await store.delete_evaluation(op.call, op.direction, "admin", "test", at(step))
        assert (deleted is None) == (key not in changes)
        if key in live:
            del live[key]
            changes[key] += 1
        return
    refusal = expected_refusal(op)
    if refusal is not None:
        with pytest.raises(EvaluationRefused) as refused:
            await store.record_evaluation(op.call, op.direction, op.scores, "actor", at(step))
        assert refused.value.reason is refusal
        return
    evaluation = await store.record_evaluation(op.call, op.direction, op.scores, "actor", at(step))
    assert dict(evaluation.scores) == op.scores
    if live.get(key) != op.scores:
        changes[key] = changes.get(key, 0) + 1
    live[key] = dict(op.scores)


def expected_refusal(op: Op) -> RefusalReason | None:
    if op.kind == "bad":
        return RefusalReason.BAD_SCORE
    if op.call == UNANSWERED:
        return RefusalReason.NOT_ANSWERED
    if ANSWERED[op.call][1] is None:
        return RefusalReason.ANONYMOUS
    return None
