"""`agents list|sync`: the roster, with each agent's presence, and loading it into the store."""

from __future__ import annotations

import json
from typing import Any

from callcenter.app import migrate_and_sync
from callcenter.cli.common import Invocation, add_force, reading, store_used
from callcenter.domain.agents import with_initial


def add_commands(sub: Any) -> None:
    agents = sub.add_parser("agents", help="the agent roster").add_subparsers(
        title="agents commands", metavar="COMMAND"
    )
    s = agents.add_parser("list", help="list agents, their services and how they are reached")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(handler=cmd_agents_list)
    s = agents.add_parser("sync", help="load the config's roster, services and categories into the store")
    add_force(s)
    s.set_defaults(handler=cmd_agents_sync)


async def cmd_agents_list(run: Invocation) -> int:
    agents, config = run.agents, run.config
    ids = [a.id for a in agents]
    async with await reading(run) as store:
        presence = with_initial(await store.get_presence(ids), ids, config.agents.initial_state)

    def shown(agent_id: str) -> str:
        p = presence[agent_id]
        return f"paused ({p.reason})" if p.state == "paused" else p.state

    if run.args.json:
        print(
            json.dumps(
                [
                    {
                        "id": a.id,
                        "name": a.name,
                        "services": list(a.services),
                        "kind": a.kind,
                        "interface": a.interface,
                        "queue": a.own_queue,
                        "presence": presence[a.id].state,
                        "pause_reason": presence[a.id].reason,
                    }
                    for a in agents
                ],
                indent=2,
            )
        )
        return 0
    if not agents:
        print("no agents: set `roster` in the config to an agents TOML file")
        return 0
    print(f"{'ID':<8} {'NAME':<16} {'KIND':<9} {'INTERFACE':<32} {'PRESENCE':<18} SERVICES")
    for a in agents:
        print(f"{a.id:<8} {a.name:<16} {a.kind:<9} {a.interface:<32} {shown(a.id):<18} {', '.join(a.services)}")
    return 0


async def cmd_agents_sync(run: Invocation) -> int:
    done = await migrate_and_sync(run.config, run.agents, force=run.args.force)
    store_used(run, "migrated, roster loaded")
    print(f"roster loaded into {run.config.store.shown}: {done}")
    return 0
