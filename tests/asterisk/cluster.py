"""A cluster for the tests, started by them on loopback (``callcenter/cluster/local.py``): a throwaway PostgreSQL,
two sandbox Asterisk 22 nodes, Kamailio in front, one ``callcenter serve`` process per node, and ten SIP
softphone agents (SIPp) registered with Kamailio and shared by both nodes.

Callers are SIPp too, dialling the service number at Kamailio, which spreads them over the nodes; a caller's test
finds which node took the call by the dialog's Call-ID on either node's AMI, then steers it like the one-node SIP
tests (``sip_caller.py``): each keypress released once that node's AMI shows the right ``Read()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from callcenter.ami.link import AMILink, AMISettings
from callcenter.cluster.local import LocalCluster, Node
from callcenter.demo.script import Driver
from callcenter.store.postgres import PostgresStore
from tests.asterisk.conftest import PROJECT, ROOT
from tests.asterisk.service import ServiceProcess
from tests.asterisk.sip_caller import SipCaller, render_scenario, trunk_channel
from tests.asterisk.sipp_support import TelephoneEvents, Twin, start_sipp, stop_sipp, write_pcap

SCENARIOS = Path(__file__).parent / "sipp"
ROSTER = Path(__file__).parent / "cluster-agents.toml"
AGENTS = tuple(str(n) for n in range(2001, 2011))
# short clocks: a dead node is seen within seconds, a lease outlives a few lost beats
CLUSTER_ENV = {
    "CALLCENTER_ASTERISK_ROOT": str(ROOT),
    "CALLCENTER_AMI_RECONNECT_MIN": "0.2",
    "CALLCENTER_AMI_RECONNECT_MAX": "1",
    "CALLCENTER_JOURNEY_RING_TIMEOUT": "8",
    "CALLCENTER_JOURNEY_INPUT_TIMEOUT": "3",
    "CALLCENTER_JOURNEY_REAP_INTERVAL": "2",
    "CALLCENTER_CLUSTER_HEARTBEAT_SECONDS": "0.5",
    "CALLCENTER_CLUSTER_LEASE_SECONDS": "4",
    "CALLCENTER_CLUSTER_DEAD_AFTER_SECONDS": "3",
    "CALLCENTER_CLUSTER_RESYNC_SECONDS": "10",
}
# per test run, like the one-node tests' t<pid>: the instance directories and uniqueid prefixes of a run never meet
# another run's (or `make cluster`'s node-a and node-b)
NODE_A, NODE_B = f"a{os.getpid()}", f"b{os.getpid()}"
ACCEPT_MS = 1500
TALK_MS = 2000


@dataclass
class Phone:
    agent: str
    sipp: asyncio.subprocess.Process
    twin: Twin
    work: Path


@dataclass
class ClusterWorld:
    local: LocalCluster
    work: Path
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    drivers: dict[str, Driver] = field(default_factory=dict)
    phones: list[Phone] = field(default_factory=list)
    store: PostgresStore | None = None

    @property
    def db(self) -> PostgresStore:
        assert self.store is not None
        return self.store

    async def start_service(self, name: str) -> ServiceProcess:
        argv, env = self.local.service_argv(self.local.node(name))
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        service = ServiceProcess(proc)
        service._reader = asyncio.create_task(service._read())
        await service.logged("callcenter_started", timeout=60)
        self.services[name] = service
        return service

    async def stop_service(self, name: str) -> None:
        service = self.services.pop(name, None)
        if service is None:
            return
        if service.proc.returncode is None:
            service.terminate()
            try:
                await service.exited(30)
            except TimeoutError:
                service.kill()
                await service.proc.wait()
        if service._reader is not None:
            await service._reader

    async def connect_driver(self, node: Node) -> Driver:
        c = node.config
        link = AMILink(AMISettings(c.ami.host, c.ami.port, c.asterisk.driver_username, node.sandbox.driver_secret()))
        driver = Driver(link)
        await link.start()
        self.drivers[node.name] = driver
        return driver

    async def register_phones(self) -> None:
        """Every agent's softphone registered with Kamailio (SIPp, one process each)."""
        secrets = self.local.state_dir / "secrets"
        for agent in AGENTS:
            work = self.work / f"phone-{agent}"
            work.mkdir(parents=True, exist_ok=True)
            # registered for the whole module: the one-node scenario's 60 s registration, made to last
            register = work / "agent-register.xml"
            register.write_text((SCENARIOS / "agent-register.xml").read_text().replace("Expires: 60", "Expires: 3600"))
            ringing = work / "cluster-agent-phone.xml"
            ringing.write_text(
                (SCENARIOS / "cluster-agent-phone.xml")
                .read_text()
                .replace("{{accept_ms}}", str(ACCEPT_MS))
                .replace("{{talk_ms}}", str(TALK_MS))
            )
            rtp = TelephoneEvents()
            write_pcap(work / "key-accept.pcap", rtp.press("1"))
            write_pcap(work / "key-accept-again.pcap", rtp.press("1"))
            password = (secrets / f"sip-agent{agent}.secret").read_text().strip()
            twin = Twin()
            twin_port = await twin.start()
            sipp = await start_sipp(
                self.local.proxy,
                work,
                [*("-sf", str(register), "-oocsf", str(ringing)), *self.phone_auth(agent, password)],
                twin_port=twin_port,
                backstop="3600s",
            )
            self.phones.append(Phone(agent, sipp, twin, work))
            # one at a time: a SIPp binds more ports than the ones it is given (its media port + 2), which the next
            # SIPp's free-port probe could otherwise hand out again
            registered = await twin.receive(sipp, timeout=20)
            assert registered.get("Step") == "registered", (agent, registered)

    @staticmethod
    def phone_auth(agent: str, password: str) -> list[str]:
        return ["-s", f"agent{agent}", "-au", f"agent{agent}", "-ap", password, "-aa"]

    async def close(self) -> None:
        for phone in self.phones:
            with contextlib.suppress(Exception):
                await stop_sipp(phone.sipp, phone.twin, phone.work)
        for driver in self.drivers.values():
            with contextlib.suppress(Exception):
                await driver.link.close()
        for name in list(self.services):
            with contextlib.suppress(Exception):
                await self.stop_service(name)
        if self.store is not None:
            await self.store.close()
        await self.local.stop()

    @contextlib.asynccontextmanager
    async def caller(self, work: Path, keys: Sequence[str], *, from_user: str) -> AsyncIterator[SipCaller]:
        """A SIPp caller dialling the service number at Kamailio; yields once a node answered it, steered on that
        node's AMI."""
        work.mkdir(parents=True, exist_ok=True)
        scenario = render_scenario(work, keys, from_user=from_user, name="SIP caller", headers=())
        marks = {name: d.log.mark() for name, d in self.drivers.items()}
        for attempt in range(3):
            twin = Twin()
            twin_port = await twin.start()
            sipp = await start_sipp(
                self.local.proxy, work, ["-sf", str(scenario), "-s", "800", "-aa"], twin_port=twin_port
            )
            try:
                answered = await twin.receive(sipp, timeout=30)
                break
            except AssertionError:
                # forty SIPps starting together: one may find a port it was given taken by another's media
                # (each binds more than the ports it is told) and exit at once; that caller dials again
                errors = (work / "errors.log").read_text(errors="replace") if (work / "errors.log").exists() else ""
                await stop_sipp(sipp, twin, work)
                if "Address already in use" not in errors or attempt == 2:
                    raise
        try:
            assert answered.get("Step") == "answered", answered
            name, channel, uniqueid = await self.find_call(answered["Call-ID"], marks)
            driver = self.drivers[name]
            caller = SipCaller(
                driver, uniqueid, from_user, channel=channel, twin=twin, sipp=sipp, call_id=answered["Call-ID"]
            )
            caller.keys = list(keys)
            caller._seen = marks[name]
            yield caller
        finally:
            await stop_sipp(sipp, twin, work)

    async def find_call(self, call_id: str, marks: dict[str, int]) -> tuple[str, str, str]:
        """(node, channel, uniqueid) of the SIP dialog ``call_id``, on whichever node it landed."""

        async def on(name: str) -> tuple[str, str, str]:
            channel, uniqueid = await trunk_channel(self.drivers[name], call_id, marks[name], timeout=20)
            return name, channel, uniqueid

        tasks = [asyncio.create_task(on(name)) for name in self.drivers]
        try:
            for done in asyncio.as_completed(tasks):
                with contextlib.suppress(TimeoutError, AssertionError):
                    return await done
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        raise AssertionError(f"no node has the dialog {call_id}")


@contextlib.asynccontextmanager
async def cluster_world(work: Path) -> AsyncIterator[ClusterWorld]:
    if os.geteuid() != 0:
        raise AssertionError("the cluster tests run Asterisk in a chroot and PostgreSQL as postgres: they need root")
    local = LocalCluster(
        PROJECT,
        PROJECT / "callcenter/demo/callcenter.toml",
        work / "state",
        names=(NODE_A, NODE_B),
        env=CLUSTER_ENV,
        roster=ROSTER,
    )
    world = ClusterWorld(local, work)
    try:
        await local.start()
        for node in local.nodes:
            await world.connect_driver(node)
        for node in local.nodes:
            # one at a time: the first migrates the store
            await world.start_service(node.name)
        world.store = await PostgresStore.open_migrated(local.store_url, busy_timeout_ms=5000)
        await world.register_phones()
        yield world
    finally:
        await world.close()
