"""The bare-route floor: a FastAGI server that sends, per route, exactly the command lines a real call's route sent
(recorded from the service by the benchmark), with no store, ranking or logging work in between.

Run as its own process, like the service (``python -m bench.floor PORT SCRIPTS.json``), on the project's own
FastAGI core (``callcenter.agi``): what separates a real route from this floor is the call center's work, not the
protocol's. SCRIPTS.json maps route name -> list of command lines.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from callcenter.agi import AGISession, FastAGIServer, Route
from callcenter.agi.protocol import format_command
from callcenter.logsetup import configure_logging

REPLAY_TIMEOUT = 60.0


def split_words(line: str) -> list[str]:
    """A command line back into its words, as Asterisk's parse_args reads it (double quotes, backslash escapes)."""
    words: list[str] = []
    current: list[str] = []
    quoted = escaped = in_word = False
    for ch in line.rstrip("\n"):
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = in_word = True
        elif ch == '"':
            quoted = not quoted
            in_word = True
        elif ch == " " and not quoted:
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(ch)
            in_word = True
    if in_word:
        words.append("".join(current))
    return words


def replayable(lines: Sequence[str]) -> bool:
    """True when every line comes out of format_command byte for byte as it was recorded."""
    return all(format_command(*split_words(line)) == line.encode() for line in lines)


def replay_route(lines: Sequence[str]) -> Route:
    scripts = [split_words(line) for line in lines]

    async def route(session: AGISession) -> None:
        for words in scripts:
            await session.command(*words, timeout=REPLAY_TIMEOUT)

    return route


async def serve(port: int, scripts: dict[str, list[str]]) -> None:
    server = FastAGIServer(
        {name: replay_route(lines) for name, lines in scripts.items()},
        host="127.0.0.1",
        port=port,
        max_sessions=1024,
    )
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str]) -> int:
    scripts = json.loads(Path(argv[2]).read_text())
    # the protocol core logs as in the service (JSON at info): its cost is part of the floor
    configure_logging("json", "info")
    asyncio.run(serve(int(argv[1]), scripts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
