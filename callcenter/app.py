"""The composition root: builds every long-lived object once, wires them, and owns their lifetimes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import pwd
import signal
from collections.abc import Sequence
from pathlib import Path

import structlog

from callcenter.agi import FastAGIServer, Route
from callcenter.ami.link import AMILink, AMISettings
from callcenter.ami.queues import Duty, QueueSync
from callcenter.asterisk.process import AsteriskProcess
from callcenter.asterisk.prompts import all_prompts, ensure_prompts
from callcenter.asterisk.render import InstanceLayout, render_instance
from callcenter.asterisk.root import ensure_root
from callcenter.asterisk.sounds import SoundLengths
from callcenter.config import Config, ami_secret_path, ensure_secret, require_ami_secret
from callcenter.duty import AgentDuty
from callcenter.evaluation.policy import member_penalty
from callcenter.evaluation.summaries import summary_score
from callcenter.flows.agent import RangOutFlow, RateCallerFlow, ScreenFlow
from callcenter.flows.agent_menu import AgentMenuFlow
from callcenter.flows.ask import Asking
from callcenter.flows.deps import FlowDeps, utcnow
from callcenter.flows.inbound import InboundFlow
from callcenter.flows.pending import Recorder
from callcenter.flows.queueing import AfterQueueFlow, CallEndFlow, ConnectedFlow
from callcenter.flows.selftest import selftest
from callcenter.reaper import CallReaper
from callcenter.roster import AgentSpec
from callcenter.roster_sync import RosterSync, load_config_into
from callcenter.store import Evaluation, Store, opening
from callcenter.store.models import CLIENT_TO_AGENT

log = structlog.get_logger(__name__)


async def open_serving_store(config: Config, agents: Sequence[AgentSpec], *, force: bool = False) -> Store:
    """The serving process's store: created or migrated, keeping the decayed ratings for the configured half-life,
    with the config's categories, services and roster loaded (SyncRefused for a drastic change unless ``force``)."""
    store = await opening.open_serving(
        config.store.target, half_life_days=config.policy.half_life_days, busy_timeout=config.store.busy_timeout
    )
    try:
        await load_config_into(store, config, agents, force=force)
    except BaseException:
        await store.close()
        raise
    return store


async def migrate_and_sync(config: Config, agents: Sequence[AgentSpec], *, force: bool = False) -> RosterSync:
    """`db migrate`, `agents sync`: create or upgrade the schema and load the config's roster, leaving the rating
    half-life to the serving process."""
    async with await opening.open_migrated(config.store.target, busy_timeout=config.store.busy_timeout) as store:
        return await load_config_into(store, config, agents, force=force)


