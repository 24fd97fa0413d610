"""A fake Asterisk for the FastAGI benchmark, run as its own process (``python -m bench.agi_client``).

Like Asterisk, it lives in another process than the FastAGI server, so its own CPU time does not count
against the server (the machine has to have a second core for that to hold). Per session it connects,
sends the header block Asterisk 22 sends, answers every command the way Asterisk would
(``200 result=1 (value)`` for GET VARIABLE, ``200 result=1`` otherwise) and waits for the server to close.

Input (argv[1], argv[2]): the server's port and a JSON list of scenarios
``{"tag": str, "commands": int, "sessions": int, "concurrency": int}``. Output (stdout): a JSON list of
``{"tag": str, "samples_ns": [per-session duration], "wall_ns": int}``, one per scenario.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import TypedDict

from callcenter.agi.protocol import header_block


class Scenario(TypedDict):
    tag: str
    commands: int
    sessions: int
    concurrency: int


class Result(TypedDict):
    tag: str
    samples_ns: list[int]
    wall_ns: int


ROUTE = "bench"
VALUE = b"+15550001234"


def session_header(port: int, tag: str, commands: int, session: int) -> bytes:
    """The agi_* block of Asterisk 22 for AGI(agi://127.0.0.1:port/bench?k=..&tag=..)."""
    return header_block(
        ROUTE,
        query=f"k={commands}&tag={tag}",
        uniqueid=f"1700000000.{session}",
        channel=f"PJSIP/trunk-{session:08x}",
        callerid="+15550001234",
        port=port,
    )


async def one_session(port: int, tag: str, commands: int, session: int) -> int:
    """One FastAGI connection from connect to the server's close; its duration in ns."""
    start = time.perf_counter_ns()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(session_header(port, tag, commands, session))
        answered = 0
        while line := await reader.readline():
            if line.startswith(b"GET VARIABLE"):
                writer.write(b"200 result=1 (" + VALUE + b")\n")
            else:
                writer.write(b"200 result=1\n")
            answered += 1
        if answered != commands:
            raise RuntimeError(f"session {session}: expected {commands} commands, answered {answered}")
        return time.perf_counter_ns() - start
    finally:
        writer.close()
        await writer.wait_closed()


async def _worker(port: int, scenario: Scenario, queue: asyncio.Queue[int], samples: list[int]) -> None:
    """Run sessions one after another until the shared queue of session numbers is empty."""
    while not queue.empty():
        number = queue.get_nowait()
        samples.append(await one_session(port, scenario["tag"], scenario["commands"], number))


async def run(port: int, scenarios: list[Scenario]) -> list[Result]:
    results: list[Result] = []
    session = 0
    for scenario in scenarios:
        samples: list[int] = []
        queue: asyncio.Queue[int] = asyncio.Queue()
        for _ in range(scenario["sessions"]):
            session += 1
            queue.put_nowait(session)

        start = time.perf_counter_ns()
        async with asyncio.TaskGroup() as group:
            for _ in range(scenario["concurrency"]):
                group.create_task(_worker(port, scenario, queue, samples))
        results.append({"tag": scenario["tag"], "samples_ns": samples, "wall_ns": time.perf_counter_ns() - start})
    return results


def main(argv: list[str]) -> int:
    port, plan = int(argv[1]), json.loads(argv[2])
    print(json.dumps(asyncio.run(run(port, plan))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
