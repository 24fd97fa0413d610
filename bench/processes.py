"""The measured servers as processes of their own: the service (``callcenter serve``, exactly as an operator runs
it, so whatever ``callcenter/app.py`` wires is what is measured, one process or several) and the bare-route floor
(``python -m bench.floor``). Their CPU and memory are then theirs alone (bench/proctree.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 120.0  # a 10k-agent roster loads its duty and talk times before FastAGI listens


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_listening(port: int, proc: asyncio.subprocess.Process, log_path: Path, deadline: float) -> None:
    while True:
        if proc.returncode is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{log_path.stem} exited with {proc.returncode} before listening:\n{tail}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{log_path.stem} did not listen on {port} in {START_TIMEOUT:.0f} s") from None
            # another process's port: polling is the only way to know it listens
            await asyncio.sleep(0.1)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return


@contextlib.asynccontextmanager
async def server_process(
    argv: Sequence[str], *, port: int, log_path: Path, env: Mapping[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Start ``argv`` (logging into ``log_path``), wait until it accepts on ``port``; SIGTERM it on the way out.

    An empty connection to the port is what the service sees at start-up from its readiness probe: a session
    without a header block, refused after the header timeout (one log line)."""
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *argv, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT
        )
        try:
            await _wait_listening(port, proc, log_path, time.monotonic() + START_TIMEOUT)
            yield proc
        finally:
            await stop_process(proc)


async def stop_process(proc: asyncio.subprocess.Process, grace: float = 30.0) -> None:
    """SIGTERM (the service drains its calls), then SIGKILL after ``grace`` seconds; nothing if it has ended."""
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def service_argv(config_path: Path) -> list[str]:
    return [sys.executable, "-m", "callcenter.cli", "--config", str(config_path), "serve"]


def floor_argv(port: int, scripts: Path) -> list[str]:
    return [sys.executable, "-m", "bench.floor", str(port), str(scripts)]