class CallCenter:
    """The running service: the store, the FastAGI server and the AMI link."""

    def __init__(self, config: Config, agents: Sequence[AgentSpec], *, force: bool = False) -> None:
        self.config = config
        self.agents = tuple(agents)
        # load the roster even if it deactivates every agent or renames a service with calls (--force)
        self.force = force
        self.store: Store | None = None
        self.ami = AMILink(
            AMISettings(
                host=config.ami.host,
                port=config.ami.port,
                username=config.ami.username,
                secret=config.ami.secret,
                connect_timeout=config.ami.connect_timeout,
                action_timeout=config.ami.action_timeout,
                ping_interval=config.ami.ping_interval,
                ping_timeout=config.ami.ping_timeout,
                reconnect_min=config.ami.reconnect_min,
                reconnect_max=config.ami.reconnect_max,
            )
        )
        self.agi: FastAGIServer | None = None
        self.reaper: CallReaper | None = None
        self._reaping: asyncio.Task[None] | None = None
        self._writing: asyncio.Task[None] | None = None
        self.recorder: Recorder | None = None
        self.policy = config.policy
        self.queues = QueueSync(self.ami, self.agents, self.penalties, self.duties)
        self.duty = AgentDuty(self._open_store, self.queues, config.agents.initial_state, utcnow)

    def sounds_root(self) -> Path:
        """Where the Asterisk we serve finds its sounds: the sandbox's root, or this host's for an external one
        (FastAGI stays on loopback, so an external Asterisk runs here too; if not, every sound counts as unknown)."""
        return self.config.asterisk.root if self.config.asterisk.mode == "sandbox" else Path("/")

    def _open_store(self) -> Store:
        assert self.store is not None, "the store is opened by start()"
        return self.store

    async def duties(self, agent_ids: Sequence[str]) -> dict[str, Duty]:
        return await self.duty.duties(agent_ids)

    def routes(self, deps: FlowDeps) -> dict[str, Route]:
        return {
            "selftest": selftest,
            "inbound": InboundFlow(deps),
            "connected": ConnectedFlow(deps),
            "after-queue": AfterQueueFlow(deps),
            "call-end": CallEndFlow(deps),
            "screen": ScreenFlow(deps),
            "rate-caller": RateCallerFlow(deps),
            "rang-out": RangOutFlow(deps),
            "agent-menu": AgentMenuFlow(deps),
        }

    def flow_deps(self, store: Store, recorder: Recorder) -> FlowDeps:
        c = self.config
        return FlowDeps(
            recorder=recorder,
            store=store,
            presence=lambda: self.queues.presence,
            policy=self.policy,
            asking=Asking(c.journey.input_timeout, c.journey.attempts),
            categories=tuple(k.id for k in c.categories),
            services=tuple(s.id for s in c.services),
            offer_count=c.journey.offer_count,
            on_agent_rated=self.queues.agent_rated,
            withdraw=self.queues.withdraw_caller,
            remind_days=c.journey.remind_days,
            rules=c.rules,
            duty=self.duty,
            agents=c.agents,
            selfservice=c.selfservice,
        )

    async def penalties(self, agent_ids: Sequence[str]) -> dict[str, int]:
        """Each agent's penalty in the shared queues, from callers' ratings of them."""
        assert self.store is not None
        summaries = await self.store.agent_summaries(agent_ids)
        categories = tuple(k.id for k in self.config.categories)
        return {
            agent_id: member_penalty(summary_score(summary, categories, self.policy), self.policy)
            for agent_id, summary in summaries.items()
        }

    async def start(self) -> None:
        require_ami_secret(self.config)
        self.store = await open_serving_store(self.config, self.agents, force=self.force)
        self.recorder = Recorder(
            # [store] journal: by default beside the SQLite file it belongs to (another store, another journal)
            self.store,
            self.config.store.journal,
            on_stored=self._rated_later,
        )
        self.recorder.load()
        try:
            # the offers need to know who is on duty even if AMI never comes up
            await self.queues.load_duty()
            # AMI before FastAGI: a wrong secret or a missing Asterisk is reported before any call is taken
            await self.ami.start()
            c = self.config.agi
            self.agi = FastAGIServer(
                self.routes(self.flow_deps(self.store, self.recorder)),
                host=c.host,
                port=c.port,
                header_timeout=c.header_timeout,
                command_timeout=c.command_timeout,
                session_timeout=c.session_timeout,
                max_sessions=c.max_sessions,
                # every media command's reply deadline follows what it plays: read each sound's length once
                sounds=await asyncio.to_thread(SoundLengths.of_root, self.sounds_root()),
                peer_uids=self.asterisk_uids(),
            )
            await self.agi.start()
            # calls left open by a stop, a crash or an Asterisk restart: closed now and whenever it happens again
            self.reaper = CallReaper(
                self.store,
                self.ami,
                self.queue_log(),
                utcnow,
                interval=self.config.journey.reap_interval,
                journaled=self.recorder.waiting,
            )
            self._reaping = asyncio.create_task(self.reaper.run(), name="call-reaper")
            self._writing = asyncio.create_task(self.recorder.run(), name="journal")
        except BaseException:
            await self.stop()
            raise
        log.info(
            "callcenter_started",
            fastagi=f"{c.host}:{self.agi.port}",
            ami=f"{self.config.ami.host}:{self.config.ami.port}",
            store=self.config.store.shown,
            agents=len(self.agents),
        )

    def asterisk_uids(self) -> frozenset[int] | None:
        """The local users FastAGI serves: Asterisk's (agi/peers.py says why)."""
        if self.config.agi.peer_check == "off":
            return None
        if self.config.asterisk.mode == "sandbox":
            return frozenset({0})  # the sandbox Asterisk runs as root in its chroot
        try:
            return frozenset({pwd.getpwnam("asterisk").pw_uid})
        except KeyError:
            log.warning("agi_peer_check_off", reason="no local user 'asterisk': set [agi] peer_check = \"off\"")
            return None

    def queue_log(self) -> Path:
        a = self.config.asterisk
        if a.queue_log is not None:
            return a.queue_log
        if a.mode == "sandbox":
            return InstanceLayout(a.root, a.instance).queue_log
        return Path("/var/log/asterisk/queue_log")

    async def _rated_later(self, evaluation: Evaluation) -> None:
        if evaluation.direction == CLIENT_TO_AGENT:
            await self.queues.agent_rated(evaluation.agent_id)

    async def stop(self) -> None:
        if self._writing is not None:
            self._writing.cancel()
            await asyncio.gather(self._writing, return_exceptions=True)
            self._writing = None
        if self._reaping is not None:
            self._reaping.cancel()
            await asyncio.gather(self._reaping, return_exceptions=True)
            self._reaping = None
        if self.agi is not None:
            await self.agi.stop(grace=self.config.agi.drain_seconds)
            self.agi = None
        await self.queues.close()
        await self.ami.close()
        if self.store is not None:
            await self.store.close()
            self.store = None
        log.info("callcenter_stopped")

    async def __aenter__(self) -> CallCenter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@dataclasses.dataclass
class Sandbox:
    """A private Asterisk for this config: root, prompts, rendered config, secrets, the process."""

    config: Config
    project_dir: Path
    agents: Sequence[AgentSpec]
    layout: InstanceLayout | None = None
    process: AsteriskProcess | None = None

    def with_secrets(self) -> Config:
        """The config with the service's AMI secret, generating it (outside git) on first use."""
        if self.config.ami.secret:
            return self.config
        secret = ensure_secret(ami_secret_path(self.config))
        return dataclasses.replace(self.config, ami=dataclasses.replace(self.config.ami, secret=secret))

    def driver_secret(self) -> str:
        return ensure_secret(ami_secret_path(self.config, self.config.asterisk.driver_username))

    async def prepare(self, layout: InstanceLayout | None = None) -> str:
        version = await ensure_root(self.config.asterisk.root)
        await ensure_prompts(self.config.asterisk.root, all_prompts(self.config, self.agents))
        self.config = self.with_secrets()
        self.layout = render_instance(self.config, self.project_dir, self.agents, self.driver_secret(), layout)
        return version

    async def start(self, *, foreground: bool = True) -> None:
        assert self.layout is not None, "prepare() first"
        self.process = AsteriskProcess(self.layout)
        await self.process.start(self.config.asterisk.boot_timeout, foreground=foreground)

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.stop()


async def wait_for_signal(stop: asyncio.Event) -> None:
    """Return on SIGINT/SIGTERM (Ctrl-C in `make run`, systemd's stop)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
