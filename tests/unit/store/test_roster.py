from __future__ import annotations

import dataclasses

import pytest

from callcenter.store.api import Store
from callcenter.store.models import Agent, AgentDef, CategoryDef, Service, ServiceDef, SyncSummary
from callcenter.store.postgres import PostgresStore
from callcenter.store.sql.connection import Database
from callcenter.store.sql.store import SqlStore
from callcenter.store.sqlite import SqliteStore
from tests.unit.store.helpers import AGENTS, CATEGORIES, SERVICES, T0, answered_call, at


def test_every_backend_implements_the_store_protocol(db: Database) -> None:
    # mypy checks the structural matches
    stores: list[type[Store]] = [SqliteStore, PostgresStore]
    store: Store = SqlStore(db)
    assert isinstance(store, SqlStore)
    assert all(issubclass(s, SqlStore) for s in stores)


async def test_categories_sync_add_update_deactivate_reactivate(db: Database) -> None:
    store = SqlStore(db)
    assert await store.sync_categories(CATEGORIES) == SyncSummary(added=3)
    assert await store.sync_categories(CATEGORIES) == SyncSummary()
    assert await store.list_categories() == list(CATEGORIES)

    reordered = (CategoryDef("knowledge", "know-how"), CategoryDef("attitude", "service attitude"))
    assert await store.sync_categories(reordered) == SyncSummary(updated=2, deactivated=1)
    assert await store.list_categories() == list(reordered)

    assert await store.sync_categories(CATEGORIES) == SyncSummary(updated=3)
    assert await store.list_categories() == list(CATEGORIES)


async def test_reserved_and_duplicate_category_ids_are_rejected(db: Database) -> None:
    store = SqlStore(db)
    with pytest.raises(ValueError, match="reserved"):
        await store.sync_categories([CategoryDef("*", "overall")])
    with pytest.raises(ValueError, match="more than once"):
        await store.sync_categories([CategoryDef("a", "A"), CategoryDef("a", "A again")])
    assert await store.list_categories() == []


async def test_services_sync(db: Database) -> None:
    store = SqlStore(db)
    assert await store.sync_services(SERVICES) == SyncSummary(added=2)
    renamed = (ServiceDef("support", "Customer support"),)
    assert await store.sync_services(renamed) == SyncSummary(updated=1, deactivated=1)
    assert await store.sync_services(renamed) == SyncSummary()


async def test_roster_sync_adds_then_is_stable(db: Database) -> None:
    store = SqlStore(db)
    await store.sync_services(SERVICES)
    assert await store.sync_roster(AGENTS, now=T0) == SyncSummary(added=3)
    assert await store.sync_roster(AGENTS, now=at(60)) == SyncSummary()
    alice = await store.get_agent("1001")
    assert alice == Agent(
        id="1001",
        name="Alice",
        interface="PJSIP/agent1001",
        kind="sip",
        services=("support",),
        queues=("agent-1001", "service-support"),
        active=True,
        pin_hash="pbkdf2-sha256$aa",
    )
    assert "pbkdf2" not in repr(alice)  # PIN hashes stay out of logs
    bob = await store.get_agent("1002")
    assert bob is not None
    assert bob.kind == "external"
    assert bob.services == ("support", "sales")
    assert await store.get_agent("9999") is None


async def test_roster_sync_updates_memberships_and_deactivates_missing_agents(store: SqlStore) -> None:
    alice, bob, carol = AGENTS
    moved = dataclasses.replace(alice, services=("sales", "support"), queues=("agent-1001", "service-sales"))
    renamed = dataclasses.replace(bob, name="Robert", pin_hash="pbkdf2-sha256$bb")
    assert await store.sync_roster([moved, renamed], now=at(60)) == SyncSummary(updated=2, deactivated=1)

    active = await store.list_agents()
    assert [a.id for a in active] == ["1001", "1002"]
    assert active[0].services == ("sales", "support")
    assert active[0].queues == ("agent-1001", "service-sales")
    assert active[1].name == "Robert"
    assert active[1].pin_hash == "pbkdf2-sha256$bb"

    everyone = await store.list_agents(active_only=False)
    assert [(a.id, a.active) for a in everyone] == [("1001", True), ("1002", True), ("1003", False)]
    # A deactivated agent keeps its last memberships (history), but routing sees only active agents.
    assert everyone[2].services == carol.services
    assert [a.id for a in await store.list_agents(service_id="sales")] == ["1001", "1002"]
    assert [a.id for a in await store.list_agents(service_id="sales", active_only=False)] == [
        "1001",
        "1002",
        "1003",
    ]

    # Coming back is an update, not a new agent.
    assert await store.sync_roster(AGENTS, now=at(120)) == SyncSummary(updated=3)
    assert [a.id for a in await store.list_agents(service_id="sales")] == ["1002", "1003"]


async def test_an_agent_with_calls_is_deactivated_not_deleted(store: SqlStore) -> None:
    await answered_call(store, "u1", agent="1003")
    assert await store.sync_roster(AGENTS[:2], now=at(60)) == SyncSummary(deactivated=1)
    call = await store.get_call("u1")
    assert call is not None
    assert call.agent_id == "1003"
    carol = await store.get_agent("1003")
    assert carol is not None
    assert not carol.active


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"services": ("nope",)}, "unknown service"),
        ({"kind": "dial"}, "kind must be one of"),
        ({"interface": ""}, "interface"),
        ({"queues": ("q", "q")}, "must not repeat"),
        ({"queues": ("",)}, "queue names"),
    ],
)
async def test_bad_agent_definitions_change_nothing(store: SqlStore, change: dict[str, object], message: str) -> None:
    bad = dataclasses.replace(AGENTS[0], **change)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        await store.sync_roster([bad, *AGENTS[1:]], now=at(60))
    assert next(a for a in await store.list_agents() if a.id == "1001").services == ("support",)


async def test_duplicate_agent_ids_are_rejected(store: SqlStore) -> None:
    twin = AgentDef(id="1001", name="Twin", interface="PJSIP/x", kind="sip", services=("support",), queues=())
    with pytest.raises(ValueError, match="1001 appear more than once"):
        await store.sync_roster([*AGENTS, twin], now=at(60))


async def test_services_are_listed_with_their_calls_on_record(store: SqlStore) -> None:
    assert await store.service_call_counts() == {}
    await answered_call(store, "u1")
    await answered_call(store, "u2", number="+15550002")
    assert await store.service_call_counts() == {"support": 2}
    await store.sync_services([ServiceDef("support", "Support")])
    assert await store.list_services() == [Service("support", "Support", True)]
    assert await store.list_services(active_only=False) == [
        Service("sales", "Sales", False),
        Service("support", "Support", True),
    ]
