"""The composition root: opens the resources, then builds every long-lived object once, in order, and owns their
lifetimes (wazo-agentd's ``main.py`` is the model).

1. ``open_resources``: the store (migrated, roster loaded), the write-behind journal left by a previous run, the
   AMI link object (not connected yet) and the prompts' lengths. Everything that can fail on a bad config or a
   missing file fails here, before anything is wired.
2. ``CallCenter.__init__``: the use cases and the routes, each given exactly what it uses; nothing is None and
   nothing is filled in later. Who depends on whom, with no cycle::

       store ─▶ Rankings, DutyBook, RecentTalkTimes ─▶ QueueSync(AMI link), RatingEvents ─▶ Recorder(journal)
             ─▶ Ratings, AgentDuty ─▶ routes ─▶ FastAGI

   The kept ranking (``usecases/rankings.py``) is built from the store once and then moved by ratings, answers,
   the queue sync's load changes and time; the queue sync reads penalties from it, duty and talk times from the
   store (not from the use cases), and the use cases
   push to the queue sync through small ports (``usecases/ports.py``: ``PenaltyPush``, ``PresencePush``); the
   inbound route reads each agent's queue load from it (``ivr/inbound.py``: ``AgentQueues``).
3. ``CallCenter.start``: AMI before FastAGI (a wrong secret or a missing Asterisk is reported before any call is
   taken), then the reaper and the journal's replay.

With ``[service] workers`` > 1 each worker process (callcenter/workers/) runs all of this once, for its
``WorkerRole``: its own journal file (and a view of the others'), the reaper and the queue corrections in worker 0
only, the FastAGI port shared with the others.

``serving(config, agents)`` does all three and stops everything on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import pwd
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import structlog

from callcenter.agi import FastAGIServer, PlayTime, Route
from callcenter.ami.link import SERVICE_EVENTS, AMILink, AMISettings
from callcenter.ami.queues import QueueSync
from callcenter.ami.rating_events import RatingEvents
from callcenter.ami.reaper import CallReaper
from callcenter.asterisk.render import INSTANCE_NAME, InstanceLayout
from callcenter.asterisk.sounds import SoundLengths
from callcenter.cluster.bus import ClusterBus, TellingPresence
from callcenter.cluster.follower import ClusterFollower
from callcenter.cluster.keeper import NodeKeeper
from callcenter.config import Config, ConfigError, require_ami_secret
from callcenter.domain import naming
from callcenter.domain.agents import AgentSpec
from callcenter.domain.summaries import Scoring
from callcenter.ivr.agent import RangOutFlow, RateCallerFlow, ScreenFlow
from callcenter.ivr.agent_menu import AgentMenuFlow
from callcenter.ivr.arbiter import ReleaseFlow, ReserveFlow
from callcenter.ivr.ask import Asking
from callcenter.ivr.caller_ratings import CallerRatings
from callcenter.ivr.inbound import InboundFlow, Menus
from callcenter.ivr.pin_entry import PinEntry
from callcenter.ivr.queueing import AfterQueueFlow, CallEndFlow, ConnectedFlow
from callcenter.ivr.rating import RatingDialogue
from callcenter.ivr.review import Review
from callcenter.ivr.screenings import Screenings
from callcenter.ivr.selftest import selftest
from callcenter.journal import Journals, PeerJournals, Pending, Recorder, take_over
from callcenter.store import Store, opening
from callcenter.usecases.arbiter import AgentArbiter
from callcenter.usecases.duty import AgentDuty, DutyBook
from callcenter.usecases.penalties import Penalties
from callcenter.usecases.ports import Clock, utcnow
from callcenter.usecases.rankings import Rankings
from callcenter.usecases.ratings import Ratings, penalty_follows
from callcenter.usecases.roster_sync import RosterSync, load_config_into
from callcenter.usecases.sign_in import SignIn
from callcenter.usecases.talk_times import RecentTalkTimes
from callcenter.web.auth import Sessions
from callcenter.web.board import Board
from callcenter.web.console import WebConsole, name_of
from callcenter.web.pages import Pages
from callcenter.web.server import WebServer
from callcenter.web.views.board import BoardPages
from callcenter.web.views.machines import MachinePages
from callcenter.web.views.moderation import ModerationPages
from callcenter.web.views.selfservice import SelfServicePages, ami_events
from callcenter.web.views.signin import SignInPages
from callcenter.workers.role import ALONE, WorkerRole

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


def ami_settings(config: Config) -> AMISettings:
    a = config.ami
    return AMISettings(
        host=a.host,
        port=a.port,
        username=a.username,
        secret=a.secret,
        connect_timeout=a.connect_timeout,
        action_timeout=a.action_timeout,
        ping_interval=a.ping_interval,
        ping_timeout=a.ping_timeout,
        reconnect_min=a.reconnect_min,
        reconnect_max=a.reconnect_max,
        events=SERVICE_EVENTS,
    )


def sounds_root(config: Config) -> Path:
    """Where the Asterisk we serve finds its sounds: the sandbox's root, or this host's for an external one
    (FastAGI stays on loopback, so an external Asterisk runs here too; if not, every sound counts as unknown)."""
    return config.asterisk.root if config.asterisk.mode == "sandbox" else Path("/")


def asterisk_uids(config: Config) -> frozenset[int] | None:
    """The local users FastAGI serves: Asterisk's (agi/peers.py says why)."""
    if config.agi.peer_check == "off":
        return None
    if config.asterisk.mode == "sandbox":
        return frozenset({0})  # the sandbox Asterisk runs as root in its chroot
    try:
        return frozenset({pwd.getpwnam("asterisk").pw_uid})
    except KeyError:
        log.warning("agi_peer_check_off", reason="no local user 'asterisk': set [agi] peer_check = \"off\"")
        return None


