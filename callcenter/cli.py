"""`callcenter` command line. Every failure is one line saying what went wrong and how to fix it."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from callcenter import explain, moderation, reports
from callcenter.agi import AGIError
from callcenter.ami.link import AMIError
from callcenter.app import CallCenter, Sandbox, open_store, wait_for_signal
from callcenter.asterisk.process import AsteriskError, AsteriskProcess
from callcenter.asterisk.prompts import PromptError
from callcenter.asterisk.render import InstanceLayout, RenderError
from callcenter.asterisk.root import RootError, ensure_root
from callcenter.config import Config, ConfigError, ami_secret_path, load_config
from callcenter.demo.run import DEMO_CALLER, demo_call
from callcenter.demo.seed import DEMO_HISTORY, seed_history
from callcenter.duty import with_initial
from callcenter.logsetup import configure_logging
from callcenter.numbers import normalise_number
from callcenter.roster import AgentSpec, load_roster
from callcenter.store import StoreError

log = structlog.get_logger(__name__)

# Failures an operator can fix; anything else is a bug and keeps its traceback.
OPERATOR_ERRORS = (
    LookupError,  # an unknown agent id or caller number given on the command line
    ConfigError,
    AMIError,
    AGIError,
    RootError,
    AsteriskError,
    RenderError,
    PromptError,
    StoreError,
    OSError,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        config = load_config(args.config, os.environ)
        configure_logging(args.log_format or config.log.format, args.log_level or config.log.level)
        agents = roster(config)
        handler: Callable[[argparse.Namespace, Config, tuple[AgentSpec, ...]], Coroutine[Any, Any, int]] = args.handler
        return asyncio.run(handler(args, config, agents))
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
        default=_env_path("CALLCENTER_CONFIG"),
        help="TOML config file (default: $CALLCENTER_CONFIG, else built-in defaults)",
    )
    p.add_argument("--log-format", choices=["auto", "console", "json"], help="log format (default: config)")
    p.add_argument("--log-level", help="debug, info, warning, error (default: config)")
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    s = sub.add_parser("serve", help="run the FastAGI server and the AMI link against a running Asterisk")
    s.set_defaults(handler=cmd_serve)

    s = sub.add_parser("run", help="start the sandbox Asterisk and the service together (Ctrl-C stops both)")
    s.add_argument("--no-demo", action="store_true", help="skip seeding demo ratings and the scripted demo call")
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

    ast = sub.add_parser("asterisk", help="the sandbox Asterisk").add_subparsers(
        title="asterisk commands", metavar="COMMAND"
    )
    s = ast.add_parser("build-root", help="build (or check) the private Asterisk 22 root")
    s.set_defaults(handler=cmd_asterisk_build_root)
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


def _add_report_commands(sub: Any) -> None:
    """ratings show, policy explain, calls list, db migrate/check: the commands that read the store."""
    ratings = sub.add_parser("ratings", help="scores as the IVR uses them").add_subparsers(
        title="ratings commands", metavar="COMMAND"
    )
    s = ratings.add_parser("show", help="an agent's or a caller's scores, recent evaluations, penalty/priority")
    who = s.add_mutually_exclusive_group(required=True)
    who.add_argument("--agent", help="agent id")
    who.add_argument("--client", help="caller number")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(handler=cmd_ratings_show)

    policy = sub.add_parser("policy", help="the rating policy").add_subparsers(
        title="policy commands", metavar="COMMAND"
    )
    s = policy.add_parser("explain", help="the numbers behind routing: scores, penalty, priority, queue choice")
    who = s.add_mutually_exclusive_group(required=True)
    who.add_argument("--agent", help="agent id")
    who.add_argument("--client", help="caller number")
    s.set_defaults(handler=cmd_policy_explain)

    ev = sub.add_parser("evaluations", help="operators: list or remove evaluations").add_subparsers(
        title="evaluations commands", metavar="COMMAND"
    )
    s = ev.add_parser("list", help="evaluations, newest first")
    s.add_argument("--agent", help="only calls served by this agent id")
    s.add_argument("--client", help="only calls from this caller number")
    s.add_argument("--deleted", action="store_true", help="include removed evaluations")
    s.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(handler=cmd_evaluations_list)
    s = ev.add_parser("remove", help="remove one evaluation (e.g. abusive); kept in the audit trail")
    s.add_argument("--call", required=True, help="the call's uniqueid (see `calls list`)")
    s.add_argument("--direction", required=True, choices=sorted(moderation.DIRECTION_NAMES))
    s.add_argument("--reason", required=True, help="why: recorded in the audit trail")
    s.add_argument("--operator", default=os.environ.get("USER", "operator"), help="who (default $USER)")
    s.set_defaults(handler=cmd_evaluations_remove)

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
    s = db.add_parser("migrate", help="create or upgrade the database schema, load config and roster")
    s.set_defaults(handler=cmd_db_migrate)
    s = db.add_parser("check", help="recompute every rating aggregate from the rows and report differences")
    s.set_defaults(handler=cmd_db_check)


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


async def cmd_serve(args: argparse.Namespace, config: Config, agents: tuple[AgentSpec, ...]) -> int:
    stop = asyncio.Event()
    async with CallCenter(config, agents):
        await wait_for_signal(stop)
    return 0


async def cmd_run(args: argparse.Namespace, config: Config, agents: tuple[AgentSpec, ...]) -> int:
    sandbox = Sandbox(config, project_dir(), agents)
    version = await sandbox.prepare()
    await sandbox.start(foreground=True)
    try:
        async with CallCenter(sandbox.config, agents) as center:
            assert center.agi is not None
            c = sandbox.config
            print(
                f"\n{version} and callcenter are running:\n"
                f"  SIP      udp {c.asterisk.sip_host}:{c.asterisk.sip_port}  service number "
                f"{c.asterisk.service_number} (trunk accepts {c.asterisk.trunk_match})\n"
                f"  AMI      tcp {c.ami.host}:{c.ami.port}  users {c.ami.username!r} (service), "
                f"{c.asterisk.driver_username!r} (demo/tests); secrets in {ami_secret_path(c).parent}\n"
                f"  FastAGI  tcp {c.agi.host}:{center.agi.port}\n"
                f"  store    {c.store.path}\n"
                f"  Asterisk logs {sandbox.layout.log_dir if sandbox.layout else '?'}\n"
                f"Press Ctrl-C to stop both.\n",
                flush=True,
            )
            if not args.no_demo:
                assert center.store is not None
                seeded = await seed_history(center.store, DEMO_HISTORY)
                if seeded:
                    print(f"seeded {seeded} past rated calls for the demo agents", flush=True)
                await demo_call(c, agents, out=lambda line: print(line, flush=True))
                print(
                    "\nThe call center keeps running: call 800 from a softphone, or `make demo` for "
                    "another scripted call. Ctrl-C stops.",
                    flush=True,
                )
            await wait_for_signal(asyncio.Event())
    finally:
        await sandbox.stop()
    return 0


async def cmd_demo(args: argparse.Namespace, config: Config, agents: tuple[AgentSpec, ...]) -> int:
    number = normalise_number(args.number)
    if number is None:
        raise ConfigError(f"--number {args.number!r} is not a phone number")
    await demo_call(config, agents, number=number)
    return 0


async def cmd_ratings_show(args: argparse.Namespace, config: Config, agents: tuple[AgentSpec, ...]) -> int:
    policy = config.policy
    async with await open_store(config, agents) as store:
        if args.agent:
            agent = await reports.agent_report(
                store, args.agent, config.categories, policy, owed_days=config.journey.remind_days
            )
            print(reports.to_json(agent) if args.json else reports.render_agent(agent))
        else:
            client = await reports.client_report(
                store,
                args.client,
                config.categories,
                policy,
                now=datetime.now(UTC),
                owed_days=config.journey.remind_days,
            )
            print(reports.to_json(client) if args.json else reports.render_client(client))
    return 0


async def cmd_policy_explain(args: argparse.Namespace, config: Config, agents: tuple[AgentSpec, ...]) -> int:
    async with await open_store(config, agents) as store:
        if args.agent:
            lines = await explain.explain_agent(store, args.agent, config)
        else:
            lines = await explain.explain_client(store, args.client, config)
    print("\n".join(lines))
    return 0


async def cmd_evaluations_list(args: argparse.Namespace, config: Config, agents: tuple[AgentSpec, ...]) -> int:
    async with await open_store(config, agents) as store:
        found = await moderation.list_evaluations(
            store, agent_id=args.agent, number=args.client, include_deleted=args.deleted, limit=args.limit
        )
    print(moderation.to_json(found) if args.json else moderation.render(found))
    return 0


async def cmd_evaluations_remove(args: argparse.Namespace, config: Config, agents: tuple[AgentSpec, ...]) -> int:
    direction = moderation.DIRECTION_NAMES[args.direction]
    if not args.reason.strip():
        raise ConfigError("--reason must say why: it is kept in the audit trail")
    async with await open_store(config, agents) as store:
        removed = await moderation.remove_evaluation(
            store,
            args.call,
            direction,
            operator=args.operator,
            reason=args.reason,
            now=datetime.now(UTC),
            rules=config.rules,
        )
    # the running service pushes the agent's new penalty at its next resync (reconnect or restart)
    print(f"removed evaluation #{removed.id} of call {removed.call_uniqueid} ({direction}); audit trail kept")
    return 0


async def cmd_calls_list(args: argparse.Namespace, config: Config, agents: tuple[AgentSpec, ...]) -> int:
    if args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    async with await open_store(config, agents) as store:
        rows = await reports.calls_report(store, agent_id=args.agent, number=args.client, limit=args.limit)
    print(reports.to_json(rows) if args.json else reports.render_calls(rows))
    return 0


async def cmd_clients_reset_pin(args: argparse.Namespace, config: Config, agents: tuple[AgentSpec, ...]) -> int:
    async with await open_store(config, agents) as store:
        try:
            client = await reports.find_client(store, args.number)
        except LookupError as exc:
            raise ConfigError(str(exc)) from None
        await store.set_client_pin(client.id, None, datetime.now(UTC))
    print(f"PIN of {client.number} cleared: they are offered a new one the next time they manage their ratings")
    return 0


async def cmd_db_migrate(args: argparse.Namespace, config: Config, agents: tuple[AgentSpec, ...]) -> int:
    store = await open_store(config, agents)
    await store.close()
    print(f"store {config.store.path} is up to date ({len(agents)} agents loaded)")
    return 0


async def cmd_db_check(args: argparse.Namespace, config: Config, agents: tuple[AgentSpec, ...]) -> int:
    store = await open_store(config, agents)
    try:
        problems = await store.check_invariants()
    finally:
        await store.close()
    for line in problems:
        print(line)
    print("aggregates consistent" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


async def cmd_agents_list(args: argparse.Namespace, config: Config, agents: tuple[AgentSpec, ...]) -> int:
    ids = [a.id for a in agents]
    async with await open_store(config, agents) as store:
        presence = with_initial(await store.get_presence(ids), ids, config.agents.initial_state)

    def shown(agent_id: str) -> str:
        p = presence[agent_id]
        return f"paused ({p.reason})" if p.state == "paused" else p.state

    if args.json:
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


async def cmd_asterisk_build_root(args: argparse.Namespace, config: Config, agents: tuple[AgentSpec, ...]) -> int:
    print(await ensure_root(config.asterisk.root))
    return 0


async def cmd_asterisk_render(args: argparse.Namespace, config: Config, agents: tuple[AgentSpec, ...]) -> int:
    sandbox = Sandbox(config, project_dir(), agents)
    await sandbox.prepare()
    assert sandbox.layout is not None
    print(f"rendered into {sandbox.layout.etc}")
    return 0


async def cmd_asterisk_start(args: argparse.Namespace, config: Config, agents: tuple[AgentSpec, ...]) -> int:
    sandbox = Sandbox(config, project_dir(), agents)
    version = await sandbox.prepare()
    await sandbox.start(foreground=False)
    print(f"{version} running (instance {config.asterisk.instance}, AMI 127.0.0.1:{config.ami.port})")
    return 0


async def cmd_asterisk_stop(args: argparse.Namespace, config: Config, agents: tuple[AgentSpec, ...]) -> int:
    await AsteriskProcess(InstanceLayout(config.asterisk.root, config.asterisk.instance)).stop()
    print("stopped")
    return 0


async def cmd_asterisk_cli(args: argparse.Namespace, config: Config, agents: tuple[AgentSpec, ...]) -> int:
    process = AsteriskProcess(InstanceLayout(config.asterisk.root, config.asterisk.instance))
    if not await process.running():
        raise AsteriskError(f"no Asterisk runs for instance {config.asterisk.instance!r}: `make run` first")
    print(await process.cli(" ".join(args.command)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
