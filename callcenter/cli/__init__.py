"""`callcenter` command line. Every failure is one line saying what went wrong and how to fix it.

How each command may touch the store (issue #9: every command used to migrate it and load the config's roster):

* reading (ratings, policy, calls, evaluations list/history, agents list, db check, demo): the database must exist
  at the current schema, and SQLite opens it read-only;
* changing one thing (evaluations remove, clients reset-pin): the same, read-write;
* serve, run, db migrate and agents sync: create or migrate it and load the config's categories, services and
  roster, refusing a drastic change without --force (``callcenter.usecases.roster_sync``).

The config is --config, else $CALLCENTER_CONFIG, else /etc/callcenter/callcenter.toml; a command that needs one
and finds none fails rather than run on built-in defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog

from callcenter.agi import AGIError
from callcenter.ami.link import AMIError
from callcenter.asterisk.process import AsteriskError
from callcenter.asterisk.prompts import PromptError
from callcenter.asterisk.render import RenderError
from callcenter.asterisk.root import RootError
from callcenter.cli import agents, cluster, db, evaluations, operators, reports, service
from callcenter.cli.common import Handler, Invocation, command_hint
from callcenter.cli.service import run_hint
from callcenter.cluster.agents import through_proxy
from callcenter.config import BUILT_IN_DEFAULTS, Config, ConfigError, find_config, load_config, no_config_found
from callcenter.config.loading import DEFAULT_CONFIG_PATH
from callcenter.config.roster import load_roster
from callcenter.domain.agents import AgentSpec
from callcenter.logsetup import configure_logging
from callcenter.store import StoreError
from callcenter.usecases.roster_sync import SyncRefused
from callcenter.web.server import WebError
from callcenter.workers.supervisor import WorkerFailed

__all__ = ["Invocation", "build_parser", "command_hint", "main", "run_hint"]

log = structlog.get_logger(__name__)

# Failures an operator can fix; anything else is a bug and keeps its traceback.
OPERATOR_ERRORS = (
    LookupError,  # an unknown agent id or caller number given on the command line
    ConfigError,
    SyncRefused,
    AMIError,
    AGIError,
    RootError,
    AsteriskError,
    RenderError,
    PromptError,
    StoreError,
    WorkerFailed,  # its own line on stderr said why
    WebError,  # the console's port is taken
    OSError,
)


def main(argv: Sequence[str] | None = None) -> int:
    # Everything callcenter writes (the database with callers' numbers and PIN hashes, secrets, logs) is for its
    # own user only: no file of ours is ever readable by other local users.
    os.umask(0o077)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        source = find_config(args.config, os.environ)
        if source is None:
            if args.needs_config:
                raise no_config_found()
            source = BUILT_IN_DEFAULTS
        config = load_config(source.path, os.environ)
        try:
            configure_logging(args.log_format or config.log.format, args.log_level or config.log.level)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        handler: Handler = args.handler
        return asyncio.run(handler(Invocation(args, config, roster(config), source)))
    except ConfigError as exc:
        print(f"callcenter: configuration error: {exc}", file=sys.stderr)
        return 2
    except OPERATOR_ERRORS as exc:
        print(f"callcenter: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def roster(config: Config) -> tuple[AgentSpec, ...]:
    if config.roster is None:
        return ()
    agents = load_roster(config.roster, {s.id for s in config.services})
    # a cluster's node rings SIP agents through Kamailio, where their softphones register
    return through_proxy(agents, config.cluster.proxy) if config.cluster.enabled else agents


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="callcenter", description="Evaluation-driven call center on Asterisk 22.")
    p.add_argument(
        "--config",
        type=Path,
        help=f"TOML config file (default: $CALLCENTER_CONFIG, else {DEFAULT_CONFIG_PATH})",
    )
    p.add_argument("--log-format", choices=["auto", "console", "json"], help="log format (default: config)")
    p.add_argument("--log-level", help="debug, info, warning, error (default: config)")
    # every command needs a config unless it says otherwise: built-in defaults are never silently enough
    p.set_defaults(needs_config=True)
    sub = p.add_subparsers(title="commands", metavar="COMMAND")
    # in the order `callcenter --help` has always listed them
    service.add_commands(sub)
    reports.add_commands(sub)
    evaluations.add_commands(sub)
    reports.add_policy_and_calls_commands(sub)
    evaluations.add_clients_commands(sub)
    db.add_commands(sub)
    agents.add_commands(sub)
    operators.add_commands(sub)
    service.add_asterisk_commands(sub)
    cluster.add_commands(sub)
    return p
