"""A whole cluster on one machine, on loopback: a throwaway PostgreSQL, N sandbox Asterisk nodes, Kamailio in front,
and one ``callcenter serve`` process per node. ``callcenter cluster run`` (``make cluster``) and the cluster tests
(``tests/asterisk/test_cluster.py``) start it the same way.

Each node is the same config file with its own ``CALLCENTER_*`` overrides: the instance name (Asterisk's
``systemname``, the node's name in the store), its ports, its state directory; and the cluster's shared ones: the
store's URL and Kamailio's address.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from callcenter.asterisk.render import InstanceLayout
from callcenter.asterisk.sandbox import Sandbox
from callcenter.cluster.agents import through_proxy
from callcenter.cluster.kamailio import KamailioProcess, KamailioSetup, render_kamailio
from callcenter.cluster.postgres import Cluster, free_port
from callcenter.config import Config, load_config
from callcenter.config.roster import load_roster
from callcenter.domain.agents import AgentSpec


@dataclass
class Node:
    name: str
    env: dict[str, str]  # the CALLCENTER_* overrides of this node's service
    config: Config
    agents: tuple[AgentSpec, ...]
    sandbox: Sandbox

    @property
    def sip(self) -> str:
        a = self.config.asterisk
        return f"{a.sip_host}:{a.sip_port}"

    @property
    def layout(self) -> InstanceLayout:
        assert self.sandbox.layout is not None
        return self.sandbox.layout


@dataclass
class LocalCluster:
    project: Path
    config_path: Path
    state_dir: Path
    names: Sequence[str] = ("node-a", "node-b")
    # more overrides for every node (short timeouts in the tests), and the roster file if not the config's
    env: Mapping[str, str] = field(default_factory=dict)
    roster: Path | None = None
    proxy_port: int = 0
    web_ports: Sequence[int] = ()  # one per node; default: any free port (0)
    nodes: list[Node] = field(default_factory=list)
    postgres: Cluster | None = None
    kamailio: KamailioProcess | None = None

    @property
    def proxy(self) -> str:
        return f"127.0.0.1:{self.proxy_port}"

    @property
    def store_url(self) -> str:
        assert self.postgres is not None
        return self.postgres.url

    async def start(self) -> None:
        """PostgreSQL, every node's Asterisk, Kamailio (the services: ``service_argv`` / ``start_service``)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.proxy_port = self.proxy_port or free_port(socket.SOCK_DGRAM)
        # in /tmp, not the state directory: the postgres user runs it and must reach it (a test's directory, and
        # often a checkout, is the owner's alone)
        self.postgres = Cluster(Path(tempfile.mkdtemp(prefix="callcenter-cluster-pg-")))
        await asyncio.to_thread(self.postgres.start)
        for index, name in enumerate(self.names):
            env = {
                **self.env,
                "CALLCENTER_STATE_DIR": str(self.state_dir / name),
                "CALLCENTER_ASTERISK_INSTANCE": name,
                "CALLCENTER_ASTERISK_SIP_PORT": str(free_port(socket.SOCK_DGRAM)),
                "CALLCENTER_AMI_PORT": str(free_port()),
                "CALLCENTER_AGI_PORT": str(free_port()),
                "CALLCENTER_WEB_PORT": str(self.web_ports[index] if index < len(self.web_ports) else 0),
                "CALLCENTER_STORE_URL": self.store_url,
                "CALLCENTER_CLUSTER_ENABLED": "true",
                "CALLCENTER_CLUSTER_PROXY": self.proxy,
            }
            if self.roster is not None:
                env["CALLCENTER_ROSTER"] = str(self.roster)
            config = load_config(self.config_path, {**os.environ, **env})
            assert config.roster is not None, "the cluster's config names a roster"
            agents = through_proxy(load_roster(config.roster, {s.id for s in config.services}), self.proxy)
            sandbox = Sandbox(config, self.project, agents)
            await sandbox.prepare(InstanceLayout(config.asterisk.root, name))
            await sandbox.start(foreground=True)
            node = Node(name, env, sandbox.config, agents, sandbox)
            # the service reads the same AMI secret the sandbox rendered (generated into the node's state dir)
            self.nodes.append(node)
        setup = KamailioSetup(
            listen=self.proxy,
            nodes=tuple(n.sip for n in self.nodes),
            directory=self.state_dir / "kamailio",
            secrets=self.state_dir / "secrets",
        )
        render_kamailio(setup, self.project, self.nodes[0].agents)
        self.kamailio = KamailioProcess(setup)
        await self.kamailio.start()

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def service_argv(self, node: Node) -> tuple[list[str], dict[str, str]]:
        """How to run ``node``'s service: the command and its environment (JSON logs on stdout)."""
        env = {**os.environ, **node.env, "CALLCENTER_LOG_FORMAT": "json"}
        return [sys.executable, "-m", "callcenter.cli", "--config", str(self.config_path), "serve"], env

    async def stop(self) -> None:
        """Everything started, whatever fails on the way; the nodes' instance directories are removed."""
        if self.kamailio is not None:
            with contextlib.suppress(Exception):
                await self.kamailio.stop()
        for node in self.nodes:
            with contextlib.suppress(Exception):
                await node.sandbox.stop()
            # Asterisk's logs (messages.log, queue_log) kept in the node's state directory, its instance removed
            with contextlib.suppress(OSError):
                shutil.copytree(node.layout.log_dir, self.state_dir / node.name / "asterisk-logs", dirs_exist_ok=True)
            shutil.rmtree(node.layout.host_dir, ignore_errors=True)
        if self.postgres is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.postgres.stop)
            shutil.rmtree(self.postgres.root, ignore_errors=True)
