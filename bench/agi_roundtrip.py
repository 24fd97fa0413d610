"""Step 6: our FastAGI server on loopback, driven by a fake Asterisk in a separate process (bench.agi_client).

Two viewpoints: the fake Asterisk times whole sessions (connect, header block, K commands, close), and the
route times each GET VARIABLE / SET VARIABLE from its side (command written -> reply parsed), which is the
per-command cost a call flow pays.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from bench.agi_client import ROUTE, Result, Scenario
from bench.config import Config
from bench.report import Section
from bench.timing import Stats
from callcenter.agi import AGISession, FastAGIServer

_GET, _SET = "GET VARIABLE", "SET VARIABLE"
_CLIENT_DEADLINE = 300.0


class CommandLoop:
    """The benchmark route: K commands alternating GET VARIABLE and SET VARIABLE, each one timed."""

    def __init__(self) -> None:
        self.samples: dict[tuple[str, str], list[int]] = defaultdict(list)

    async def __call__(self, session: AGISession) -> None:
        commands = int(session.env.params.get("k", "0"))
        tag = session.env.params.get("tag", "")
        for index in range(commands):
            start = time.perf_counter_ns()
            if index % 2 == 0:
                value = await session.get_variable("CALLERID(num)")
                name = _GET
                if value is None:
                    raise RuntimeError("GET VARIABLE returned nothing")
            else:
                await session.set_variable("CC_BENCH_STEP", str(index))
                name = _SET
            self.samples[(tag, name)].append(time.perf_counter_ns() - start)


async def _drive(port: int, plan: list[Scenario]) -> dict[str, Result]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.agi_client",
        str(port),
        json.dumps(plan),
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[1],
    )
    async with asyncio.timeout(_CLIENT_DEADLINE):
        out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the fake Asterisk (bench.agi_client) exited with {process.returncode}")
    results: list[Result] = json.loads(out)
    return {result["tag"]: result for result in results}


async def agi(config: Config, section: Section) -> None:
    sequential = config.agi_sessions
    plan: list[Scenario] = [
        {"tag": "warmup", "commands": 10, "sessions": 20, "concurrency": 1},
        {"tag": "k0", "commands": 0, "sessions": sequential, "concurrency": 1},
        {"tag": "k10", "commands": 10, "sessions": sequential, "concurrency": 1},
        {"tag": "k100", "commands": 100, "sessions": max(10, sequential // 5), "concurrency": 1},
        {
            "tag": "c10",
            "commands": 10,
            "sessions": config.agi_concurrent_sessions,
            "concurrency": config.agi_concurrency,
        },
    ]
    route = CommandLoop()
    server = FastAGIServer({ROUTE: route}, host="127.0.0.1", port=0)
    await server.start()
    try:
        results = await _drive(server.port, plan)
    finally:
        await server.stop()

    def client(tag: str) -> Stats:
        return Stats.of(results[tag]["samples_ns"])

    for tag, commands in (("k0", 0), ("k10", 10), ("k100", 100)):
        what = "setup + teardown only" if commands == 0 else f"{commands} commands"
        section.add(f"session, {what}", "1 at a time (Asterisk side)", client(tag))
    section.add(f"  {_GET} round trip", "1 at a time (route side)", Stats.of(route.samples[("k100", _GET)]))
    section.add(f"  {_SET} round trip", "1 at a time (route side)", Stats.of(route.samples[("k100", _SET)]))
    concurrent = results["c10"]
    label = f"{config.agi_concurrency} at once (Asterisk side)"
    section.add("session, 10 commands", label, Stats.of(concurrent["samples_ns"], wall_ns=concurrent["wall_ns"]))
    both = route.samples[("c10", _GET)] + route.samples[("c10", _SET)]
    section.add("  GET/SET VARIABLE round trip", f"{config.agi_concurrency} at once (route side)", Stats.of(both))
    setup = client("k0").mean_ns
    per_command = (client("k100").mean_ns - setup) / 100
    section.notes += [
        f"derived: session setup+teardown ~{setup / 1e3:.0f} us, each further command ~{per_command / 1e3:.0f} us "
        "(slope of the 0- and 100-command means).",
        "the fake Asterisk is a separate Python process on loopback; a real Asterisk answers faster, and a real",
        "call's commands wait for audio (prompts, DTMF) far longer than any of this.",
        f"the 'at once' row's ops/s is sessions per second of wall time with {config.agi_concurrency} in flight.",
    ]
