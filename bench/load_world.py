"""A call center to load: a generated roster of scripted agents with spread ratings, a private Asterisk 22 instance
rendered from this project's config, and a driver that places many scripted callers at once.

Shared by the load benchmark (``python -m bench.load``) and the distribution tests
(``tests/asterisk/test_distribution.py``). The scripted agents are ``dialplan/cc-demo.conf``'s; their talk time is
the global ``CC_DEMO_TALK`` (seconds), or the caller's own ``CC_DEMO_CALL_TALK`` (``CallerScript.talk``), which
the agent's legs inherit.

Why not ``callcenter.demo.script.Driver``: it keeps every event in one list and each waiting caller rescans it on
every new event, which is fine for a handful of callers and quadratic for two hundred. Here every event is routed
once, by uniqueid, to the caller it concerns; queue and agent events are also kept in one timeline for the
figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import random
import shutil
import socket
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from panoramisk.message import Message

from callcenter.ami.link import AMIError, AMILink, AMISettings
from callcenter.app import open_serving_store
from callcenter.asterisk.render import InstanceLayout
from callcenter.asterisk.sandbox import Sandbox
from callcenter.config import Config, load_config
from callcenter.config.roster import load_roster
from callcenter.demo.script import read_files
from callcenter.demo.seed import seed_history
from callcenter.domain import naming
from callcenter.domain.agents import AgentSpec
from callcenter.ivr import speech

PROJECT = Path(__file__).resolve().parents[1]
ROOT = Path(os.environ.get("CALLCENTER_ASTERISK_ROOT", "/var/cache/callcenter/asterisk-root"))
DEMO_CONFIG = PROJECT / "callcenter/demo/callcenter.toml"
DEMO_ROSTER = PROJECT / "callcenter/demo/agents.toml"
# the demo's scripted agents who serve support (1004 is a softphone slot nobody registers, 1005 serves sales)
DEMO_SUPPORT = ("1001", "1002", "1003")
FIRST_GENERATED_ID = 2001
SERVICE = "support"
SERVICE_QUEUE = f"service-{SERVICE}"

# The queue and agent events the figures are made of (the timeline keeps these).
QUEUE_EVENTS = frozenset(
    {
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "AgentRingNoAnswer",
        "AgentDump",
        "QueueMemberStatus",
        # the dialplan's own (CallCenterAgentTaken: a chosen agent was taken by another caller meanwhile)
        "UserEvent",
    }
)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the roster and its ratings -------------------------------------------------------------------------------


def support_ids(agents: int) -> list[str]:
    """The ids of ``agents`` scripted agents serving support: the demo's three, then 2001, 2002, ..."""
    if agents < len(DEMO_SUPPORT):
        raise ValueError(f"at least {len(DEMO_SUPPORT)} agents (the demo's scripted ones)")
    return [*DEMO_SUPPORT, *(str(FIRST_GENERATED_ID + i) for i in range(agents - len(DEMO_SUPPORT)))]


def roster_toml(agents: int) -> str:
    """The demo roster plus generated scripted support agents, ``agents`` of them serving support in all."""
    lines = [DEMO_ROSTER.read_text(), "\n# generated for a load run: scripted support agents (dialplan/cc-demo.conf)"]
    for agent_id in support_ids(agents)[len(DEMO_SUPPORT) :]:
        lines += [
            "[[agent]]",
            f'id = "{agent_id}"',
            f'name = "Agent {agent_id}"',
            'services = ["support"]',
            f'dial = "Local/{agent_id}@cc-demo-agent/n"',
            "",
        ]
    return "\n".join(lines)


# per rating tier: the scores callers gave and how many calls; with the default policy (prior 3.5, weight 3,
# penalty_max 4) these land on shared-queue penalties 0, 1, 2 (no ratings: the prior) and 3
TIERS: tuple[tuple[tuple[int, int, int, int], int], ...] = (
    ((5, 5, 5, 5), 10),
    ((4, 4, 4, 4), 6),
    ((3, 3, 3, 3), 0),
    ((1, 1, 1, 1), 10),
)
TIER_SHARES = (0.2, 0.3, 0.3, 0.2)


def tiers(ids: Sequence[str], seed: int = 12) -> dict[str, int]:
    """A rating tier (0 best) per agent: shares as TIER_SHARES, shuffled so roster order is not rating order."""
    order = list(ids)
    random.Random(seed).shuffle(order)
    bounds = list(itertools.accumulate(round(s * len(order)) for s in TIER_SHARES))
    return {
        agent: next((t for t, bound in enumerate(bounds) if i < bound), len(TIERS) - 1) for i, agent in enumerate(order)
    }


