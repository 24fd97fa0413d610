"""`callcenter` command line. Every failure is one line saying what went wrong and how to fix it.

How each command may touch the store (issue #9: every command used to migrate it and load the config's roster):

* reading (ratings, policy, calls, evaluations list/history, agents list, db check, demo): the database must exist
  at the current schema, and SQLite opens it read-only;
* changing one thing (evaluations remove, clients reset-pin): the same, read-write;
* serve, run, db migrate and agents sync: create or migrate it and load the config's categories, services and
  roster, refusing a drastic change without --force (``callcenter.roster_sync``).

The config is --config, else $CALLCENTER_CONFIG, else /etc/callcenter/callcenter.toml; a command that needs one
and finds none fails rather than run on built-in defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shlex
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from callcenter import explain, history, moderation, reports
from callcenter.agi import AGIError
from callcenter.ami.link import AMIError
from callcenter.app import CallCenter, Sandbox, migrate_and_sync, wait_for_signal
from callcenter.asterisk.process import AsteriskError, AsteriskProcess
from callcenter.asterisk.prompts import PromptError
from callcenter.asterisk.render import InstanceLayout, RenderError
from callcenter.asterisk.root import RootError, ensure_root
from callcenter.config import (
    BUILT_IN_DEFAULTS,
    DEFAULT_CONFIG_PATH,
    Config,
    ConfigError,
    ConfigSource,
    ami_secret_path,
    find_config,
    load_config,
    no_config_found,
)
from callcenter.demo.run import DEMO_CALLER, demo_call
from callcenter.demo.seed import DEMO_HISTORY, seed_history
from callcenter.duty import with_initial
from callcenter.logsetup import configure_logging
from callcenter.numbers import normalise_number
from callcenter.roster import AgentSpec, load_roster
from callcenter.roster_sync import SyncRefused
from callcenter.store import Store, StoreError, opening
from callcenter.store import copy as store_copy

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
    OSError,
)


@dataclass(frozen=True, slots=True)
class Invocation:
    """One command as given: its arguments, the config it runs with and where that came from."""

    args: argparse.Namespace
    config: Config
    agents: tuple[AgentSpec, ...]
    source: ConfigSource


Handler = Callable[[Invocation], Coroutine[Any, Any, int]]


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
    return load_roster(config.roster, {s.id for s in config.services})


def project_dir() -> Path:
    """Where asterisk-conf/ and dialplan/ are: $CALLCENTER_PROJECT_DIR, else the current directory."""
    return Path(os.environ.get("CALLCENTER_PROJECT_DIR", ".")).resolve()


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

    s = sub.add_parser("serve", help="run the FastAGI server and the AMI link against a running Asterisk")
    _add_force(s)
    s.set_defaults(handler=cmd_serve)

    s = sub.add_parser("run", help="start the sandbox Asterisk and the service together (Ctrl-C stops both)")
    s.add_argument("--no-demo", action="store_true", help="skip seeding demo ratings and the scripted demo call")
    _add_force(s)
    s.set_defaults(handler=cmd_run)

    s = sub.add_parser("demo", help="place one scripted call through the running system and print its transcript")
    s.add_argument("--number", default=DEMO_CALLER, help=f"the caller's number (default {DEMO_CALLER})")
    s.set_defaults(handler=cmd_demo)

    _add_report_commands(sub)

    agents = sub.add_parser("agents", help="the agent roster").add_subparsers(
        title="agents commands", metavar="COMMAND"
    )
    s = agents.add_parser("list", help="list agents, their services and how they are reached")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(handler=cmd_agents_list)
    s = agents.add_parser("sync", help="load the config's roster, services and categories into the store")
    _add_force(s)
    s.set_defaults(handler=cmd_agents_sync)

    ast = sub.add_parser("asterisk", help="the sandbox Asterisk").add_subparsers(
        title="asterisk commands", metavar="COMMAND"
    )
    s = ast.add_parser("build-root", help="build (or check) the private Asterisk 22 root")
    s.set_defaults(handler=cmd_asterisk_build_root, needs_config=False)
    s = ast.add_parser("render", help="render asterisk-conf/ and dialplan/ into the instance directory")
    s.set_defaults(handler=cmd_asterisk_render)
    s = ast.add_parser("start", help="render and start the sandbox Asterisk in the background")
    s.set_defaults(handler=cmd_asterisk_start)
    s = ast.add_parser("stop", help="stop the sandbox Asterisk")
    s.set_defaults(handler=cmd_asterisk_stop)
    s = ast.add_parser("cli", help="run one Asterisk CLI command, e.g. `queue show`")
    s.add_argument("command", nargs="+", help="the CLI command")
    s.set_defaults(handler=cmd_asterisk_cli)
    return p


def _add_force(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help="load the roster even if it deactivates every active agent or deactivates/renames a service with calls",
    )


def _add_report_commands(sub: Any) -> None:
    """ratings, policy, evaluations, calls, clients, db: the operator's commands on the store."""
    ratings = sub.add_parser("ratings", help="scores as the IVR uses them").add_subparsers(
        title="ratings commands", metavar="COMMAND"
    )
    s = ratings.add_parser("show", help="an agent's or a caller's scores, recent evaluations, penalty/priority")
    who = s.add_mutually_exclusive_group(required=True)
    who.add_argument("--agent", help="agent id")
    who.add_argument("--client", help="caller number")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(handler=cmd_ratings_show)

    _add_evaluation_commands(sub)

    policy = sub.add_parser("policy", help="the rating policy").add_subparsers(
        title="policy commands", metavar="COMMAND"
    )
    s = policy.add_parser("explain", help="the numbers behind routing: scores, penalty, priority, queue choice")
    who = s.add_mutually_exclusive_group(required=True)
    who.add_argument("--agent", help="agent id")
    who.add_argument("--client", help="caller number")
    s.set_defaults(handler=cmd_policy_explain)

    calls = sub.add_parser("calls", help="recorded calls").add_subparsers(title="calls commands", metavar="COMMAND")
    s = calls.add_parser("list", help="recent calls with outcome, hold/talk seconds and who rated")
    s.add_argument("--agent", help="only calls served by this agent id")
    s.add_argument("--client", help="only calls from this caller number")
    s.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(handler=cmd_calls_list)

    clients = sub.add_parser("clients", help="callers").add_subparsers(title="clients commands", metavar="COMMAND")
    s = clients.add_parser("reset-pin", help="clear the PIN a caller protects their ratings with (they forgot it)")
    s.add_argument("number", help="the caller's number")
    s.set_defaults(handler=cmd_clients_reset_pin)

    db = sub.add_parser("db", help="the evaluation store").add_subparsers(title="db commands", metavar="COMMAND")
    s = db.add_parser("migrate", help="create or upgrade the database schema, load the config's roster")
    _add_force(s)
    s.set_defaults(handler=cmd_db_migrate)
    s = db.add_parser("check", help="recompute every rating aggregate from the rows and report differences")
    s.set_defaults(handler=cmd_db_check)
    _add_db_copy(db)


