"""Shared test data and builders for the store tests (a plain module so tests can import it)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from callcenter.store.models import AgentDef, Call, CategoryDef, CategoryStat, RatingSummary, ServiceDef
from callcenter.store.sqlite import SqliteStore

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

CATEGORIES = (
    CategoryDef("attitude", "service attitude"),
    CategoryDef("knowledge", "professional knowledge"),
    CategoryDef("availability", "availability"),
)
SERVICES = (ServiceDef("support", "Support"), ServiceDef("sales", "Sales"))
AGENTS = (
    AgentDef(
        id="1001",
        name="Alice",
        interface="PJSIP/agent1001",
        kind="sip",
        services=("support",),
        queues=("agent-1001", "service-support"),
        pin_hash="pbkdf2-sha256$aa",
    ),
    AgentDef(
        id="1002",
        name="Bob",
        interface="Local/+15551234567@cc-outbound",
        kind="external",
        services=("support", "sales"),
        queues=("agent-1002", "service-support", "service-sales"),
    ),
    AgentDef(
        id="1003",
        name="Carol",
        interface="PJSIP/agent1003",
        kind="sip",
        services=("sales",),
        queues=("agent-1003", "service-sales"),
    ),
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def seed(store: SqliteStore) -> None:
    await store.sync_categories(CATEGORIES)
    await store.sync_services(SERVICES)
    await store.sync_roster(AGENTS, now=T0)


async def answered_call(
    store: SqliteStore, uniqueid: str, *, number: str | None = "+15550001", agent: str = "1001"
) -> Call:
    """A call that reached ``agent`` after 10 s in the queue; ``number=None`` makes it anonymous."""
    client = await store.client_for_number(number, now=T0)
    await store.start_call(uniqueid, uniqueid, None if client is None else client.id, "support", T0)
    await store.call_queued(uniqueid, "service-support", at(2))
    call = await store.call_answered(uniqueid, agent, at(12))
    assert call is not None
    return call


def summary(*evaluations: Mapping[str, int]) -> RatingSummary:
    """What a summary must say for these live evaluations, computed the obvious way."""
    per: dict[str, list[int]] = {}
    for scores in evaluations:
        for category, score in scores.items():
            per.setdefault(category, []).append(score)
    all_scores = [s for scores in per.values() for s in scores]
    return RatingSummary(
        count=len(evaluations),
        score_count=len(all_scores),
        score_total=sum(all_scores),
        per_category={c: CategoryStat(len(v), sum(v), sum(v) / len(v)) for c, v in sorted(per.items())},
        overall_mean=sum(all_scores) / len(all_scores) if all_scores else None,
    )
