"""`callcenter cluster run` (`make cluster`): a whole cluster on this machine, on loopback, and one scripted call
through Kamailio. PostgreSQL, the nodes' Asterisks and Kamailio are this process's children; each node's service is
a `callcenter serve` process of its own (its log in the node's state directory), as on separate machines."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from callcenter.ami.link import AMILink, AMISettings
from callcenter.asterisk.prompts import all_prompts
from callcenter.cli.common import Invocation, project_dir
from callcenter.cli.service import stop_on_signals
from callcenter.cluster.bus import notify_once
from callcenter.cluster.demo import cluster_demo_call
from callcenter.cluster.local import LocalCluster
from callcenter.config import ConfigError
from callcenter.demo.run import DEMO_CALLER
from callcenter.demo.script import Driver
from callcenter.demo.seed import DEMO_HISTORY, seed_history
from callcenter.store.postgres import PostgresStore

NODE_NAMES = ("node-a", "node-b", "node-c", "node-d")


def add_commands(sub: Any) -> None:
    c = sub.add_parser("cluster", help="several Asterisk nodes behind Kamailio on one store").add_subparsers(
        title="cluster commands", metavar="COMMAND"
    )
    s = c.add_parser(
        "run",
        help="start PostgreSQL, sandbox Asterisk nodes, Kamailio and a service per node on loopback, and place a "
        "scripted call through Kamailio (Ctrl-C stops everything)",
    )
    s.add_argument("--nodes", type=int, default=2, choices=range(2, len(NODE_NAMES) + 1), help="how many (2)")
    s.add_argument("--no-demo", action="store_true", help="skip the demo ratings and the scripted call")
    s.set_defaults(handler=cmd_cluster_run)


async def cmd_cluster_run(run: Invocation) -> int:
    config = run.config
    if run.source.path is None:
        raise ConfigError("cluster run needs a config file: --config FILE (make cluster uses the demo's)")
    state = config.state_dir / "cluster"
    local = LocalCluster(
        project_dir(),
        run.source.path.resolve(),
        state,
        names=NODE_NAMES[: run.args.nodes],
        # Kamailio takes the address callers and phones use (the one-node sandbox's SIP port), each node's console
        # the next web port
        proxy_port=config.asterisk.sip_port,
        web_ports=[config.web.port + n if config.web.port else 0 for n in range(run.args.nodes)],
        env={k: v for k, v in os.environ.items() if k.startswith("CALLCENTER_")},
    )
    services: list[asyncio.subprocess.Process] = []
    try:
        await local.start()
        print(f"cluster: PostgreSQL {local.store_url}, Kamailio udp {local.proxy}", flush=True)
        for node in local.nodes:
            services.append(await start_service(local, node.name))
        print(banner(local), flush=True)
        if not run.args.no_demo:
            async with await PostgresStore.open_migrated(local.store_url) as store:
                seeded = await seed_history(store, DEMO_HISTORY)
            if seeded:
                print(f"seeded {seeded} past rated calls for the demo agents", flush=True)
                # written behind the services' backs: every node reads those agents again (as after a node's rating)
                for agent_id in DEMO_HISTORY:
                    await notify_once(local.store_url, "seed", "rated", agent_id)
            async with drivers(local) as nodes:
                first = nodes[local.nodes[0].name]
                prompts = all_prompts(local.nodes[0].config, local.nodes[0].agents)
                await cluster_demo_call(
                    first,
                    nodes,
                    proxy=local.proxy,
                    service_number=config.asterisk.service_number,
                    number=DEMO_CALLER,
                    prompts=prompts,
                    out=lambda line: print(line, flush=True),
                )
        print("\nPress Ctrl-C to stop the cluster.", flush=True)
        stop = asyncio.Event()
        with stop_on_signals(stop):
            await stop.wait()
    finally:
        for proc in services:
            if proc.returncode is None:
                proc.terminate()
        for proc in services:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 30)
        await local.stop()
    return 0


async def start_service(local: LocalCluster, name: str) -> asyncio.subprocess.Process:
    """The node's `callcenter serve`, its log in the node's state directory; returns once it serves."""
    argv, env = local.service_argv(local.node(name))
    log_path = local.state_dir / name / "service.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=log, stderr=log, start_new_session=True)
    async with asyncio.timeout(90):
        while b'"callcenter_started"' not in log_path.read_bytes():
            if proc.returncode is not None:
                raise ConfigError(f"{name}'s service exited ({proc.returncode}); see {log_path}")
            await asyncio.sleep(0.2)
    return proc


@contextlib.asynccontextmanager
async def drivers(local: LocalCluster) -> AsyncIterator[dict[str, Driver]]:
    links: dict[str, Driver] = {}
    try:
        for node in local.nodes:
            c = node.config
            link = AMILink(
                AMISettings(c.ami.host, c.ami.port, c.asterisk.driver_username, node.sandbox.driver_secret())
            )
            links[node.name] = Driver(link)
            await link.start()
        yield links
    finally:
        for d in links.values():
            await d.link.close()


def banner(local: LocalCluster) -> str:
    lines = ["\nthe cluster is running (every address on loopback):"]
    lines.append(
        f"  Kamailio  udp {local.proxy}  callers dial {local.nodes[0].config.asterisk.service_number} here; "
        f"softphones register here (agent1004, password in {local.state_dir / 'secrets' / 'sip-agent1004.secret'})"
    )
    for node in local.nodes:
        c = node.config
        web = f"  web http://{c.web.host}:{c.web.port}/" if c.web.enabled and c.web.port else ""
        lines.append(
            f"  {node.name}    SIP udp {node.sip}  AMI tcp {c.ami.host}:{c.ami.port}  FastAGI tcp {c.agi.host}:"
            f"{c.agi.port}{web}\n            service log {local.state_dir / node.name / 'service.log'}, Asterisk "
            f"logs {node.layout.log_dir}"
        )
    lines.append(f"  store     {local.store_url}")
    return "\n".join(lines)