def rating_history(tier_of: Mapping[str, int]) -> dict[str, list[tuple[int, int, int, int]]]:
    return {agent: [TIERS[t][0]] * TIERS[t][1] for agent, t in tier_of.items() if TIERS[t][1]}


# -- the world: config, Asterisk, store -----------------------------------------------------------------------


@dataclass
class World:
    """A private Asterisk with a generated roster, and the config a service for it runs with."""

    directory: Path
    config: Config
    agents: tuple[AgentSpec, ...]
    support: list[str]
    tier_of: dict[str, int]
    sandbox: Sandbox
    env: dict[str, str]  # CALLCENTER_* settings a service process needs (config file: DEMO_CONFIG)

    @property
    def layout(self) -> InstanceLayout:
        assert self.sandbox.layout is not None
        return self.sandbox.layout

    @property
    def driver_settings(self) -> AMISettings:
        c = self.config
        return AMISettings(c.ami.host, c.ami.port, c.asterisk.driver_username, self.sandbox.driver_secret())

    def asterisk_pid(self) -> int | None:
        try:
            return int((self.layout.host_dir / "run" / "asterisk.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    async def close(self) -> None:
        await self.sandbox.stop()

    def keep_logs(self, into: Path) -> None:
        """Copy Asterisk's logs (messages.log, queue_log) to ``into`` and remove the instance's directory."""
        shutil.copytree(self.layout.log_dir, into, dirs_exist_ok=True)
        shutil.rmtree(self.layout.host_dir, ignore_errors=True)


async def boot_world(
    directory: Path,
    agents: int,
    *,
    name: str,
    settings: Mapping[str, str] | None = None,
    seed: int = 12,
    project: Path = PROJECT,
) -> World:
    """Write the roster, render and boot Asterisk instance ``name`` on free loopback ports, seed the ratings.

    ``settings``: more CALLCENTER_* variables (``{"CALLCENTER_JOURNEY_RING_TIMEOUT": "4"}``); ``project``: where
    asterisk-conf/ and dialplan/ are rendered from.
    """
    directory.mkdir(parents=True, exist_ok=True)
    roster = directory / "agents.toml"
    roster.write_text(roster_toml(agents))
    env = {
        "CALLCENTER_STATE_DIR": str(directory / "state"),
        "CALLCENTER_ROSTER": str(roster),
        "CALLCENTER_STORE_PATH": str(directory / "cc.db"),
        "CALLCENTER_AMI_PORT": str(free_port()),
        "CALLCENTER_AGI_PORT": str(free_port()),
        "CALLCENTER_WEB_PORT": "0",
        "CALLCENTER_ASTERISK_SIP_PORT": str(free_port(socket.SOCK_DGRAM)),
        "CALLCENTER_ASTERISK_ROOT": str(ROOT),
        "CALLCENTER_ASTERISK_INSTANCE": name,
        **(settings or {}),
    }
    config = load_config(DEMO_CONFIG, env)
    roster_agents = load_roster(roster, {s.id for s in config.services})
    sandbox = Sandbox(config, project, roster_agents)
    layout = InstanceLayout(ROOT, name)
    await sandbox.prepare(layout)
    env["CALLCENTER_ASTERISK_QUEUE_LOG"] = str(layout.queue_log)
    config = dataclasses.replace(
        sandbox.config, asterisk=dataclasses.replace(sandbox.config.asterisk, queue_log=layout.queue_log)
    )
    sandbox.config = config
    ids = support_ids(agents)
    tier_of = tiers(ids, seed)
    store = await open_serving_store(config, roster_agents)
    try:
        await seed_history(store, rating_history(tier_of), tag="load")
    finally:
        await store.close()
    await sandbox.start(foreground=True)
    return World(directory, config, roster_agents, ids, tier_of, sandbox, env)


# -- the driver ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timed:
    at: float  # epoch seconds: Asterisk's own (manager.conf timestampevents) or when we read it
    event: Message

    def get(self, key: str, default: str = "") -> str:
        return str(self.event.get(key, default) or default)


def stamp(event: Message) -> float:
    try:
        return float(event.get("Timestamp"))
    except (TypeError, ValueError):
        return time.time()


class LoadDriver:
    """The driver AMI user: originates scripted calls and routes each event once, to the caller it concerns."""

    def __init__(self, settings: AMISettings) -> None:
        self.link = AMILink(settings)
        self.timeline: list[Timed] = []
        self._callers: dict[str, asyncio.Queue[Timed]] = {}
        self._originated: dict[str, asyncio.Future[Message]] = {}
        self._bridged: dict[str, asyncio.Future[str]] = {}
        self._bridge_seen: dict[str, str] = {}  # phone half -> IVR half, for LocalBridge read before it was asked
        self._early: dict[str, list[Timed]] = defaultdict(list)  # events for an IVR half not claimed yet
        self._dtmf: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self.link.on_event("*", self._on_event)

    async def __aenter__(self) -> LoadDriver:
        await self.link.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.link.close()

    async def _on_event(self, event: Message) -> None:
        name = str(event.get("Event", ""))
        timed = Timed(stamp(event), event)
        if name == "OriginateResponse":
            future = self._originated.pop(str(event.get("ActionID")), None)
            if future is not None and not future.done():
                future.set_result(event)
            return
        if name == "LocalBridge":
            phone, ivr = str(event.get("LocalOneUniqueid")), str(event.get("LocalTwoUniqueid"))
            bridged = self._bridged.pop(phone, None)
            if bridged is not None and not bridged.done():
                bridged.set_result(ivr)
            else:
                self._bridge_seen[phone] = ivr
            return
        if name == "DTMFEnd" and event.get("Direction") == "Received":
            pressed = self._dtmf.pop((str(event.get("Channel")), str(event.get("Digit"))), None)
            if pressed is not None and not pressed.done():
                pressed.set_result(None)
            return
        if name in QUEUE_EVENTS:
            async with self._changed:
                self.timeline.append(timed)
                self._changed.notify_all()
        if name in QUEUE_EVENTS or name in {"AGIExecStart", "Hangup"}:
            uniqueid = str(event.get("Uniqueid", ""))
            queue = self._callers.get(uniqueid)
            if queue is not None:
                queue.put_nowait(timed)
            elif name != "QueueMemberStatus" and uniqueid:
                self._early[uniqueid].append(timed)

    async def wait_timeline(self, predicate: Any, timeout: float) -> Timed:
        """The first timeline event matching ``predicate``, waiting for it if need be."""
        async with asyncio.timeout(timeout), self._changed:
            while True:
                for timed in self.timeline:
                    if predicate(timed):
                        return timed
                await self._changed.wait()

    async def set_global(self, name: str, value: str) -> None:
        await self.link.send({"Action": "Setvar", "Variable": name, "Value": value})

    async def call(
        self, service_number: str, number: str, timeout: float = 60.0, *, talk: float | None = None
    ) -> tuple[str, asyncio.Queue[Timed]]:
        """Dial the service from a scripted phone showing ``number``; the IVR half's uniqueid and its events.

        ``talk``: the seconds the scripted agent who takes this call talks (default: CC_DEMO_TALK).
        """
        loop = asyncio.get_running_loop()
        action_id = f"load-{next(self._ids)}-{os.getpid()}"
        originated: asyncio.Future[Message] = loop.create_future()
        self._originated[action_id] = originated
        await self.link.send(
            {
                "Action": "Originate",
                "Channel": f"Local/{service_number}@cc-inbound/n",
                "Context": "cc-test-phone",
                "Exten": "s",
                "Priority": "1",
                "Async": "true",
                "Timeout": str(int(timeout * 1000)),
                "CallerID": f'"load" <{number}>',
                "ActionID": action_id,
                # inherited by the IVR half and from it by every agent leg (cc-demo.conf reads it)
                "Variable": [f"__{naming.DEMO_CALL_TALK}={talk:.1f}"] if talk is not None else [],
            }
        )
        async with asyncio.timeout(timeout):
            response = await originated
        if response.get("Response") != "Success":
            raise RuntimeError(f"the call from {number} failed: {response.get('Reason')}")
        phone = str(response.get("Uniqueid"))
        # the LocalBridge pairing the halves may come before OriginateResponse: then it was kept
        ivr = self._bridge_seen.pop(phone, None)
        if ivr is None:
            bridged: asyncio.Future[str] = loop.create_future()
            self._bridged[phone] = bridged
            async with asyncio.timeout(timeout):
                ivr = await bridged
        queue: asyncio.Queue[Timed] = asyncio.Queue()
        for early in self._early.pop(ivr, []):
            queue.put_nowait(early)
        self._callers[ivr] = queue
        return ivr, queue

    async def press(self, channel: str, keys: str, timeout: float = 10.0) -> None:
        """Press ``keys`` one at a time on the IVR half ``channel`` (a Read() must be running)."""
        loop = asyncio.get_running_loop()
        for key in keys:
            pressed: asyncio.Future[None] = loop.create_future()
            self._dtmf[(channel, key)] = pressed
            await self.link.send(
                {"Action": "PlayDTMF", "Channel": channel, "Digit": key, "Duration": "120", "Receive": "true"}
            )
            async with asyncio.timeout(timeout):
                await pressed

    async def hangup(self, channel: str) -> None:
        with contextlib.suppress(AMIError):
            await self.link.send({"Action": "Hangup", "Channel": channel})

    def forget(self, uniqueid: str) -> None:
        self._callers.pop(uniqueid, None)


def agent_menu_keys(files: Sequence[str]) -> list[str]:
    """The keys of the agents an agent menu offers, in order (the IVR's own reading of its menu)."""
    return [key for key, _ in speech.menu_keys(files)]


# -- one scripted caller ---------------------------------------------------------------------------------------

CHOICES = ("first", "best", "random")


@dataclass
class CallerRecord:
    """What happened to one scripted caller (epoch seconds)."""

    number: str
    choice: str  # first | best | random
    arrive: float = 0.0
    uniqueid: str = ""
    channel: str = ""
    menu: list[str] = field(default_factory=list)  # the first agent menu page heard
    service_menu: list[str] = field(default_factory=list)  # the service menu heard
    pressed_at: float | None = None
    key: str = ""
    joins: list[tuple[float, str]] = field(default_factory=list)
    called: list[tuple[float, str, str]] = field(default_factory=list)  # (at, member, queue)
    connect: tuple[float, str, str] | None = None
    complete: float | None = None
    abandoned: bool = False  # hung up (patience) before an agent connected
    rated: bool = False
    ended: float | None = None
    error: str = ""

    @property
    def first_join(self) -> float | None:
        return self.joins[0][0] if self.joins else None

    @property
    def hold(self) -> float | None:
        """Seconds from joining the first queue to being connected to an agent."""
        if self.connect is None or self.first_join is None:
            return None
        return self.connect[0] - self.first_join


@dataclass(frozen=True, slots=True)
class CallerScript:
    choice: str
    patience: float  # seconds in queue before hanging up
    rate: bool  # rate the agent afterwards (else hang up at the rating prompt)
    deadline: float = 900.0  # the whole call, whatever happens
    key_seed: int = 0
    talk: float | None = None  # how long the agent talks on this call (None: CC_DEMO_TALK)


async def run_caller(
    driver: LoadDriver, number: str, script: CallerScript, service_number: str = "800"
) -> CallerRecord:
    """One caller: service 1, then the agent menu by ``script.choice``, wait, talk, rate or hang up."""
    record = CallerRecord(number, script.choice, arrive=time.time())
    rng = random.Random(script.key_seed)
    try:
        record.uniqueid, events = await driver.call(service_number, number, talk=script.talk)
    except (RuntimeError, TimeoutError, AMIError) as exc:
        record.error = f"originate: {exc}"
        return record
    give_up: float | None = None
    try:
        async with asyncio.timeout(script.deadline):
            while True:
                wait = None if give_up is None else max(0.0, give_up - time.time())
                try:
                    timed = await asyncio.wait_for(events.get(), wait)
                except TimeoutError:
                    record.abandoned = True
                    await driver.hangup(record.channel)
                    give_up = None
                    continue
                if await _step(driver, record, script, rng, timed):
                    break
                if record.joins and record.connect is None and give_up is None and not record.abandoned:
                    give_up = record.joins[0][0] + script.patience
                if record.connect is not None:
                    give_up = None
    except TimeoutError:
        record.error = "deadline"
        await driver.hangup(record.channel)
    except AMIError as exc:
        record.error = f"ami: {exc}"
    finally:
        driver.forget(record.uniqueid)
    return record


async def _step(driver: LoadDriver, record: CallerRecord, script: CallerScript, rng: random.Random, t: Timed) -> bool:
    """Act on one event of this caller's; True once the call is over."""
    name = t.get("Event")
    if name == "Hangup":
        record.ended = t.at
        return True
    if name == "AGIExecStart":
        files = read_files(t.get("Command"))
        if files is None or not t.get("Command").startswith("EXEC Read"):
            return False
        record.channel = t.get("Channel")
        if "cc/choose-service" in files:
            record.service_menu = record.service_menu or files
            await driver.press(record.channel, "1")
        elif "cc/first-available" in files:
            if not record.menu:
                record.menu = files
                keys = agent_menu_keys(files)
                if script.choice == "best" and keys:
                    record.key = keys[0]
                elif script.choice == "random" and keys:
                    record.key = rng.choice(keys)
                else:
                    record.key = "0"
                record.pressed_at = time.time()
                await driver.press(record.channel, record.key)
            else:
                # offered again (the chosen agent declined or did not answer): the first available agent
                await driver.press(record.channel, "0")
        elif "cc/please-rate" in files:
            if script.rate:
                record.rated = True
                await driver.press(record.channel, "".join(rng.choice("2345") for _ in range(4)))
            else:
                await driver.hangup(record.channel)
        return False
    if name == "QueueCallerJoin":
        record.joins.append((t.at, t.get("Queue")))
    elif name == "AgentCalled":
        record.called.append((t.at, t.get("MemberName"), t.get("Queue")))
    elif name == "AgentConnect":
        record.connect = (t.at, t.get("MemberName"), t.get("Queue"))
    elif name == "AgentComplete":
        record.complete = t.at
    return False


async def place_callers(
    driver: LoadDriver,
    scripts: Sequence[CallerScript],
    arrivals: Sequence[float],
    *,
    first_number: int = 5560000,
) -> list[CallerRecord]:
    """Start caller ``i`` at ``arrivals[i]`` seconds from now with ``scripts[i]``; return once all are done."""
    start = time.monotonic()

    async def one(i: int) -> CallerRecord:
        await asyncio.sleep(max(0.0, start + arrivals[i] - time.monotonic()))
        return await run_caller(driver, str(first_number + i), scripts[i])

    return list(await asyncio.gather(*(one(i) for i in range(len(scripts)))))


def arrivals_over(count: int, seconds: float, seed: int) -> list[float]:
    """``count`` arrival offsets over ``seconds``: a Poisson process given its count (sorted uniform times)."""
    if seconds <= 0:
        return [0.0] * count
    rng = random.Random(seed)
    return sorted(rng.uniform(0, seconds) for _ in range(count))


def talk_times(count: int, mean: float, *, exponential: bool, seed: int) -> list[float]:
    """Each call's talk time: all ``mean``, or exponential (what Erlang C assumes) drawn by seed and scaled so that
    their mean is ``mean`` exactly (a sample of 100 draws is easily 20 % off, and Erlang C near full load is
    steep: the comparison must be with the load the run really offered)."""
    if not exponential or count == 0:
        return [mean] * count
    rng = random.Random(seed)
    draws = [rng.expovariate(1.0) for _ in range(count)]
    scale = mean * count / sum(draws)
    return [round(d * scale, 1) for d in draws]


def choices_by_mix(count: int, mix: Mapping[str, float], seed: int) -> list[str]:
    """``count`` choices drawn from ``mix`` (weights by choice name), shuffled."""
    total = sum(mix.values())
    if total <= 0 or any(k not in CHOICES for k in mix):
        raise ValueError(f"mix: weights of {', '.join(CHOICES)}")
    exact = [(k, count * w / total) for k, w in mix.items()]
    picks = [k for k, n in exact for _ in range(int(n))]
    rest = sorted(exact, key=lambda kn: kn[1] - int(kn[1]), reverse=True)
    picks += [k for k, _ in rest[: count - len(picks)]]
    random.Random(seed).shuffle(picks)
    return picks


def queue_log_agents(path: Path, queue: str | None = None) -> dict[str, dict[str, int]]:
    """Per agent, how many of each queue_log event (CONNECT, RINGNOANSWER, RINGCANCELED, COMPLETE...)."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    for line in lines:
        parts = line.split("|")
        if len(parts) < 5 or parts[3] in {"NONE", ""}:
            continue
        if queue is not None and parts[2] != queue:
            continue
        counts[parts[3]][parts[4]] += 1
    return {agent: dict(events) for agent, events in counts.items()}


def rung_in_queue_log(path: Path, since: float = 0.0) -> set[str]:
    """Agents queue_log shows rung (connected, or rang without answer / cancelled) since ``since`` (epoch)."""
    rung: set[str] = set()
    with contextlib.suppress(OSError):
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split("|")
            if len(parts) < 5:
                continue
            try:
                at = float(parts[0])
            except ValueError:
                continue
            if at >= since and parts[4] in {"CONNECT", "RINGNOANSWER", "RINGCANCELED"}:
                rung.add(parts[3])
    return rung


def by_member(timeline: Iterable[Timed], name: str) -> dict[str, list[Timed]]:
    out: dict[str, list[Timed]] = defaultdict(list)
    for t in timeline:
        if t.get("Event") == name:
            out[t.get("MemberName")].append(t)
    return out
