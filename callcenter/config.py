"""Typed configuration: defaults, then one TOML file, then ``CALLCENTER_<SECTION>_<KEY>`` environment overrides.

Loaded once by the CLI and passed down; nothing reads the environment or the file after that.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callcenter.evaluation.policy import Policy
from callcenter.evaluation.rules import RatingRules
from callcenter.store.errors import StoreError
from callcenter.store.opening import StoreUrl

T = TypeVar("T")

ENV_PREFIX = "CALLCENTER_"
AMI_SECRET_ENV = "CALLCENTER_AMI_SECRET"  # noqa: S105 - the variable's name, not a secret
CONFIG_ENV = "CALLCENTER_CONFIG"
# Where an installed call center keeps its config; the CLI looks here when neither --config nor $CALLCENTER_CONFIG
# says otherwise.
DEFAULT_CONFIG_PATH = Path("/etc/callcenter/callcenter.toml")
DEMO_CONFIG = "callcenter/demo/callcenter.toml"  # relative to the repository root


OUTBOUND_DIAL = re.compile(r"^[A-Za-z]+/[A-Za-z0-9_+@./{}-]*\{number\}[A-Za-z0-9_+@./{}-]*$")
FEATURE_CODE = re.compile(r"^\*[0-9]{1,6}$")
PAUSE_REASON = re.compile(r"^[a-z][a-z ]{0,29}$")


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
    # ``path``. Once loaded, ``url`` is always set and, for SQLite, ``path`` is its absolute file.
    url: str = ""
    path: Path = Path("var/callcenter.db")
    # how long the service waits for another process's write lock: short, since a caller is listening; a rating
    # that cannot be written in time is kept and written later (flows/pending.py)
    busy_timeout: float = 1.0
    # the write-behind journal of calls and ratings the store could not take (flows/pending.py); default: beside
    # the SQLite file, or callcenter.pending.jsonl in state_dir for a server store
    journal: Path | None = None

    @property
    def target(self) -> StoreUrl:
        return StoreUrl.parse(self.url) if self.url else StoreUrl.sqlite(self.path)

    @property
    def shown(self) -> str:
        """How messages name the store: the SQLite file, or the server URL without its password."""
        target = self.target
        return target.target if target.backend == "sqlite" else str(target)


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
    # seconds between two scans for call rows whose channels are gone (callcenter/reaper.py)
    reap_interval: float = 30.0


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
class LogConfig:
    format: Literal["auto", "console", "json"] = "auto"
    level: str = "info"


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class CategoryConfig:
    id: str
    label: str


DEFAULT_CATEGORIES = (
    CategoryConfig("attitude", "service attitude"),
    CategoryConfig("knowledge", "professional knowledge"),
    CategoryConfig("availability", "availability"),
    CategoryConfig("other", "other"),
)
DEFAULT_SERVICES = (ServiceConfig("support", "support"),)


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
    services: tuple[ServiceConfig, ...] = DEFAULT_SERVICES
    categories: tuple[CategoryConfig, ...] = DEFAULT_CATEGORIES

    @property
    def agi_url(self) -> str:
        return f"agi://{self.agi.host}:{self.agi.port}"


@dataclass(frozen=True, slots=True)
class ConfigSource:
    """Which config file a command uses and how it was found, so it can say so."""

    path: Path | None  # None: the built-in defaults (only for commands that need no config)
    found_by: str  # "--config", "$CALLCENTER_CONFIG", "the default location" or "no config file"

    def __str__(self) -> str:
        return f"{self.path} ({self.found_by})" if self.path is not None else "built-in defaults (no config file)"


BUILT_IN_DEFAULTS = ConfigSource(None, "no config file")


def find_config(explicit: Path | None, env: Mapping[str, str], default: Path | None = None) -> ConfigSource | None:
    """The config file to use: ``--config``, else ``$CALLCENTER_CONFIG``, else ``default`` (DEFAULT_CONFIG_PATH)
    if it exists; None if there is none.

    A file named by --config or the environment must exist: a typo must not fall through to another file.
    """
    named = [(explicit, "--config"), (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None, f"${CONFIG_ENV}")]
    for path, found_by in named:
        if path is not None:
            if not path.is_file():
                raise ConfigError(f"config file {path} (given by {found_by}) does not exist")
            return ConfigSource(path, found_by)
    fallback = DEFAULT_CONFIG_PATH if default is None else default
    return ConfigSource(fallback, "the default location") if fallback.is_file() else None


def no_config_found(default: Path | None = None) -> ConfigError:
    fallback = DEFAULT_CONFIG_PATH if default is None else default
    return ConfigError(
        f"no config file: no --config, no ${CONFIG_ENV}, and no {fallback}; give one with --config FILE or "
        f"{CONFIG_ENV}=FILE (the demo's, from the repository root: --config {DEMO_CONFIG})"
    )


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Build the Config: defaults, overlaid by the TOML file at ``path``, overlaid by the environment."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist (pass --config with an existing file)") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        base = path.resolve().parent
    _apply_env(data, env)
    config = _build(Config, data, "")
    if config.agents.access_number == config.asterisk.service_number:
        raise ConfigError(
            f"[agents] access_number and [asterisk] service_number are both {config.asterisk.service_number}: "
            "agents and callers need different numbers"
        )
    if len(config.services) > 8:
        raise ConfigError("at most 8 [[services]]: keys 1-8 choose them, 9 is the ratings menu")
    config = _resolve_paths(config, base)
    return _with_secret(config, env)


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    """CALLCENTER_AMI_PORT=5039 overrides [ami] port; CALLCENTER_STATE_DIR overrides state_dir."""
    sections = {f.name for f in dataclasses.fields(Config) if dataclasses.is_dataclass(_field_type(Config, f))}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key == AMI_SECRET_ENV:
            continue
        name = key[len(ENV_PREFIX) :].lower()
        section, _, rest = name.partition("_")
        if section in sections and rest:
            data.setdefault(section, {})[rest] = value
        elif name in {f.name for f in dataclasses.fields(Config)} and name not in sections:
            data[name] = value


def _field_type(cls: type, f: dataclasses.Field[Any]) -> Any:
    return typing.get_type_hints(cls)[f.name]


def _build(cls: type[T], data: Any, where: str) -> T:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a table, got {data!r}")
    assert dataclasses.is_dataclass(cls)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{where or 'config'}: unknown key(s) {', '.join(sorted(unknown))}")
    kwargs = {name: _coerce(hints[name], value, f"{where}{name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where or 'config'}: {exc}") from None


def _coerce(tp: Any, value: Any, where: str) -> Any:  # noqa: PLR0911, PLR0912 - one branch per supported type
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if value in (None, "") and type(None) in typing.get_args(tp):
            return None
        return _coerce(options[0], value, where)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, allowed))}")
        return value
    if origin is tuple:
        (item_type, _) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list")
        return tuple(_coerce(item_type, v, f"{where}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, f"{where}.")  # type: ignore[arg-type]
    if tp is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in {"1", "true", "yes", "on"}:
            return True
        if str(value).lower() in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{where}: {value!r} is not a boolean")
    if tp in (int, float):
        try:
            number = tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {value!r} is not a number") from None
        if where.endswith("port") and not 0 <= number <= 65535:
            raise ConfigError(f"{where}: {number} is not a TCP/UDP port (0-65535)")
        return number
    if tp is Path:
        return Path(str(value))
    if tp is str:
        if not isinstance(value, str | int):
            raise ConfigError(f"{where}: expected a string")
        return str(value)
    raise ConfigError(f"{where}: unsupported type {tp}")  # pragma: no cover - a programming error


def _resolve_paths(config: Config, base: Path) -> Config:
    """Relative paths in a config file are relative to that file, so the service can run from anywhere."""

    def absolute(p: Path) -> Path:
        return (p if p.is_absolute() else base / p).resolve()

    state_dir = absolute(config.state_dir)
    try:
        target = config.store.target
    except StoreError as exc:
        raise ConfigError(f"[store] url: {exc}") from None
    if config.store.url and target.backend == "sqlite":
        store_path = Path(target.target)
        store_path = store_path if store_path.is_absolute() else base / store_path
    else:
        store_path = config.store.path
        if not store_path.is_absolute():
            # the default store lives in the state dir; an explicit relative path is relative to the file
            store_path = state_dir / store_path.name if store_path == StoreConfig().path else base / store_path
    store_path = store_path.resolve()
    if target.backend == "sqlite":
        url = StoreUrl.sqlite(store_path).url
        journal = store_path.with_name(store_path.name + ".pending.jsonl")
    else:
        url = target.url
        journal = state_dir / "callcenter.pending.jsonl"
    if config.store.journal is not None:
        journal = absolute(config.store.journal)
    return dataclasses.replace(
        config,
        state_dir=state_dir,
        roster=absolute(config.roster) if config.roster else None,
        store=dataclasses.replace(config.store, url=url, path=store_path, journal=journal),
        asterisk=dataclasses.replace(config.asterisk, root=absolute(config.asterisk.root)),
        ami=dataclasses.replace(
            config.ami, secret_file=absolute(config.ami.secret_file) if config.ami.secret_file else None
        ),
    )


def ami_secret_path(config: Config, username: str | None = None) -> Path:
    user = username or config.ami.username
    if user == config.ami.username and config.ami.secret_file is not None:
        return config.ami.secret_file
    return config.state_dir / "secrets" / f"ami-{user}.secret"


def _with_secret(config: Config, env: Mapping[str, str]) -> Config:
    secret = env.get(AMI_SECRET_ENV, "")
    if not secret:
        path = ami_secret_path(config)
        if path.exists():
            secret = path.read_text().strip()
    return dataclasses.replace(config, ami=dataclasses.replace(config.ami, secret=secret))


def require_ami_secret(config: Config) -> str:
    if not config.ami.secret:
        raise ConfigError(
            f"no AMI secret for user {config.ami.username!r}: set {AMI_SECRET_ENV}, or run "
            f"`callcenter asterisk start` (sandbox mode), which generates {ami_secret_path(config)}"
        )
    return config.ami.secret


def ensure_secret(path: Path) -> str:
    """Read a generated secret, creating it (mode 0600) on first use. Lives in the git-ignored state dir."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value
