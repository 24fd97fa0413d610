"""Loading the config's categories, services and agent roster into the store, refusing what is almost always the
wrong config rather than an intended change.

A sync makes the store's active agents and services exactly the config's: whatever the config leaves out is
deactivated. Given the wrong config (none at all, an empty roster, another call center's), that took every agent
off the phones and renamed services under their history (issue #9). So a sync that would deactivate every active
agent, or deactivate or rename a service with calls on record, refuses with one line naming what it would do,
unless forced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from callcenter.config import Config
from callcenter.domain.agents import AgentSpec
from callcenter.store import AgentDef, CategoryDef, ServiceDef, Store, SyncSummary

log = structlog.get_logger(__name__)


class SyncRefused(Exception):
    """The sync would make a drastic change; the message names it and how to insist (--force)."""


@dataclass(frozen=True, slots=True)
class RosterSync:
    categories: SyncSummary
    services: SyncSummary
    agents: SyncSummary

    def __str__(self) -> str:
        return "; ".join(
            f"{what}: {s.added} added, {s.updated} changed, {s.deactivated} deactivated"
            for what, s in (("agents", self.agents), ("services", self.services), ("categories", self.categories))
        )


def agent_defs(agents: Sequence[AgentSpec]) -> list[AgentDef]:
    return [
        AgentDef(
            id=a.id,
            name=a.name,
            interface=a.interface,
            kind="sip" if a.kind == "sip" else "external",
            services=a.services,
            queues=a.queues,
            pin_hash=a.pin_hash,
        )
        for a in agents
    ]


async def drastic_changes(store: Store, config: Config, agents: Sequence[AgentSpec]) -> list[str]:
    """What loading ``config`` and ``agents`` would do that needs --force, one phrase each; [] if nothing."""
    found = []
    active = await store.list_agents(active_only=True)
    if active and not {a.id for a in active} & {a.id for a in agents}:
        names = ", ".join(f"{a.id} {a.name}" for a in active)
        roster = f"the roster {config.roster} names" if config.roster else "the config has no roster, so it names"
        found.append(f"deactivate every active agent ({names}: {roster} none of them)")
    wanted = {s.id: s.name for s in config.services}
    calls = await store.service_call_counts()
    for service in await store.list_services(active_only=False):
        n = calls.get(service.id, 0)
        on_record = f"{n} call{'' if n == 1 else 's'} on record"
        if not n:
            continue  # nothing refers to it yet: any change is harmless
        if service.active and service.id not in wanted:
            found.append(f"deactivate service {service.id!r} ({on_record})")
        elif service.id in wanted and wanted[service.id] != service.name:
            found.append(f"rename service {service.id!r} from {service.name!r} to {wanted[service.id]!r} ({on_record})")
    return found


async def load_config_into(
    store: Store, config: Config, agents: Sequence[AgentSpec], *, force: bool = False
) -> RosterSync:
    """Make the store's active categories, services and agents the config's; SyncRefused for a drastic change
    unless ``force``. Checked before anything is written, so a refusal leaves the store as it was."""
    drastic = await drastic_changes(store, config, agents)
    if drastic and not force:
        raise SyncRefused(
            f"refusing to load the config into the store {config.store.shown}: it would {'; '.join(drastic)}. "
            "Check --config, or pass --force if that is what you want"
        )
    if drastic:
        log.warning("roster_sync_forced", changes=drastic)
    done = RosterSync(
        categories=await store.sync_categories([CategoryDef(c.id, c.label) for c in config.categories]),
        services=await store.sync_services([ServiceDef(s.id, s.name) for s in config.services]),
        agents=await store.sync_roster(agent_defs(agents)),
    )
    log.info("roster_synced", summary=str(done))
    return done