def _add_evaluation_commands(sub: Any) -> None:
    ev = sub.add_parser("evaluations", help="operators: list, trace or remove evaluations").add_subparsers(
        title="evaluations commands", metavar="COMMAND"
    )
    s = ev.add_parser("list", help="evaluations, newest first")
    s.add_argument("--agent", help="only calls served by this agent id")
    s.add_argument("--client", help="only calls from this caller number")
    s.add_argument("--deleted", action="store_true", help="include removed evaluations")
    s.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(handler=cmd_evaluations_list)
    s = ev.add_parser("history", help="every change of an evaluation (the audit trail), newest first")
    s.add_argument("--call", help="only this call's evaluations (its uniqueid, see `calls list`)")
    s.add_argument("--agent", help="only calls served by this agent id")
    s.add_argument("--client", help="only calls from this caller number")
    s.add_argument("--limit", type=int, default=50, help="how many changes (default 50)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(handler=cmd_evaluations_history)
    s = ev.add_parser("remove", help="remove one evaluation (e.g. abusive); kept in the audit trail")
    s.add_argument("--call", required=True, help="the call's uniqueid (see `calls list`)")
    s.add_argument("--direction", required=True, choices=sorted(moderation.DIRECTION_NAMES))
    s.add_argument("--reason", required=True, help="why: recorded in the audit trail")
    s.add_argument("--operator", default=os.environ.get("USER", "operator"), help="who (default $USER)")
    s.set_defaults(handler=cmd_evaluations_remove)


# --- the store, as each kind of command may use it ---------------------------------------------------------------


def _store_used(run: Invocation, access: str) -> None:
    """One line on stderr (a log line: stdout stays clean for --json) saying which config and store."""
    log.info("store_opened", config=str(run.source), store=run.config.store.shown, access=access)


async def _reading(run: Invocation) -> Store:
    store = await opening.open_existing(run.config.store.target, busy_timeout=run.config.store.busy_timeout)
    _store_used(run, "read-only")
    return store


async def _changing(run: Invocation) -> Store:
    store = await opening.open_existing(
        run.config.store.target, readonly=False, busy_timeout=run.config.store.busy_timeout
    )
    _store_used(run, "read-write, not migrated, roster not loaded")
    return store


async def _as_served(store: Store, config: Config) -> Config:
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


# --- commands ----------------------------------------------------------------------------------------------------


async def cmd_serve(run: Invocation) -> int:
    stop = asyncio.Event()
    async with CallCenter(run.config, run.agents, force=run.args.force):
        _store_used(run, "serving: migrated, roster loaded")
        await wait_for_signal(stop)
    return 0


async def cmd_run(run: Invocation) -> int:
    sandbox = Sandbox(run.config, project_dir(), run.agents)
    version = await sandbox.prepare()
    await sandbox.start(foreground=True)
    try:
        async with CallCenter(sandbox.config, run.agents, force=run.args.force) as center:
            _store_used(run, "serving: migrated, roster loaded")
            assert center.agi is not None
            c = sandbox.config
            print(
                f"\n{version} and callcenter are running:\n"
                f"  SIP      udp {c.asterisk.sip_host}:{c.asterisk.sip_port}  service number "
                f"{c.asterisk.service_number} (trunk accepts {c.asterisk.trunk_match})\n"
                f"  AMI      tcp {c.ami.host}:{c.ami.port}  users {c.ami.username!r} (service), "
                f"{c.asterisk.driver_username!r} (demo/tests); secrets in {ami_secret_path(c).parent}\n"
                f"  FastAGI  tcp {c.agi.host}:{center.agi.port}\n"
                f"  store    {c.store.shown}\n"
                f"  Asterisk logs {sandbox.layout.log_dir if sandbox.layout else '?'}\n"
                f"Press Ctrl-C to stop both.\n",
                flush=True,
            )
            if not run.args.no_demo:
                assert center.store is not None
                seeded = await seed_history(center.store, DEMO_HISTORY)
                if seeded:
                    print(f"seeded {seeded} past rated calls for the demo agents", flush=True)
                await demo_call(c, run.agents, out=lambda line: print(line, flush=True), store=center.store)
            print(f"\n{run_hint(run)}", flush=True)
            await wait_for_signal(asyncio.Event())
    finally:
        await sandbox.stop()
    return 0


def run_hint(run: Invocation) -> str:
    """What to try next while `run` keeps going, as commands that work when typed in another terminal."""
    first = run.agents[0].id if run.agents else "1001"
    return (
        f"The call center keeps running: call {run.config.asterisk.service_number} from a softphone, `make demo` "
        f"for another scripted call, `{command_hint(run, 'ratings', 'show', '--agent', first)}` for the new "
        "numbers. Ctrl-C stops."
    )


async def cmd_demo(run: Invocation) -> int:
    number = normalise_number(run.args.number)
    if number is None:
        raise ConfigError(f"--number {run.args.number!r} is not a phone number")
    async with await _reading(run) as store:
        await demo_call(run.config, run.agents, number=number, store=store)
    return 0


async def cmd_ratings_show(run: Invocation) -> int:
    args = run.args
    async with await _reading(run) as store:
        config = await _as_served(store, run.config)
        if args.agent:
            agent = await reports.agent_report(
                store, args.agent, config.categories, config.policy, owed_days=config.journey.remind_days
            )
            print(reports.to_json(agent) if args.json else reports.render_agent(agent))
        else:
            client = await reports.client_report(
                store,
                args.client,
                config.categories,
                config.policy,
                now=datetime.now(UTC),
                owed_days=config.journey.remind_days,
            )
            print(reports.to_json(client) if args.json else reports.render_client(client))
    return 0


async def cmd_policy_explain(run: Invocation) -> int:
    async with await _reading(run) as store:
        config = await _as_served(store, run.config)
        if run.args.agent:
            lines = await explain.explain_agent(store, run.args.agent, config)
        else:
            lines = await explain.explain_client(store, run.args.client, config)
    print("\n".join(lines))
    return 0


async def cmd_evaluations_list(run: Invocation) -> int:
    args = run.args
    async with await _reading(run) as store:
        found = await moderation.list_evaluations(
            store, agent_id=args.agent, number=args.client, include_deleted=args.deleted, limit=args.limit
        )
    print(moderation.to_json(found) if args.json else moderation.render(found))
    return 0


async def cmd_evaluations_history(run: Invocation) -> int:
    args = run.args
    if args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    async with await _reading(run) as store:
        rows = await history.history(store, call=args.call, agent_id=args.agent, number=args.client, limit=args.limit)
    print(history.to_json(rows) if args.json else history.render(rows))
    return 0


async def cmd_evaluations_remove(run: Invocation) -> int:
    args = run.args
    direction = moderation.DIRECTION_NAMES[args.direction]
    if not args.reason.strip():
        raise ConfigError("--reason must say why: it is kept in the audit trail")
    async with await _changing(run) as store:
        removed = await moderation.remove_evaluation(
            store,
            args.call,
            direction,
            operator=args.operator,
            reason=args.reason,
            now=datetime.now(UTC),
            rules=run.config.rules,
        )
    # the running service pushes the agent's new penalty at its next resync (reconnect or restart)
    print(f"removed evaluation #{removed.id} of call {removed.call_uniqueid} ({args.direction}); audit trail kept")
    return 0


async def cmd_calls_list(run: Invocation) -> int:
    args = run.args
    if args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    async with await _reading(run) as store:
        rows = await reports.calls_report(store, agent_id=args.agent, number=args.client, limit=args.limit)
    print(reports.to_json(rows) if args.json else reports.render_calls(rows))
    return 0


async def cmd_clients_reset_pin(run: Invocation) -> int:
    async with await _changing(run) as store:
        try:
            client = await reports.find_client(store, run.args.number)
        except LookupError as exc:
            raise ConfigError(str(exc)) from None
        await store.set_client_pin(client.id, None, datetime.now(UTC))
    print(f"PIN of {client.number} cleared: they are offered a new one the next time they manage their ratings")
    return 0


async def cmd_db_migrate(run: Invocation) -> int:
    done = await migrate_and_sync(run.config, run.agents, force=run.args.force)
    _store_used(run, "migrated, roster loaded")
    print(f"store {run.config.store.shown} is up to date ({done})")
    return 0


async def cmd_agents_sync(run: Invocation) -> int:
    done = await migrate_and_sync(run.config, run.agents, force=run.args.force)
    _store_used(run, "migrated, roster loaded")
    print(f"roster loaded into {run.config.store.shown}: {done}")
    return 0


async def cmd_db_check(run: Invocation) -> int:
    async with await _reading(run) as store:
        problems = await store.check_invariants()
        kept = await store.rating_half_life() or 0.0
    if kept != run.config.policy.half_life_days:
        # not a problem of the data: the serving process recomputes the sums for its config when it starts
        print(
            f"note: the decayed ratings are kept for half_life_days = {kept:g}, this config says "
            f"{run.config.policy.half_life_days:g} (a service started with it recomputes them)"
        )
    for line in problems:
        print(line)
    print("aggregates consistent" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


# --- db copy (callcenter/store/copy.py): the configured store's whole history into an empty one --------------------


def _add_db_copy(db: Any) -> None:
    s = db.add_parser("copy", help="copy the whole history into an empty store (e.g. PostgreSQL) and verify it")
    s.add_argument("--to", required=True, metavar="URL", help="the target store: postgresql://... or sqlite:///path")
    s.set_defaults(handler=cmd_db_copy)


async def cmd_db_copy(run: Invocation) -> int:
    target = opening.StoreUrl.parse(run.args.to)
    _store_used(run, f"read-only, copied to {target}")
    report = await store_copy.copy_between(run.config.store.target, target, busy_timeout=run.config.store.busy_timeout)
    for line in report.lines():
        print(line)
    print(f"copied to {target}: every check passed" if report.ok else f"copied to {target}: CHECKS FAILED (above)")
    return 0 if report.ok else 1


async def cmd_agents_list(run: Invocation) -> int:
    agents, config = run.agents, run.config
    ids = [a.id for a in agents]
    async with await _reading(run) as store:
        presence = with_initial(await store.get_presence(ids), ids, config.agents.initial_state)

    def shown(agent_id: str) -> str:
        p = presence[agent_id]
        return f"paused ({p.reason})" if p.state == "paused" else p.state

    if run.args.json:
        print(
            json.dumps(
                [
                    {
                        "id": a.id,
                        "name": a.name,
                        "services": list(a.services),
                        "kind": a.kind,
                        "interface": a.interface,
                        "queue": a.own_queue,
                        "presence": presence[a.id].state,
                        "pause_reason": presence[a.id].reason,
                    }
                    for a in agents
                ],
                indent=2,
            )
        )
        return 0
    if not agents:
        print("no agents: set `roster` in the config to an agents TOML file")
        return 0
    print(f"{'ID':<8} {'NAME':<16} {'KIND':<9} {'INTERFACE':<32} {'PRESENCE':<18} SERVICES")
    for a in agents:
        print(f"{a.id:<8} {a.name:<16} {a.kind:<9} {a.interface:<32} {shown(a.id):<18} {', '.join(a.services)}")
    return 0


async def cmd_asterisk_build_root(run: Invocation) -> int:
    print(await ensure_root(run.config.asterisk.root))
    return 0


async def cmd_asterisk_render(run: Invocation) -> int:
    sandbox = Sandbox(run.config, project_dir(), run.agents)
    await sandbox.prepare()
    assert sandbox.layout is not None
    print(f"rendered into {sandbox.layout.etc}")
    return 0


async def cmd_asterisk_start(run: Invocation) -> int:
    config = run.config
    sandbox = Sandbox(config, project_dir(), run.agents)
    version = await sandbox.prepare()
    await sandbox.start(foreground=False)
    print(f"{version} running (instance {config.asterisk.instance}, AMI 127.0.0.1:{config.ami.port})")
    return 0


async def cmd_asterisk_stop(run: Invocation) -> int:
    config = run.config
    await AsteriskProcess(InstanceLayout(config.asterisk.root, config.asterisk.instance)).stop()
    print("stopped")
    return 0


async def cmd_asterisk_cli(run: Invocation) -> int:
    config = run.config
    process = AsteriskProcess(InstanceLayout(config.asterisk.root, config.asterisk.instance))
    if not await process.running():
        raise AsteriskError(f"no Asterisk runs for instance {config.asterisk.instance!r}: `make run` first")
    print(await process.cli(" ".join(run.args.command)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
