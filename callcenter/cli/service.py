"""Running the call center: `serve`, `run` (sandbox Asterisk + service), `demo`, and `asterisk ...`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Literal, cast

from callcenter.app import open_serving_store, serving
from callcenter.asterisk.process import AsteriskError, AsteriskProcess
from callcenter.asterisk.render import InstanceLayout
from callcenter.asterisk.root import ensure_root
from callcenter.asterisk.sandbox import Sandbox
from callcenter.cli.common import Invocation, add_force, command_hint, project_dir, reading, store_used
from callcenter.config import Config, ConfigError, ami_secret_path, ensure_secret, require_ami_secret
from callcenter.demo.run import DEMO_CALLER, demo_call
from callcenter.demo.seed import DEMO_HISTORY, seed_history
from callcenter.domain.agents import AgentSpec
from callcenter.domain.numbers import normalise_number
from callcenter.domain.tokens import check_password
from callcenter.store import Store
from callcenter.usecases.ports import utcnow
from callcenter.usecases.sign_in import add_operator
from callcenter.workers.supervisor import Supervisor


def add_commands(sub: Any) -> None:
    s = sub.add_parser("serve", help="run the FastAGI server and the AMI link against a running Asterisk")
    add_force(s)
    s.set_defaults(handler=cmd_serve)

    s = sub.add_parser("run", help="start the sandbox Asterisk and the service together (Ctrl-C stops both)")
    s.add_argument("--no-demo", action="store_true", help="skip seeding demo ratings and the scripted demo call")
    add_force(s)
    s.set_defaults(handler=cmd_run)

    s = sub.add_parser("demo", help="place one scripted call through the running system and print its transcript")
    s.add_argument("--number", default=DEMO_CALLER, help=f"the caller's number (default {DEMO_CALLER})")
    s.set_defaults(handler=cmd_demo)


def add_asterisk_commands(sub: Any) -> None:
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


async def cmd_serve(run: Invocation) -> int:
    stop = asyncio.Event()
    # the handlers first: a SIGTERM while the workers start (the supervisor already said they did) must stop
    # them in order, not kill this process and leave them to notice
    with stop_on_signals(stop):
        async with service(run, run.config, run.agents):
            store_used(run, "serving: migrated, roster loaded")
            await stop.wait()
    return 0


@contextlib.asynccontextmanager
async def service(run: Invocation, config: Config, agents: Sequence[AgentSpec]) -> AsyncIterator[tuple[Store, int]]:
    """The service as ``[service] workers`` says: this process alone, or a supervisor and its workers; yields a
    store this process may use (the demo's seeding and transcript) and the FastAGI port."""
    count = config.service.worker_count()
    if count == 1:
        async with serving(config, agents, force=run.args.force) as center:
            yield center.store, center.agi.port
        return
    require_ami_secret(config)
    # migrated and the roster loaded once, here, before any worker opens it: a store that cannot be opened is one
    # line and exit 1, as with one process, and the workers find nothing to change
    async with await open_serving_store(config, agents, force=run.args.force) as store:
        fmt, level = log_settings(run)
        supervisor = Supervisor(config, agents, count=count, log_format=fmt, log_level=level, force=run.args.force)
        await supervisor.start()
        try:
            yield store, supervisor.port
        finally:
            await supervisor.stop()


def log_settings(run: Invocation) -> tuple[Literal["auto", "console", "json"], str]:
    """The log format and level this command runs with, for the workers to use the same."""
    fmt = cast('Literal["auto", "console", "json"]', run.args.log_format or run.config.log.format)
    return fmt, run.args.log_level or run.config.log.level


async def cmd_run(run: Invocation) -> int:
    sandbox = Sandbox(run.config, project_dir(), run.agents)
    version = await sandbox.prepare()
    await sandbox.start(foreground=True)
    try:
        async with service(run, sandbox.config, run.agents) as (store, port):
            store_used(run, "serving: migrated, roster loaded")
            c = sandbox.config
            web = await demo_operator(store, c) if c.web.enabled else None
            print(
                f"\n{version} and callcenter are running:\n"
                f"  SIP      udp {c.asterisk.sip_host}:{c.asterisk.sip_port}  service number "
                f"{c.asterisk.service_number} (trunk accepts {c.asterisk.trunk_match})\n"
                f"  AMI      tcp {c.ami.host}:{c.ami.port}  users {c.ami.username!r} (service), "
                f"{c.asterisk.driver_username!r} (demo/tests); secrets in {ami_secret_path(c).parent}\n"
                f"  FastAGI  tcp {c.agi.host}:{port}{workers_note(c)}\n"
                f"  store    {c.store.shown}\n"
                + (f"  web      http://{c.web.host}:{c.web.port}/  {web}\n" if web else "")
                + f"  Asterisk logs {sandbox.layout.log_dir if sandbox.layout else '?'}\n"
                f"Press Ctrl-C to stop both.\n",
                flush=True,
            )
            if not run.args.no_demo:
                seeded = await seed_history(store, DEMO_HISTORY)
                if seeded:
                    print(f"seeded {seeded} past rated calls for the demo agents", flush=True)
                await demo_call(c, run.agents, out=lambda line: print(line, flush=True), store=store)
            print(f"\n{run_hint(run)}", flush=True)
            await wait_for_signal(asyncio.Event())
    finally:
        await sandbox.stop()
    return 0


DEMO_OPERATOR = "demo"


async def demo_operator(store: Store, config: Config) -> str:
    """`make run`'s console account: operator "demo" with a generated password kept in the state directory
    (git-ignored, mode 0600), created once; what the banner says about signing in."""
    path = config.state_dir / "secrets" / "web-demo.password"
    password = ensure_secret(path)
    found = await store.get_operator(DEMO_OPERATOR)
    # a kept database with a new state directory (or the other way round): the file is what the banner promises
    if found is None or not found.active or not await asyncio.to_thread(check_password, password, found.password_hash):
        await add_operator(store, DEMO_OPERATOR, password, utcnow)
    return f"operator {DEMO_OPERATOR!r}, password in {path}"


def workers_note(config: Config) -> str:
    """After the FastAGI address: nothing for one process, else how many share it."""
    count = config.service.worker_count()
    return "" if count == 1 else f"  ({count} workers, {config.service.listen})"


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
    async with await reading(run) as store:
        await demo_call(run.config, run.agents, number=number, store=store)
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


async def wait_for_signal(stop: asyncio.Event) -> None:
    """Return on SIGINT/SIGTERM (Ctrl-C in `make run`, systemd's stop)."""
    with stop_on_signals(stop):
        await stop.wait()


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM set ``stop`` instead of ending the process."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
