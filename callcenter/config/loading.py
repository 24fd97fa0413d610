"""Building the Config: defaults, then one TOML file, then ``CALLCENTER_<SECTION>_<KEY>`` environment overrides,
each value coerced to the type its dataclass field declares; and finding which file to use.

Loaded once by the CLI and passed down; nothing reads the environment or the file after that.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from callcenter.config.schema import Config, ConfigError, StoreConfig
from callcenter.config.secrets import AMI_SECRET_ENV, with_ami_secret
from callcenter.store.errors import StoreError

T = TypeVar("T")

ENV_PREFIX = "CALLCENTER_"
CONFIG_ENV = "CALLCENTER_CONFIG"
# Where an installed call center keeps its config; the CLI looks here when neither --config nor $CALLCENTER_CONFIG
# says otherwise.
DEFAULT_CONFIG_PATH = Path("/etc/callcenter/callcenter.toml")
DEMO_CONFIG = "callcenter/demo/callcenter.toml"  # relative to the repository root


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
    return with_ami_secret(config, env)


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
    if config.store.url and target.file is not None:
        store_path = target.file
        store_path = store_path if store_path.is_absolute() else base / store_path
    else:
        store_path = config.store.path
        if not store_path.is_absolute():
            # the default store lives in the state dir; an explicit relative path is relative to the file
            store_path = state_dir / store_path.name if store_path == StoreConfig().path else base / store_path
    store_path = store_path.resolve()
    journal: Path | None
    if target.file is not None:
        # a loaded config of an embedded store names its file by ``path`` alone (url empty): replacing the path
        # (a test's own database) then moves the store and, unless [store] journal is set, its journal with it
        url, journal = "", None
    else:
        url, journal = target.url, state_dir / "callcenter.pending.jsonl"
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
