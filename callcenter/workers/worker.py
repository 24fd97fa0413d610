"""One worker process of several (``python -m callcenter.workers``, started by the supervisor only).

It reads its ``WorkerSpec`` from stdin (length-prefixed pickle: the supervisor's own config object, so every worker
runs with exactly the config, secrets and roster the parent loaded, with nothing read again), wires the whole
service once (``app.serving`` with its ``WorkerRole``), prints ``ready <port>`` on stdout, and serves until SIGTERM
or SIGINT, or until its stdin reaches EOF: the supervisor is gone (even SIGKILLed), and a worker must not outlive it
holding the FastAGI port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import socket
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Literal

import structlog

from callcenter.app import serving
from callcenter.config import Config
from callcenter.domain.agents import AgentSpec
from callcenter.logsetup import configure_logging
from callcenter.workers.role import WorkerRole

log = structlog.get_logger(__name__)

_LENGTH = struct.Struct("!I")
READY = "ready"


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    config: Config
    agents: tuple[AgentSpec, ...]
    role: WorkerRole
    log_format: Literal["auto", "console", "json"]
    log_level: str
    force: bool = False
    # the listening FastAGI socket inherited from the supervisor (same fd number here), for listen = "shared"
    listening_fd: int | None = None

    def encode(self) -> bytes:
        body = pickle.dumps(self)
        return _LENGTH.pack(len(body)) + body


def read_spec(stream: BinaryIO) -> WorkerSpec:
    """The spec the supervisor wrote first on our stdin (a pipe it holds open; pickle: it is our own parent)."""
    (size,) = _LENGTH.unpack(_read_exactly(stream, _LENGTH.size))
    spec = pickle.loads(_read_exactly(stream, size))  # noqa: S301 - written by our parent, over a private pipe
    if not isinstance(spec, WorkerSpec):
        raise TypeError(f"not a worker spec: {type(spec).__name__}")
    return spec


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise EOFError("the supervisor closed the pipe before the whole spec")
        data += chunk
    return data


async def serve(spec: WorkerSpec, stdin_fd: int) -> int:
    listening = None if spec.listening_fd is None else socket.socket(fileno=spec.listening_fd)
    stop = asyncio.Event()
    # the handlers before anything else: a SIGTERM from the supervisor right after our "ready" must stop us in
    # order (drain the calls), not kill us
    with _stopped_by(stop, stdin_fd):
        async with serving(spec.config, spec.agents, force=spec.force, role=spec.role, listening=listening) as center:
            print(f"{READY} {center.agi.port}", flush=True)
            await stop.wait()
            log.info("worker_stopping", worker=spec.role.index)
    return 0


@contextlib.contextmanager
def _stopped_by(stop: asyncio.Event, stdin_fd: int) -> Iterator[None]:
    """While inside, SIGTERM/SIGINT or the supervisor's end of our stdin closing sets ``stop``."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def readable() -> None:
        try:
            data = os.read(stdin_fd, 4096)
        except OSError:
            data = b""
        if not data:
            log.warning("worker_orphaned", reason="the supervisor's pipe closed")
            loop.remove_reader(stdin_fd)
            stop.set()

    loop.add_reader(stdin_fd, readable)
    try:
        yield
    finally:
        loop.remove_reader(stdin_fd)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)


def main() -> int:
    # like the CLI: nothing of ours is readable by other local users
    os.umask(0o077)
    spec = read_spec(sys.stdin.buffer)
    configure_logging(spec.log_format, spec.log_level, worker=spec.role.index)
    # what the CLI reports as one line (a refused AMI login, a store that cannot be opened): the same here; the
    # supervisor sees the exit status
    from callcenter.cli import OPERATOR_ERRORS  # noqa: PLC0415 - the CLI imports the supervisor, which runs us

    try:
        return asyncio.run(serve(spec, sys.stdin.fileno()))
    except OPERATOR_ERRORS as exc:
        print(f"callcenter: worker {spec.role.index}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
