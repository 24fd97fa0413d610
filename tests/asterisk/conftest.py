"""A real Asterisk 22 for the whole session, on free loopback ports, plus a fresh service per test."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from callcenter.ami.link import AMIActionError, AMILink, AMISettings
from callcenter.app import CallCenter, serving
from callcenter.asterisk.render import InstanceLayout
from callcenter.asterisk.sandbox import Sandbox
from callcenter.config import Config, StoreConfig, load_config
from callcenter.config.roster import load_roster
from callcenter.demo.script import Driver
from callcenter.domain.agents import AgentSpec
from callcenter.store.opening import StoreUrl

PROJECT = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("CALLCENTER_ASTERISK_ROOT", "/var/cache/callcenter/asterisk-root"))


def store_at(store: StoreConfig, path: Path) -> StoreConfig:
    """The store config with its SQLite file at ``path``. Loading derives ``url`` and ``journal`` from the file the
    config names, so replacing ``path`` alone would leave every test on the session's one database and journal."""
    return dataclasses.replace(
        store, url=StoreUrl.sqlite(path).url, path=path, journal=path.with_name(path.name + ".pending.jsonl")
    )


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class AsteriskUnderTest:
    sandbox: Sandbox
    config: Config
    agents: tuple[AgentSpec, ...]
    driver_secret: str
    # the environment the config was loaded with: a service run as a process of its own uses it too
    env: dict[str, str]

    @property
    def layout(self) -> InstanceLayout:
        assert self.sandbox.layout is not None
        return self.sandbox.layout


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def asterisk(state_dir: Path) -> AsyncIterator[AsteriskUnderTest]:
    if os.geteuid() != 0:
        pytest.fail("the asterisk tests run Asterisk in a chroot and need root (CI runs as root)")
    env = {
        "CALLCENTER_STATE_DIR": str(state_dir),
        "CALLCENTER_AMI_PORT": str(free_port()),
        "CALLCENTER_AGI_PORT": str(free_port()),
        "CALLCENTER_WEB_PORT": "0",
        "CALLCENTER_ASTERISK_SIP_PORT": str(free_port(socket.SOCK_DGRAM)),
        "CALLCENTER_ASTERISK_ROOT": str(ROOT),
        "CALLCENTER_AMI_RECONNECT_MIN": "0.2",
        "CALLCENTER_AMI_RECONNECT_MAX": "1",
        # short waits keep no-answer and no-input scenarios quick; the flows are the same
        "CALLCENTER_JOURNEY_RING_TIMEOUT": "4",
        "CALLCENTER_JOURNEY_INPUT_TIMEOUT": "2",
        # a lockout test reaches it in two calls
        "CALLCENTER_SELFSERVICE_PIN_MAX_FAILURES": "5",
    }
    config = load_config(PROJECT / "callcenter/demo/callcenter.toml", env)
    agents = load_roster(PROJECT / "callcenter/demo/agents.toml", {s.id for s in config.services})
    sandbox = Sandbox(config, PROJECT, agents)
    layout = InstanceLayout(ROOT, f"t{os.getpid()}")
    await sandbox.prepare(layout)
    await sandbox.start(foreground=True)
    try:
        yield AsteriskUnderTest(sandbox, sandbox.config, agents, sandbox.driver_secret(), env)
    finally:
        await sandbox.stop()
        # keep Asterisk's logs (messages.log, queue_log) next to the test's state for post-mortems
        shutil.copytree(layout.log_dir, state_dir / "asterisk-logs", dirs_exist_ok=True)
        shutil.rmtree(layout.host_dir, ignore_errors=True)


@pytest_asyncio.fixture(loop_scope="session")
async def center(asterisk: AsteriskUnderTest, tmp_path: Path) -> AsyncIterator[CallCenter]:
    config = dataclasses.replace(
        asterisk.config,
        store=store_at(asterisk.config.store, tmp_path / "cc.db"),
        # the session's instance is not the config's: the reaper reads that instance's queue_log
        asterisk=dataclasses.replace(asterisk.config.asterisk, queue_log=asterisk.layout.queue_log),
    )
    async with serving(config, asterisk.agents) as running:
        # queue members are (re)added by the resync that follows login: tests start once Asterisk has them
        await running.queues.wait_resynced(1, timeout=15)
        yield running
        # whatever the scenario did, the rating totals must equal what the evaluation rows say
        assert running.store is not None
        assert await running.store.check_invariants() == []
        # and the ranking the offers read must be the one a full sort of the store gives
        assert await running.rankings.check() == []


@pytest_asyncio.fixture(loop_scope="session")
async def driver(asterisk: AsteriskUnderTest) -> AsyncIterator[Driver]:
    c = asterisk.config
    link = AMILink(AMISettings(c.ami.host, c.ami.port, c.asterisk.driver_username, asterisk.driver_secret))
    drv = Driver(link)
    await link.start()
    try:
        yield drv
    finally:
        await link.close()


SCRIPTED_AGENTS = ("1001", "1002", "1003")


@pytest_asyncio.fixture(loop_scope="session")
async def scripted_agents(driver: Driver) -> AsyncIterator[None]:
    """The demo's scripted agents accept, rate 4 and talk for a second; afterwards no call is left behind and no
    member stays paused, whatever the test did."""
    for agent in SCRIPTED_AGENTS:
        await driver.set_global(f"CC_DEMO_{agent}", "accept")
        await driver.set_global(f"CC_DEMO_SCORE_{agent}", "4")
    await driver.set_global("CC_DEMO_TALK", "1")
    yield
    await driver.link.send({"Action": "Hangup", "Channel": "/^(Local|PJSIP)\\//"})
    for agent in SCRIPTED_AGENTS:
        # a test may have logged the agent out (no member left to unpause): the next service's resync adds it
        with contextlib.suppress(AMIActionError):
            await driver.link.send(
                {"Action": "QueuePause", "Interface": f"Local/{agent}@cc-agent-offer/n", "Paused": "false"}
            )
