"""``python -m bench`` (``make bench``): print what each IVR step costs and how it grows.

python -m bench                 full run (under a minute on two cores)
python -m bench --quick         smaller sizes, short budgets: a smoke run
python -m bench --only offer    one step (repeatable): offer caller call evaluation concurrency agi invariants
                                selfservice calls classic asterisk wallboard

calls:    whole calls (every route of one call) against a fake Asterisk, the service beside a bare-route floor
classic:  the agent offer as a process-per-call pyst2 AGI script vs the FastAGI route, through a real Asterisk
asterisk: callers through a real Asterisk and the real inbound route at 50 and 100 at once
(classic and asterisk boot the sandbox Asterisk and are skipped by --quick)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import steps
from bench.agi_roundtrip import agi
from bench.calls import calls
from bench.classic import asterisk_load, classic
from bench.config import Config, Worlds
from bench.report import Section, print_header
from bench.wallboard import wallboard
from callcenter.logsetup import configure_logging

StepFn = Callable[[steps.Context, Section], Awaitable[None]]


async def _agi(ctx: steps.Context, section: Section) -> None:
    await agi(ctx.config, section)


async def _calls(ctx: steps.Context, section: Section) -> None:
    await calls(ctx.config.directory, quick=ctx.config.quick, targets=ctx.targets)


async def _classic(ctx: steps.Context, section: Section) -> None:
    if ctx.config.quick:
        print("   skipped in --quick (boots the sandbox Asterisk)")
        return
    await classic(ctx.config.directory, targets=ctx.targets)


async def _asterisk(ctx: steps.Context, section: Section) -> None:
    if ctx.config.quick:
        print("   skipped in --quick (boots the sandbox Asterisk)")
        return
    await asterisk_load(ctx.config.directory, targets=ctx.targets)


async def _wallboard(ctx: steps.Context, section: Section) -> None:
    await wallboard(section, quick=ctx.config.quick)


# steps that print their own tables (figures beside the issue's targets), not the store steps' columns
OWN_TABLES = frozenset({"calls", "classic", "asterisk"})

STEPS: dict[str, tuple[str, StepFn]] = {
    "offer": (
        "1. agent offer: the kept ranking's top 3 (before: list_agents + agent_summaries + last_answered + rank)",
        steps.offer,
    ),
    "caller": (
        "2. caller identification + reputation: client_for_number + unrated_calls + client_summary + priority",
        steps.caller,
    ),
    "call": (
        "3. recording a call: start_call -> set_call_service -> call_queued -> call_answered -> call_ended",
        steps.call,
    ),
    "evaluation": ("4. recording an evaluation (incremental totals)", steps.evaluation),
    "concurrency": ("5. concurrent writers on one store", steps.concurrency),
    "agi": ("6. FastAGI round trip (our server, fake Asterisk process, loopback)", _agi),
    "invariants": ("7. invariant check (operator tooling, not the call path)", steps.invariants),
    "selfservice": ("8. self-service: review lists, presence changes, PIN checks", steps.selfservice),
    "calls": (
        "9. whole calls (inbound -> screen -> connected -> after-queue -> call-end) vs the bare-route floor, "
        "fake Asterisk",
        _calls,
    ),
    "classic": ("10. the agent offer: classic process-per-call AGI (pyst2) vs FastAGI, real Asterisk", _classic),
    "asterisk": ("11. callers through a real Asterisk: CPU and key-press-to-next-prompt", _asterisk),
    "wallboard": ("12. the wallboard: rebuilding the snapshot after events (callcenter/web/board.py)", _wallboard),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="smaller sizes and budgets: a fast smoke run")
    parser.add_argument("--only", action="append", choices=list(STEPS), metavar="STEP", help=", ".join(STEPS))
    parser.add_argument("--dir", type=Path, default=None, help="where to create the temp databases (default: TMPDIR)")
    return parser.parse_args(argv)


def quiet_production_logging() -> None:
    """The server logs as in production (JSON, info), but into /dev/null: its cost counts, its lines do not."""
    configure_logging("json", "info", stream=open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process


async def run(args: argparse.Namespace) -> None:
    chosen = args.only or list(STEPS)
    with tempfile.TemporaryDirectory(prefix="callcenter-bench-", dir=args.dir) as directory:
        config = Config.make(Path(directory), quick=args.quick)
        print_header(Path(directory), quick=args.quick)
        ctx = steps.Context(config=config, worlds=Worlds(config))
        try:
            for key, (title, step) in STEPS.items():
                if key not in chosen:
                    continue
                section = Section(key, title)
                section.begin(columns=key not in OWN_TABLES)
                started = time.perf_counter()
                await step(ctx, section)
                section.notes.append(f"step took {time.perf_counter() - started:.1f} s including seeding")
                section.end()
        finally:
            await ctx.worlds.close()
        ctx.targets.print()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    quiet_production_logging()
    started = time.perf_counter()
    asyncio.run(run(args))
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
