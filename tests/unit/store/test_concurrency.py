from __future__ import annotations

import asyncio

from callcenter.store.errors import EvaluationRefused, RefusalReason
from callcenter.store.models import Direction, Evaluation
from callcenter.store.sql.connection import Database
from callcenter.store.sql.store import SqlStore
from tests.unit.store.helpers import T0, answered_call, summary

WRITERS = 50


class BoomError(Exception):
    pass


async def test_concurrent_writers_never_lose_a_write(store: SqlStore, db: Database) -> None:
    agents = ("1001", "1002", "1003")
    for i in range(WRITERS):
        await answered_call(store, f"c{i}", number=f"+1555000{i:04d}", agent=agents[i % 3])

    def scores(i: int) -> dict[str, int]:
        return {"attitude": 1 + i % 5, "knowledge": 1 + (i * 7) % 5}

    async def rate(i: int) -> Evaluation:
        # Yield a varying number of times first so the tasks reach the lock in a scrambled order.
        for _ in range(i % 4):
            await asyncio.sleep(0)
        direction: Direction = "client_to_agent" if i % 2 == 0 else "agent_to_client"
        return await store.record_evaluation(f"c{i}", direction, scores(i), "ivr", T0)

    async def saboteur() -> None:
        # Writes, lets every other task run, then fails: on a shared connection without the lock its
        # ROLLBACK would also discard whatever the others had inserted meanwhile.
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO clients (number, created_at) VALUES ('+19990000', ?)", (T0,))
            await asyncio.sleep(0.01)
            raise BoomError

    async def refused() -> None:
        await store.record_evaluation("c0", "client_to_agent", {"attitude": 9}, "ivr", T0)

    half = WRITERS // 2
    results = await asyncio.gather(
        *(rate(i) for i in range(half)),
        saboteur(),
        refused(),
        *(rate(i) for i in range(half, WRITERS)),
        return_exceptions=True,
    )
    assert isinstance(results[half], BoomError)
    refusal = results[half + 1]
    assert isinstance(refusal, EvaluationRefused)
    assert refusal.reason is RefusalReason.BAD_SCORE
    stored = [r for r in results if isinstance(r, Evaluation)]
    assert len(stored) == WRITERS

    listed = await store.list_evaluations()
    assert sorted(e.call_uniqueid for e in listed) == sorted(f"c{i}" for i in range(WRITERS))
    for e in listed:
        assert e.scores == scores(int(e.call_uniqueid[1:]))
    async with db.read() as conn:
        audit = await conn.fetch_value("SELECT count(*) FROM evaluation_audit")
        sabotage = await conn.fetch_value("SELECT count(*) FROM clients WHERE number = '+19990000'")
    assert audit == WRITERS
    assert sabotage == 0

    for agent in agents:
        expected = [scores(i) for i in range(0, WRITERS, 2) if agents[i % 3] == agent]
        assert await store.agent_summary(agent) == summary(*expected)
    assert await store.check_invariants() == []


async def test_concurrent_updates_of_one_evaluation_keep_totals_exact(store: SqlStore) -> None:
    await answered_call(store, "u1")
    await asyncio.gather(
        *(store.record_evaluation("u1", "client_to_agent", {"attitude": 1 + i % 5}, f"a{i}", T0) for i in range(20))
    )
    final = await store.get_evaluation("u1", "client_to_agent")
    assert final is not None
    assert await store.agent_summary("1001") == summary(dict(final.scores))
    assert await store.check_invariants() == []
