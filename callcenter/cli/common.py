"""What every command shares: the invocation (arguments, config, roster, where the config came from), how it may
open the store, and how to print a command a person can type again."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from collections.abc import Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from callcenter.config import Config, ConfigSource
from callcenter.domain.agents import AgentSpec
from callcenter.store import Store, opening

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Invocation:
    """One command as given: its arguments, the config it runs with and where that came from."""

    args: argparse.Namespace
    config: Config
    agents: tuple[AgentSpec, ...]
    source: ConfigSource


Handler = Callable[[Invocation], Coroutine[Any, Any, int]]


def project_dir() -> Path:
    """Where asterisk-conf/ and dialplan/ are: $CALLCENTER_PROJECT_DIR, else the current directory."""
    return Path(os.environ.get("CALLCENTER_PROJECT_DIR", ".")).resolve()


def add_force(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help="load the roster even if it deactivates every active agent or deactivates/renames a service with calls",
    )


# --- the store, as each kind of command may use it ---------------------------------------------------------------


def store_used(run: Invocation, access: str) -> None:
    """One line on stderr (a log line: stdout stays clean for --json) saying which config and store."""
    log.info("store_opened", config=str(run.source), store=run.config.store.shown, access=access)


async def reading(run: Invocation) -> Store:
    store = await opening.open_existing(run.config.store.target, busy_timeout=run.config.store.busy_timeout)
    store_used(run, "read-only")
    return store


async def changing(run: Invocation) -> Store:
    store = await opening.open_existing(
        run.config.store.target, readonly=False, busy_timeout=run.config.store.busy_timeout
    )
    store_used(run, "read-write, not migrated, roster not loaded")
    return store


async def as_served(store: Store, config: Config) -> Config:
    """The config with the rating half-life the store keeps: the serving process sets it, and the scores shown
    must be the ones callers hear, whatever this command's config says."""
    kept = await store.rating_half_life() or 0.0
    if kept == config.policy.half_life_days:
        return config
    log.warning("half_life_differs", config=config.policy.half_life_days, store=kept, shown="the store's")
    return dataclasses.replace(config, policy=dataclasses.replace(config.policy, half_life_days=kept))


def command_hint(run: Invocation, *words: str, argv0: str | None = None) -> str:
    """How to type `callcenter WORDS...` with this same config from the current directory."""
    prog = Path(sys.argv[0] if argv0 is None else argv0)
    if prog.name == "callcenter":
        shown = _relative(prog) if prog.parent != Path() else "callcenter"
    else:  # python -m callcenter.cli, or a test
        shown = f"{_relative(Path(sys.executable))} -m callcenter.cli"
    config: tuple[str, ...] = ()
    if run.source.found_by == "--config" and run.source.path is not None:
        # $CALLCENTER_CONFIG and the default location are found again the same way; --config is not
        config = ("--config", _relative(run.source.path))
    return shlex.join([*shown.split(" "), *config, *words])


def _relative(path: Path) -> str:
    # absolute, not resolved: .venv/bin/python is a symlink to a Python without the project installed
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def table(header: Sequence[str], body: Sequence[Sequence[str]], right: Collection[int] = ()) -> list[str]:
    """Columns two spaces apart, each as wide as its widest cell; numbers right-aligned."""
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded).rstrip()

    return [line(header), *(line(row) for row in body)]