def queue_log(config: Config) -> Path:
    a = config.asterisk
    if a.queue_log is not None:
        return a.queue_log
    if a.mode == "sandbox":
        return InstanceLayout(a.root, a.instance).queue_log
    return Path("/var/log/asterisk/queue_log")


def require_cluster_store(config: Config, role: WorkerRole) -> None:
    """A cluster's nodes share one PostgreSQL store (its LISTEN/NOTIFY carries their news), one service each."""
    if not config.cluster.enabled:
        return
    if not config.store.url.startswith("postgresql://"):
        raise ConfigError('[cluster] enabled needs the store on PostgreSQL: [store] url = "postgresql://..."')
    if not role.alone or config.service.worker_count() != 1:
        raise ConfigError("[cluster] enabled runs one service process per node: set [service] workers = 1")
    if not INSTANCE_NAME.match(config.asterisk.instance) or config.asterisk.instance == "main":
        # the node's name in the store, in every notification and in every uniqueid (Asterisk's systemname): two
        # nodes left on the default would share one heartbeat and take each other's calls for their own
        raise ConfigError(
            f"[asterisk] instance {config.asterisk.instance!r}: each node of a cluster needs its own name, 1-24 "
            "lowercase letters, digits and dashes (not the default 'main'), e.g. node-a"
        )


@dataclass(frozen=True, slots=True)
class Resources:
    """What the service opens before it wires anything."""

    store: Store
    # what a previous run left in the write-behind journal ([store] journal), replayed first
    journaled: Sequence[Pending]
    ami: AMILink  # built, not connected: start() logs in
    sounds: PlayTime  # every prompt's length, for the FastAGI reply deadlines


@contextlib.asynccontextmanager
async def open_resources(
    config: Config, agents: Sequence[AgentSpec], *, force: bool = False, role: WorkerRole = ALONE
) -> AsyncIterator[Resources]:
    require_ami_secret(config)
    require_cluster_store(config, role)
    store = await open_serving_store(config, agents, force=force)
    try:
        yield Resources(
            store=store,
            journaled=take_over(Journals(config.store.journal_file), role.index, role.count),
            ami=AMILink(ami_settings(config)),
            # every media command's reply deadline follows what it plays: read each sound's length once
            sounds=await asyncio.to_thread(SoundLengths.of_root, sounds_root(config)),
        )
    finally:
        await store.close()


