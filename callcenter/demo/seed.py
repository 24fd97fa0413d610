"""Rating history for the demo roster (and the tests): past answered calls with evaluations both ways.

History goes through the store's public API, like a real call would, so aggregates and the audit trail are the
same as after real calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from callcenter.domain import naming
from callcenter.store import Store
from callcenter.store.models import AGENT_TO_CLIENT, CLIENT_TO_AGENT

# agent id -> per-call scores (attitude, knowledge, availability, other) callers gave them
DEMO_HISTORY: Mapping[str, Sequence[tuple[int, int, int, int]]] = {
    "1001": [(5, 4, 5, 4), (4, 5, 4, 4), (5, 5, 4, 5), (4, 4, 5, 4), (5, 4, 4, 5)],
    "1002": [(3, 4, 3, 3), (4, 3, 3, 4), (3, 3, 4, 3), (3, 4, 3, 3)],
    "1003": [(4, 5, 3, 4), (5, 5, 4, 4), (4, 5, 4, 3)],
}
DEMO_CALLERS = ("5551001", "5551002", "5551003", "5551004")


async def seed_history(
    store: Store,
    history: Mapping[str, Sequence[tuple[int, ...]]],
    callers: Sequence[str] = DEMO_CALLERS,
    categories: Sequence[str] = ("attitude", "knowledge", "availability", "other"),
    service: str = "support",
    *,
    tag: str = "seed",
    now: datetime | None = None,
) -> int:
    """Record one past answered call per score tuple; callers take turns and get rated 4s by the agents.

    Idempotent per ``tag``: calls are keyed ``<tag>-<agent>-<n>`` and the store ignores a known uniqueid.
    """
    start = (now or datetime.now(UTC)) - timedelta(days=30)
    made = 0
    for agent_id, calls in history.items():
        for n, scores in enumerate(calls):
            uniqueid = f"{tag}-{agent_id}-{n}"
            if await store.get_call(uniqueid) is not None:
                continue
            at = start + timedelta(minutes=10 * made)
            client = await store.client_for_number(callers[made % len(callers)], at)
            assert client is not None
            await store.start_call(uniqueid, uniqueid, client.id, service, at)
            await store.call_queued(uniqueid, naming.agent_queue(agent_id), at)
            await store.call_answered(uniqueid, agent_id, at + timedelta(seconds=20))
            await store.call_ended(uniqueid, "answered", at + timedelta(minutes=4))
            given = dict(zip(categories, scores, strict=True))
            await store.record_evaluation(uniqueid, CLIENT_TO_AGENT, given, f"client:{client.number}", at)
            back = dict.fromkeys(categories, 4)
            await store.record_evaluation(uniqueid, AGENT_TO_CLIENT, back, f"agent:{agent_id}", at)
            made += 1
    return made
