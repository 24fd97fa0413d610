"""Categories, services and agents: mirrored from configuration, deactivated (never deleted) when removed,
because past calls and evaluations keep referring to them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from callcenter.store.models import (
    AGENT_KINDS,
    OVERALL,
    Agent,
    AgentDef,
    CategoryDef,
    Service,
    ServiceDef,
    SyncSummary,
)
from callcenter.store.sql.connection import Conn, Row
from callcenter.store.sql.repository import Repository
from callcenter.store.timestamps import aware


class AgentRepository(Repository):
    async def sync_categories(self, defs: Sequence[CategoryDef]) -> SyncSummary:
        """Make the active categories exactly ``defs``, in that order (the order prompts ask them in)."""
        _unique("category", [d.id for d in defs])
        for d in defs:
            if not d.id or d.id == OVERALL:
                raise ValueError(f"category id {d.id!r} is reserved or empty")
        async with self._db.transaction() as conn:
            existing = {
                row["id"]: (row["label"], row["position"], bool(row["active"]))
                for row in await conn.fetch_all("SELECT id, label, position, active FROM categories")
            }
            added = updated = 0
            for position, d in enumerate(defs):
                wanted = (d.label, position, True)
                if d.id not in existing:
                    added += 1
                elif existing[d.id] != wanted:
                    updated += 1
                else:
                    continue
                await conn.execute(
                    "INSERT INTO categories (id, label, position, active) VALUES (?, ?, ?, TRUE) "
                    "ON CONFLICT (id) DO UPDATE SET label = excluded.label, position = excluded.position, "
                    "active = TRUE",
                    (d.id, d.label, position),
                )
            active = {key for key, (_, _, on) in existing.items() if on}
            deactivated = await _deactivate_missing(conn, "categories", active, {d.id for d in defs})
        return SyncSummary(added=added, updated=updated, deactivated=deactivated)

    async def sync_services(self, defs: Sequence[ServiceDef]) -> SyncSummary:
        _unique("service", [d.id for d in defs])
        if any(not d.id for d in defs):
            raise ValueError("service id must not be empty")
        async with self._db.transaction() as conn:
            existing = {
                row["id"]: (row["name"], bool(row["active"]))
                for row in await conn.fetch_all("SELECT id, name, active FROM services")
            }
            added = updated = 0
            for d in defs:
                if d.id not in existing:
                    added += 1
                elif existing[d.id] != (d.name, True):
                    updated += 1
                else:
                    continue
                await conn.execute(
                    "INSERT INTO services (id, name, active) VALUES (?, ?, TRUE) "
                    "ON CONFLICT (id) DO UPDATE SET name = excluded.name, active = TRUE",
                    (d.id, d.name),
                )
            active = {key for key, (_, on) in existing.items() if on}
            deactivated = await _deactivate_missing(conn, "services", active, {d.id for d in defs})
        return SyncSummary(added=added, updated=updated, deactivated=deactivated)

    async def sync_roster(self, agents: Sequence[AgentDef], now: datetime | None = None) -> SyncSummary:
        """Make the active agents exactly ``agents``; sync_services must have run first.

        A deactivated agent keeps its last services and queues (visible with active_only=False) so history
        reads sensibly; routing must only use active agents.
        """
        at = aware(now if now is not None else datetime.now(UTC))
        _unique("agent", [a.id for a in agents])
        for a in agents:
            _check_agent(a)
        async with self._db.transaction() as conn:
            await _check_services(conn, agents)
            before = {agent.id: agent for agent in await _load_agents(conn, None, active_only=False)}
            added = [a for a in agents if a.id not in before]
            changed = [a for a in agents if a.id in before and _as_agent(a) != before[a.id]]
            keep = {a.id for a in agents}
            gone = [agent_id for agent_id, agent in before.items() if agent.active and agent_id not in keep]
            # batched, not a statement per agent: a first sync of a 10k roster is one round trip per statement
            # kind on a server database, not 50k
            await conn.execute_many(
                "INSERT INTO agents (id, name, interface, kind, pin_hash, active, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, TRUE, ?, ?)",
                [(a.id, a.name, a.interface, a.kind, a.pin_hash, at, at) for a in added],
            )
            await conn.execute_many(
                "UPDATE agents SET name = ?, interface = ?, kind = ?, pin_hash = ?, active = TRUE, "
                "updated_at = ? WHERE id = ?",
                [(a.name, a.interface, a.kind, a.pin_hash, at, a.id) for a in changed],
            )
            await _replace_memberships(conn, [*added, *changed])
            await conn.execute_many(
                "UPDATE agents SET active = FALSE, updated_at = ? WHERE id = ?", [(at, agent_id) for agent_id in gone]
            )
            # a new PIN, or an agent off the roster, ends their signed-in web sessions (web/auth.py)
            revoked = [*gone, *(a.id for a in changed if a.pin_hash != before[a.id].pin_hash)]
            await conn.execute_many("DELETE FROM web_sessions WHERE subject = ?", [(f"agent:{i}",) for i in revoked])
        return SyncSummary(added=len(added), updated=len(changed), deactivated=len(gone))

    async def list_categories(self) -> list[CategoryDef]:
        """Active categories in configured order."""
        async with self._db.read() as conn:
            rows = await conn.fetch_all("SELECT id, label FROM categories WHERE active ORDER BY position")
        return [CategoryDef(row["id"], row["label"]) for row in rows]

    async def list_services(self, active_only: bool = True) -> list[Service]:
        async with self._db.read() as conn:
            rows = await conn.fetch_all(
                "SELECT id, name, active FROM services" + (" WHERE active" if active_only else "") + " ORDER BY id",
            )
        return [Service(row["id"], row["name"], bool(row["active"])) for row in rows]

    async def list_agents(self, service_id: str | None = None, active_only: bool = True) -> list[Agent]:
        async with self._db.read() as conn:
            return await _load_agents(conn, service_id, active_only=active_only)

    async def get_agent(self, agent_id: str) -> Agent | None:
        async with self._db.read() as conn:
            row = await conn.fetch_one("SELECT * FROM agents WHERE id = ?", (agent_id,))
            if row is None:
                return None
            services, queues = await _memberships(conn, agent_id=agent_id)
        return _agent(row, services, queues)


def _unique(what: str, ids: Sequence[str]) -> None:
    dupes = sorted(i for i, n in Counter(ids).items() if n > 1)
    if dupes:
        raise ValueError(f"{what} id(s) {', '.join(dupes)} appear more than once")


def _check_agent(a: AgentDef) -> None:
    if not a.id:
        raise ValueError("agent id must not be empty")
    if a.kind not in AGENT_KINDS:
        raise ValueError(f"agent {a.id}: kind must be one of {', '.join(AGENT_KINDS)}, got {a.kind!r}")
    if not a.interface:
        raise ValueError(f"agent {a.id}: interface (Asterisk dial string) must not be empty")
    if len(set(a.services)) != len(a.services) or len(set(a.queues)) != len(a.queues):
        raise ValueError(f"agent {a.id}: services and queues must not repeat")
    if any(not q for q in a.queues):
        raise ValueError(f"agent {a.id}: queue names must not be empty")


async def _check_services(conn: Conn, agents: Sequence[AgentDef]) -> None:
    known = {row["id"] for row in await conn.fetch_all("SELECT id FROM services WHERE active")}
    for a in agents:
        unknown = [s for s in a.services if s not in known]
        if unknown:
            raise ValueError(
                f"agent {a.id}: unknown service(s) {', '.join(unknown)} (sync_services must run before sync_roster)"
            )


async def _deactivate_missing(conn: Conn, table: str, active: set[str], keep: set[str]) -> int:
    gone = sorted(active - keep)
    for key in gone:
        await conn.execute(f"UPDATE {table} SET active = FALSE WHERE id = ?", (key,))
    return len(gone)


async def _replace_memberships(conn: Conn, agents: Sequence[AgentDef]) -> None:
    ids = [(a.id,) for a in agents]
    await conn.execute_many("DELETE FROM agent_services WHERE agent_id = ?", ids)
    await conn.execute_many("DELETE FROM agent_queues WHERE agent_id = ?", ids)
    await conn.execute_many(
        "INSERT INTO agent_services (agent_id, service_id, position) VALUES (?, ?, ?)",
        [(a.id, s, i) for a in agents for i, s in enumerate(a.services)],
    )
    await conn.execute_many(
        "INSERT INTO agent_queues (agent_id, queue, position) VALUES (?, ?, ?)",
        [(a.id, q, i) for a in agents for i, q in enumerate(a.queues)],
    )


async def _load_agents(conn: Conn, service_id: str | None, *, active_only: bool) -> list[Agent]:
    where: list[str] = []
    params: list[object] = []
    if active_only:
        where.append("a.active")
    if service_id is not None:
        where.append("a.id IN (SELECT agent_id FROM agent_services WHERE service_id = ?)")
        params.append(service_id)
    sql = "SELECT a.* FROM agents a" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY a.id"
    rows = await conn.fetch_all(sql, params)
    services, queues = await _memberships(conn, service_id=service_id)
    return [_agent(row, services, queues) for row in rows]


async def _memberships(
    conn: Conn, *, agent_id: str | None = None, service_id: str | None = None
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Services and queues per agent, in configured order: of one agent, of a service's agents (the offer reads
    only those), or of all."""
    where: str = ""
    params: tuple[str, ...] = ()
    if agent_id is not None:
        where, params = " WHERE agent_id = ?", (agent_id,)
    elif service_id is not None:
        where = " WHERE agent_id IN (SELECT agent_id FROM agent_services WHERE service_id = ?)"
        params = (service_id,)
    services: dict[str, list[str]] = {}
    for row in await conn.fetch_all(
        f"SELECT agent_id, service_id FROM agent_services{where} ORDER BY agent_id, position", params
    ):
        services.setdefault(row["agent_id"], []).append(row["service_id"])
    queues: dict[str, list[str]] = {}
    for row in await conn.fetch_all(
        f"SELECT agent_id, queue FROM agent_queues{where} ORDER BY agent_id, position", params
    ):
        queues.setdefault(row["agent_id"], []).append(row["queue"])
    return services, queues


def _agent(row: Row, services: dict[str, list[str]], queues: dict[str, list[str]]) -> Agent:
    return Agent(
        id=row["id"],
        name=row["name"],
        interface=row["interface"],
        kind=row["kind"],
        services=tuple(services.get(row["id"], ())),
        queues=tuple(queues.get(row["id"], ())),
        active=bool(row["active"]),
        pin_hash=row["pin_hash"],
    )


def _as_agent(a: AgentDef) -> Agent:
    return Agent(
        id=a.id,
        name=a.name,
        interface=a.interface,
        kind=a.kind,
        services=a.services,
        queues=a.queues,
        active=True,
        pin_hash=a.pin_hash,
    )
