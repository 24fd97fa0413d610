"""The configuration's shape: one frozen dataclass per section, each validating its own values.

Pure data: no file, no environment. ``loading.py`` builds a ``Config`` from defaults, a TOML file and the
environment; ``secrets.py`` reads and generates the secrets that never live in the file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callcenter.domain.policy import Policy
from callcenter.domain.rules import RatingRules
from callcenter.domain.waits import QueueLimits
from callcenter.store.models import CategoryDef, ServiceDef
from callcenter.store.opening import StoreUrl

OUTBOUND_DIAL = re.compile(r"^[A-Za-z]+/[A-Za-z0-9_+@./{}-]*\{number\}[A-Za-z0-9_+@./{}-]*$")
FEATURE_CODE = re.compile(r"^\*[0-9]{1,6}$")
PAUSE_REASON = re.compile(r"^[a-z][a-z ]{0,29}$")
# more workers than this buys nothing on one machine and multiplies the AMI links Asterisk feeds
MAX_WORKERS = 64


class ConfigError(Exception):
    """The configuration cannot be used; the message says what and how to fix it."""


@dataclass(frozen=True, slots=True)
class AMIConfig:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "callcenter"
    # Never set in a committed file: CALLCENTER_AMI_SECRET or secret_file (generated, git-ignored).
    secret: str = field(default="", repr=False)
    secret_file: Path | None = None
    connect_timeout: float = 5.0
    action_timeout: float = 5.0
    # a stalled link is detected within ping_interval + ping_timeout, and retried soon after
    ping_interval: float = 2.0
    ping_timeout: float = 2.0
    reconnect_min: float = 0.5
    reconnect_max: float = 3.0


@dataclass(frozen=True, slots=True)
class AGIConfig:
    host: str = "127.0.0.1"
    port: int = 4573
    header_timeout: float = 5.0
    # the reply deadline of a plain command (GET/SET VARIABLE, ANSWER, EXEC UserEvent); a media command's follows
    # what it plays and waits for (agi/session.py)
    command_timeout: float = 5.0
    session_timeout: float = 1800.0
    max_sessions: int = 256
    # which local users may connect: the one Asterisk runs as ("auto": root for the sandbox, user "asterisk" for
    # an external Asterisk on this host), or "off" when Asterisk runs on another host (keep FastAGI on a private
    # link then: whoever connects speaks for Asterisk)
    peer_check: Literal["auto", "off"] = "auto"
    # on SIGTERM: new calls are refused at once (the dialplan's fallback puts them in a shared queue), running
    # routes get this long to finish before they are stopped (their callers then take the same fallback)
    drain_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class AsteriskConfig:
    # "sandbox": callcenter renders config and runs Asterisk from the private root below.
    # "external": an Asterisk you run; callcenter only connects (see README, "Use an existing Asterisk").
    mode: Literal["sandbox", "external"] = "sandbox"
    root: Path = Path("/var/cache/callcenter/asterisk-root")
    instance: str = "main"
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    # which source addresses the inbound SIP trunk accepts (pjsip identify "match")
    trunk_match: str = "127.0.0.1"
    service_number: str = "800"
    call_max_seconds: int = 3600
    driver_username: str = "driver"
    boot_timeout: float = 60.0
    # How agents with an outside phone (roster: phone = "...") are dialled: a dial string with {number}, e.g.
    # "PJSIP/{number}@carrier". Empty: no outbound trunk, such agents cannot be rung.
    outbound_dial: str = ""
    # Asterisk's queue_log, which the reaper reads for calls nobody recorded (who answered, when they ended).
    # Default: the sandbox instance's log directory, or /var/log/asterisk/queue_log in external mode.
    queue_log: Path | None = None

    def __post_init__(self) -> None:
        if self.outbound_dial and not OUTBOUND_DIAL.match(self.outbound_dial):
            raise ValueError(
                f"outbound_dial {self.outbound_dial!r}: expected a dial string containing {{number}} and no "
                'commas, e.g. "PJSIP/{number}@carrier"'
            )


@dataclass(frozen=True, slots=True)
class StoreConfig:
    # where the center's state lives: "sqlite:///path" (embedded, one host) or "postgresql://user@host:port/db"
    # (several processes and hosts; keep the password out of the URL: PGPASSWORD or ~/.pgpass). Empty: SQLite at
    # ``path``. Once loaded, a SQLite store is named by ``path`` alone (absolute) and ``url`` is empty.
    url: str = ""
    path: Path = Path("var/callcenter.db")
    # how long the service waits for another process's write lock: short, since a caller is listening; a rating
    # that cannot be written in time is kept and written later (callcenter/journal.py)
    busy_timeout: float = 1.0
    # the write-behind journal of calls and ratings the store could not take (callcenter/journal.py); default: beside
    # the SQLite file, or callcenter.pending.jsonl in state_dir for a server store
    journal: Path | None = None

    @property
    def target(self) -> StoreUrl:
        return StoreUrl.parse(self.url) if self.url else StoreUrl.embedded(self.path)

    @property
    def journal_file(self) -> Path:
        """The journal: ``journal`` if set, else beside the SQLite file (another store, another journal)."""
        if self.journal is not None:
            return self.journal
        if self.target.file is None:
            raise ValueError("a server store's journal is set when the config is loaded")  # loading does
        return self.path.with_name(self.path.name + ".pending.jsonl")

    @property
    def shown(self) -> str:
        """How messages name the store: the SQLite file, or the server URL without its password."""
        target = self.target
        return str(target.file) if target.file is not None else str(target)


@dataclass(frozen=True, slots=True)
class JourneyConfig:
    """How the IVR talks to callers and how long calls ring and wait."""

    # agents offered per menu page (keys 1..offer_count; 9 = more, 0 = first available)
    offer_count: int = 3
    # seconds to press a key after a prompt, and how many tries before the default path
    input_timeout: float = 6.0
    attempts: int = 3
    # seconds an agent's phone rings (Dial) and a caller may wait in a queue before being offered others
    ring_timeout: int = 20
    queue_timeout: int = 300
    # a caller who left an answered call unrated is reminded on calls within this many days
    remind_days: int = 14
    # seconds between two scans for call rows whose channels are gone (callcenter/ami/reaper.py)
    reap_interval: float = 30.0
    # seconds a caller who pressed nothing after a menu's first pass has to press a key after the short
    # re-prompt, before the menu's default is taken (the first service, the first available agent)
    reprompt_timeout: float = 3.0
    # an agent's own queue is full with this many callers waiting, or when one more caller would wait longer than
    # this many seconds: such an agent is not offered (0: no limit)
    max_waiting: int = 2
    max_wait_seconds: float = 600.0
    # the handle time assumed for an agent with no answered call yet (expected waits; then their recent talk times)
    handle_seconds: float = 180.0

    def __post_init__(self) -> None:
        # keys 1..offer_count name the agents of a page; 7, 8, 9 and 0 are the menu's own keys
        if not 1 <= self.offer_count <= 6:
            raise ValueError(f"offer_count {self.offer_count}: offer 1 to 6 agents per page (7, 8, 9, 0 are taken)")
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        for name in ("input_timeout", "reprompt_timeout", "handle_seconds"):
            if not 0 < getattr(self, name) < 3600:
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.max_waiting < 0 or not 0 <= self.max_wait_seconds < 86400:
            raise ValueError("max_waiting and max_wait_seconds must not be negative (0: no limit)")

    @property
    def limits(self) -> QueueLimits:
        return QueueLimits(self.max_waiting, self.max_wait_seconds)


@dataclass(frozen=True, slots=True)
class AgentsConfig:
    """How agents make themselves available, from their softphone or from any phone."""

    # the presence of an agent who never logged in or out: "logged_out" (nobody is rung before they log in)
    # or "available" (the demo's scripted agents are on duty from the start)
    initial_state: Literal["logged_out", "available"] = "logged_out"
    # dialled from an agent's own softphone: the agent menu, no PIN (the softphone authenticated itself)
    feature_code: str = "*55"
    # dialled from any phone (agents on outside phones): agent id, PIN, then the agent menu
    access_number: str = "801"
    # what a pausing agent chooses from (keys 1..9 in this order); stored and sent to Asterisk as the reason
    pause_reasons: tuple[str, ...] = ("break", "lunch", "training", "other")

    def __post_init__(self) -> None:
        if not FEATURE_CODE.match(self.feature_code):
            raise ValueError(f"feature_code {self.feature_code!r}: use * followed by 1-6 digits, e.g. *55")
        if not re.fullmatch(r"[0-9]{2,8}", self.access_number):
            raise ValueError(f"access_number {self.access_number!r}: use 2-8 digits")
        if not 1 <= len(self.pause_reasons) <= 9 or len(set(self.pause_reasons)) != len(self.pause_reasons):
            raise ValueError("pause_reasons: give 1 to 9 different reasons")
        for reason in self.pause_reasons:
            if not PAUSE_REASON.match(reason):
                raise ValueError(f"pause reason {reason!r}: lowercase letters and spaces, up to 30")


@dataclass(frozen=True, slots=True)
class SelfServiceConfig:
    """The phone menus where callers and agents review and change their ratings of each other."""

    # "optional": callers may protect their ratings with a PIN, offered the first time they manage them;
    # "required": they must set one before managing any rating
    caller_pin: Literal["optional", "required"] = "optional"
    # how many past calls the review lists offer, newest first
    review_calls: int = 20
    # dates of past calls are spoken in this time zone (IANA name)
    timezone: str = "UTC"
    # this many wrong PINs for one caller number or agent within pin_lockout_minutes lock it out for that long,
    # however many calls they are spread over (three tries per call are not enough against a patient guesser);
    # 0: no lockout
    pin_max_failures: int = 10
    pin_lockout_minutes: int = 60

    def __post_init__(self) -> None:
        if not 1 <= self.review_calls <= 100:
            raise ValueError("review_calls must be 1 to 100")
        if self.pin_max_failures < 0 or self.pin_lockout_minutes < 1:
            raise ValueError("pin_max_failures must be 0 or more and pin_lockout_minutes at least 1")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {self.timezone!r} is not a known IANA time zone") from None


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """How many service processes serve, and how they share the FastAGI port (README "Running on both cores")."""

    # one event loop uses one core: N processes share the FastAGI port and the store; "auto": one per core
    workers: str = "1"
    # "reuseport": each worker binds the port with SO_REUSEPORT and the kernel spreads Asterisk's connections over
    # them evenly; "shared": the parent listens once and the workers accept from that one socket (whoever wakes
    # first takes the connection)
    listen: Literal["reuseport", "shared"] = "reuseport"

    def __post_init__(self) -> None:
        if self.workers != "auto" and not (self.workers.isdigit() and 1 <= int(self.workers) <= MAX_WORKERS):
            raise ValueError(f'workers {self.workers!r}: give 1 to {MAX_WORKERS}, or "auto" (one per core)')

    def worker_count(self, cores: int | None = None) -> int:
        """The number of workers to start: ``workers``, or the cores this process may run on for "auto"."""
        if self.workers != "auto":
            return int(self.workers)
        if cores is None:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, min(cores, MAX_WORKERS))


@dataclass(frozen=True, slots=True)
class WebConfig:
    """The web console (callcenter/web/): the wallboard, ratings on the web, operators' moderation, metrics."""

    enabled: bool = True
    # loopback by default, like AMI and FastAGI: put a TLS reverse proxy in front to reach it from elsewhere
    host: str = "127.0.0.1"
    # 0: any free port (tests); with several workers, worker 0 serves it on this fixed port
    port: int = 8080
    # how long a signed-in browser stays signed in
    session_hours: float = 12.0
    # mark the session cookie Secure (only sent over HTTPS): set it once a TLS proxy fronts the console
    secure_cookies: bool = False
    # the service level: calls answered within this many seconds of joining a queue
    service_level_seconds: int = 20
    # the console's address as browsers see it behind a TLS proxy ("https://cc.example.com"): forms are accepted
    # from that origin only; empty: the address each request was made to
    origin: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port}: give 0 (any free port) to 65535")
        if not 0 < self.session_hours <= 24 * 30:
            raise ValueError("session_hours must be more than 0 and at most 720 (30 days)")
        if not 1 <= self.service_level_seconds <= 3600:
            raise ValueError("service_level_seconds must be 1 to 3600")
        # as browsers send it in Origin: lower case, no path, no default port (else every form would be refused)
        if self.origin and (
            not re.fullmatch(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?", self.origin)
            or self.origin.endswith((":443", ":80"))
        ):
            raise ValueError(
                f"origin {self.origin!r}: the address as browsers send it, e.g. https://cc.example.com "
                "(lower case, no path, no :443 or :80)"
            )


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """Several Asterisk nodes behind Kamailio sharing one PostgreSQL store and one agent pool (README, "Run it as
    a cluster"). This node's name is ``[asterisk] instance``, which is also Asterisk's ``systemname``: every
    uniqueid starts with it, so the nodes' call ids never collide in the one store and a survivor knows a dead
    node's calls by their prefix."""

    enabled: bool = False
    # Kamailio's SIP address as the nodes reach it: agents' softphones register there, and every node rings a
    # SIP agent through it (PJSIP/trunk/sip:agent<id>@<proxy>) instead of a registration of its own
    proxy: str = "127.0.0.1:5060"
    # how long an agent's reservation by a ringing or talking call lasts unless this node renews it (each
    # heartbeat does): a node that dies holds no agent for longer
    lease_seconds: float = 20.0
    # how often this node says it is alive (while its Asterisk answers on AMI) and renews its leases
    heartbeat_seconds: float = 1.0
    # a node silent this long is dead: a survivor closes its calls (interrupted, ratings owed) and frees its leases.
    # A node beats only while its AMI link is up: keep this well above the link's reconnect time, or an AMI outage
    # with Asterisk alive is taken for a death
    dead_after_seconds: float = 30.0
    # the full comparison of this node's queue members with the store, besides every AMI (re)connect and every
    # reconnect of the notification channel (LISTEN/NOTIFY is not replayed to a listener that was away)
    resync_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?", self.proxy):
            raise ValueError(f"proxy {self.proxy!r}: host or host:port, e.g. 127.0.0.1:5060")
        if not 0 < self.heartbeat_seconds < self.dead_after_seconds:
            raise ValueError("heartbeat_seconds must be more than 0 and less than dead_after_seconds")
        if self.lease_seconds <= 2 * self.heartbeat_seconds:
            raise ValueError("lease_seconds must be more than two heartbeats, or a live node's leases run out")
        if self.resync_seconds <= 0:
            raise ValueError("resync_seconds must be more than 0")


@dataclass(frozen=True, slots=True)
class LogConfig:
    format: Literal["auto", "console", "json"] = "auto"
    level: str = "info"


# [[services]] and [[categories]] are the store's own definitions (CategoryDef, ServiceDef): what the config
# says is what is loaded into the store, with no second type to convert between.
DEFAULT_CATEGORIES = (
    CategoryDef("attitude", "service attitude"),
    CategoryDef("knowledge", "professional knowledge"),
    CategoryDef("availability", "availability"),
    CategoryDef("other", "other"),
)
DEFAULT_SERVICES = (ServiceDef("support", "support"),)


@dataclass(frozen=True, slots=True)
class Config:
    state_dir: Path = Path("var")
    roster: Path | None = None
    ami: AMIConfig = AMIConfig()
    agi: AGIConfig = AGIConfig()
    asterisk: AsteriskConfig = AsteriskConfig()
    store: StoreConfig = StoreConfig()
    journey: JourneyConfig = JourneyConfig()
    agents: AgentsConfig = AgentsConfig()
    selfservice: SelfServiceConfig = SelfServiceConfig()
    # the rating policy's knobs are the pure policy's own dataclass: one definition, validated there
    policy: Policy = field(default_factory=Policy)
    rules: RatingRules = field(default_factory=RatingRules)
    log: LogConfig = LogConfig()
    service: ServiceConfig = ServiceConfig()
    web: WebConfig = WebConfig()
    cluster: ClusterConfig = ClusterConfig()
    services: tuple[ServiceDef, ...] = DEFAULT_SERVICES
    categories: tuple[CategoryDef, ...] = DEFAULT_CATEGORIES

    @property
    def agi_url(self) -> str:
        return f"agi://{self.agi.host}:{self.agi.port}"