class CallCenter:
    """The running service: the store, the FastAGI server, the AMI link and what they serve, wired once."""

    def __init__(
        self,
        config: Config,
        agents: Sequence[AgentSpec],
        resources: Resources,
        *,
        clock: Clock = utcnow,
        role: WorkerRole = ALONE,
        listening: socket.socket | None = None,
    ) -> None:
        """``role``: which of the workers sharing the store this is (callcenter/workers/); ``listening``: the
        FastAGI socket the supervisor shares with its workers (``[service] listen = "shared"``)."""
        c = config
        self.config = config
        self.role = role
        self.agents = tuple(agents)
        self.store = store = resources.store
        self.ami = resources.ami
        scoring = Scoring(tuple(k.id for k in c.categories), c.policy)
        # each service's ranking, kept in memory: what offers and penalties read, never the whole store per call
        # with other workers writing the store, it is read again every round (what their AMI user events miss)
        # (a cluster's other nodes write it too)
        cluster = c.cluster.enabled
        self.node = c.asterisk.instance
        self.rankings = Rankings(store, scoring, self.agents, clock=clock, shared=not role.alone or cluster)
        # the penalties as the store's summaries say them (what the kept ones must equal: tests, operators)
        self.penalties = Penalties(store, scoring)
        # Asterisk's side: members, pauses and penalties (from the kept ranking), pushed over AMI; each agent's
        # load change files them again in the ranking (free, busy, away)
        duty_book = DutyBook(store, c.agents.initial_state)
        self.queues = QueueSync(
            self.ami,
            self.agents,
            self.rankings.penalties,
            duty_book.duties,
            talk_times=RecentTalkTimes(store),
            handle_seconds=c.journey.handle_seconds,
            corrects=role.leader,
            duty_elsewhere=not role.alone or cluster,
            watch=self.rankings,
        )
        # every rating and answer written in this process moves it, told by the store after the commit (before the
        # penalty push reads it); other service processes' (workers') ratings and queue calls are heard over AMI
        store.watch(self.rankings)
        self.rating_events = RatingEvents(self.ami, self.rankings)
        # the writes of calls and ratings: to the store, or journaled when it cannot take them (one journal per
        # worker; a call's routes may run in several, so each sees the others' journals)
        journals = Journals(c.store.journal_file)
        self.recorder = Recorder(
            store,
            journals.of(role.index),
            on_stored=penalty_follows(self.queues),
            pending=resources.journaled,
            peers=None if role.alone else PeerJournals(journals, role.index, role.count),
        )
        # the use cases
        self.ratings = Ratings(store, self.recorder, self.queues, c.rules, clock)
        # a cluster's nodes tell each other of ratings (the store's watcher), presence and reservations, after the
        # commit (callcenter/cluster/)
        self.bus: ClusterBus | None = None
        self.keeper: NodeKeeper | None = None
        self.arbiter: AgentArbiter | None = None
        if cluster:
            self.bus, self.keeper, self.arbiter = self._cluster(duty_book, clock)
        self.duty = AgentDuty(duty_book, TellingPresence(self.queues, self.bus) if self.bus else self.queues, clock)
        # the IVR's shared dialogues
        asking = Asking(c.journey.input_timeout, c.journey.attempts, c.journey.reprompt_timeout)
        screenings = Screenings()
        dialogue = RatingDialogue(self.ratings, asking, scoring.categories)
        pins = PinEntry(store, asking, c.selfservice, clock)
        review = Review(
            evaluations=store, dialogue=dialogue, asking=asking, selfservice=c.selfservice, rules=c.rules, clock=clock
        )
        self.sign_in = SignIn(store, c.selfservice, clock)
        caller_ratings = CallerRatings(
            store=store,
            pins=pins,
            review=review,
            asking=asking,
            selfservice=c.selfservice,
            clock=clock,
            # "press star for a code to rate on the web" only where a console serves (worker 0 of the same store)
            codes=self.sign_in if c.web.enabled else None,
        )
        menus = Menus(tuple(s.id for s in c.services), c.journey.offer_count, c.journey.remind_days, c.journey.limits)
        withdraw = self.queues.withdraw_caller
        self.screen = ScreenFlow(
            store=store, scoring=scoring, asking=asking, screenings=screenings, withdraw=withdraw, clock=clock
        )
        routes: dict[str, Route] = {
            naming.ROUTE_SELFTEST: selftest,
            naming.ROUTE_INBOUND: InboundFlow(
                store=store,
                writes=self.recorder,
                queues=self.queues,
                ranking=self.rankings,
                menus=menus,
                scoring=scoring,
                asking=asking,
                dialogue=dialogue,
                caller_ratings=caller_ratings,
                rules=c.rules,
                clock=clock,
            ),
            naming.ROUTE_CONNECTED: ConnectedFlow(self.recorder, clock),
            naming.ROUTE_AFTER_QUEUE: AfterQueueFlow(store, self.recorder, dialogue, screenings, clock),
            naming.ROUTE_CALL_END: CallEndFlow(store, self.recorder, clock),
            naming.ROUTE_SCREEN: self.screen,
            naming.ROUTE_RATE_CALLER: RateCallerFlow(store, self.recorder, dialogue, clock),
            naming.ROUTE_RANG_OUT: RangOutFlow(withdraw),
            naming.ROUTE_AGENT_MENU: AgentMenuFlow(
                store=store,
                duty=self.duty,
                pins=pins,
                review=review,
                asking=asking,
                pause_reasons=c.agents.pause_reasons,
            ),
        }
        if self.arbiter is not None:
            routes[naming.ROUTE_RESERVE] = ReserveFlow(self.arbiter)
            routes[naming.ROUTE_RELEASE] = ReleaseFlow(self.arbiter)
        a = c.agi
        self.agi = FastAGIServer(
            routes,
            host=a.host,
            port=a.port,
            header_timeout=a.header_timeout,
            command_timeout=a.command_timeout,
            session_timeout=a.session_timeout,
            max_sessions=a.max_sessions,
            sounds=resources.sounds,
            peer_uids=asterisk_uids(c),
            listening=listening,
            # several workers bind the one port, and the kernel spreads Asterisk's connections over them
            reuse_port=listening is None and not role.alone and c.service.listen == "reuseport",
        )
        # the web console: in one process only (worker 0), on its fixed port; it reads every worker's calls from
        # the store and hears their events over AMI
        self.board: Board | None = None
        self.console: WebConsole | None = None
        self.web: WebServer | None = None
        if c.web.enabled and role.leader:
            self.board, self.console = self._web(scoring, clock)
            self.web = WebServer(self.console.app(), host=c.web.host, port=c.web.port)
        # calls left open by a stop, a crash or an Asterisk restart: closed at start and whenever it happens again
        self.reaper = CallReaper(
            store,
            self.ami,
            queue_log(c),
            clock,
            interval=c.journey.reap_interval,
            journaled=self.recorder.waiting,
            node=self.node if cluster else None,
        )
        self._tasks: list[asyncio.Task[None]] = []

    def _cluster(self, duty_book: DutyBook, clock: Clock) -> tuple[ClusterBus, NodeKeeper, AgentArbiter]:
        """A cluster node's parts: the news to and from the other nodes, the arbiter, the heartbeat."""
        c, store = self.config, self.store
        bus = ClusterBus(c.store.url, self.node)
        store.watch(bus)
        follower = ClusterFollower(
            ranking=self.rankings,
            queues=self.queues,
            duty=duty_book,
            reservations=store,
            ami=self.ami,
            clock=clock,
            node=self.node,
        )
        bus.follow(follower)
        arbiter = AgentArbiter(store, self.node, timedelta(seconds=c.cluster.lease_seconds), clock, bus)
        keeper = NodeKeeper(
            store,
            store,
            self.ami,
            node=self.node,
            clock=clock,
            heartbeat=c.cluster.heartbeat_seconds,
            lease=c.cluster.lease_seconds,
            dead_after=c.cluster.dead_after_seconds,
            reconcile=follower.reconcile,
        )
        return bus, keeper, arbiter

    def _web(self, scoring: Scoring, clock: Clock) -> tuple[Board, WebConsole]:
        c, store = self.config, self.store
        board = Board(
            store=store,
            ami=self.ami,
            queues=self.queues,
            agents=self.agents,
            services=[(s.id, s.name) for s in c.services],
            policy=c.policy,
            initial=c.agents.initial_state,
            score_of=lambda agent_id: found.score if (found := self.rankings.candidate(agent_id)) else None,
            clock=clock,
            service_level_seconds=c.web.service_level_seconds,
            timezone=c.selfservice.timezone,
            ring_seconds=c.journey.ring_timeout,
        )
        sessions = Sessions(store, clock, hours=c.web.session_hours, secure=c.web.secure_cookies)
        emit = ami_events(self.ami)
        pages = Pages(sessions, name_of(store), origin=c.web.origin)
        console = WebConsole(
            pages=pages,
            signin=SignInPages(pages, sessions, self.sign_in),
            board=BoardPages(pages, board, sessions),
            selfservice=SelfServicePages(
                pages=pages,
                store=store,
                ratings=self.ratings,
                duty=self.duty,
                board=board,
                emit=emit,
                categories=c.categories,
                review_calls=c.selfservice.review_calls,
                timezone=c.selfservice.timezone,
                pause_reasons=c.agents.pause_reasons,
                clock=clock,
            ),
            moderation=ModerationPages(
                pages=pages,
                store=store,
                ratings=self.ratings,
                board=board,
                scoring=scoring,
                categories=c.categories,
                emit=emit,
            ),
            machines=MachinePages(store, self.ami, board),
        )
        # ratings written here (the IVR, the web, the journal's replay) reach the board at once, both directions
        store.watch(board)
        return board, console

    async def start(self) -> None:
        """AMI, then FastAGI, then the background tasks; on any failure, what started is stopped again."""
        try:
            if self.web is not None:
                self.web.bind()  # the console's port is checked before anything else starts
            # the one full read of the ratings, before the duty read files every agent in it
            await self.rankings.load()
            # the offers need to know who is on duty even if AMI never comes up
            await self.queues.load_duty()
            if self.bus is not None:
                # listening before AMI's first resync: nothing another node says after it is missed
                await self.bus.start()
            # AMI before FastAGI: a wrong secret or a missing Asterisk is reported before any call is taken
            await self.ami.start()
            if self.rankings.shared:
                # what other workers stored between the load above and this AMI login (their events) was missed
                await self.rankings.refresh()
            await self.agi.start()
            self._tasks = [
                asyncio.create_task(self.recorder.run(), name="journal"),
                asyncio.create_task(self.rankings.run(), name="ranking"),
            ]
            if self.board is not None and self.web is not None:
                await self.board.rebuild()  # the first page shows the board as it is, not an empty one
                self._tasks.append(asyncio.create_task(self.board.run(), name="wallboard"))
                await self.web.start()
            if self.bus is not None and self.keeper is not None:
                cluster = [
                    asyncio.create_task(self.bus.run(), name="cluster-bus"),
                    asyncio.create_task(self.keeper.run(), name="node-keeper"),
                    asyncio.create_task(self._resync_every(self.config.cluster.resync_seconds), name="cluster-resync"),
                ]
                for task in cluster:
                    task.add_done_callback(_ended_early)
                self._tasks += cluster
            if self.role.leader:
                # once per store: every worker's reaper would ask Asterisk for every channel and close the same
                # calls (harmlessly, call_ended ignores an ended call, but N times the AMI Status listings)
                self._tasks.append(asyncio.create_task(self.reaper.run(), name="call-reaper"))
        except BaseException:
            await self.stop()
            raise
        log.info(
            "callcenter_started",
            fastagi=f"{self.config.agi.host}:{self.agi.port}",
            ami=f"{self.config.ami.host}:{self.config.ami.port}",
            store=self.config.store.shown,
            agents=len(self.agents),
            workers=self.role.count,  # (each worker's lines carry its index)
            web=None if self.web is None else f"http://{self.config.web.host}:{self.web.port}/",
        )

    async def _resync_every(self, seconds: float) -> None:
        """A cluster's node compares its members with the store now and then: a notification can be lost."""
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.rankings.refresh()
                if self.ami.connected:
                    await self.queues.resync()
            except Exception:
                log.exception("cluster_resync_failed")

    def stop_reaping(self) -> None:
        """For a test that scans with a reaper of its own, on its own clock."""
        for task in self._tasks:
            if task.get_name() == "call-reaper":
                task.cancel()

    async def stop(self) -> None:
        """Everything started is stopped, in order, whatever fails on the way (each step logs its own failure)."""
        # the wallboard's task last: it stays live while running routes drain
        tasks, self._tasks = self._tasks, []
        background = [t for t in tasks if t.get_name() != "wallboard"]
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)

        async def wallboard() -> None:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.board is not None:
                await self.board.close()

        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("fastagi", lambda: self.agi.stop(grace=self.config.agi.drain_seconds)),  # nothing if never started
            ("screening counts", self.screen.settle),
            ("wallboard", wallboard),
            ("web", self.web.stop if self.web is not None else _nothing),
            ("queues", self.queues.close),
            ("cluster bus", self.bus.close if self.bus is not None else _nothing),
            ("ami", self.ami.close),
        ]
        for name, step in steps:
            try:
                await step()
            except Exception:
                log.exception("callcenter_stop_step_failed", step=name)
        log.info("callcenter_stopped")


async def _nothing() -> None:
    return None


def _ended_early(task: asyncio.Task[None]) -> None:
    # each loops until cancelled: an end of its own is a defect, said once and loudly rather than a node that
    # silently stops beating or hearing the others
    if not task.cancelled() and task.exception() is not None:
        log.error("cluster_task_died", task=task.get_name(), error=repr(task.exception()))


@contextlib.asynccontextmanager
async def serving(
    config: Config,
    agents: Sequence[AgentSpec],
    *,
    force: bool = False,
    role: WorkerRole = ALONE,
    listening: socket.socket | None = None,
) -> AsyncIterator[CallCenter]:
    """The service (or one worker of it), opened, wired and started; stopped (and the store closed) on the way out.

    ``force``: load the roster even if it deactivates every agent or renames a service with calls."""
    async with open_resources(config, agents, force=force, role=role) as resources:
        center = CallCenter(config, agents, resources, role=role, listening=listening)
        await center.start()
        try:
            yield center
        finally:
            await center.stop()
