"""The supervisor: N worker processes sharing the FastAGI port and the store, each a whole service
(``python -m callcenter.workers``), restarted when one dies, stopped together.

Why processes: one event loop runs on one core, and the service's work per call (the menus, the store, AMI events)
is Python on that loop. Why not threads: the GIL. Why the port is shared, not one port per worker: Asterisk's
dialplan names one ``agi://host:port``, and a worker dying must not take a share of the calls with it. How
(``[service] listen``):

* ``reuseport`` (default): every worker binds the port with SO_REUSEPORT and the kernel hands each new connection
  to one of them by a hash of its addresses: an even spread whatever each worker is doing (``python -m bench.cores``
  prints each worker's share of the CPU: 50/50 within 4 points), and a worker that dies simply leaves the group
  (the few connections waiting in its accept queue at that moment are reset: Asterisk takes the fallback).
  The supervisor holds one more socket bound to
  the port (never listening, so it receives nothing) to own the port between restarts and to know it when the
  config says port 0.
* ``shared``: the supervisor binds and listens once; the workers inherit that socket and accept from it; whichever
  wakes first takes the connection (asyncio accepts a burst at a time, so the spread follows who is idle).

What each worker does differently is its ``WorkerRole``: worker 0 also runs the once-per-store jobs (the reaper, the
queue members' corrections). A worker that exits is started again under the same index after a back-off (0.5 s,
doubling to 30 s while it keeps failing within a minute of its start), so those jobs come back with worker 0.
SIGTERM/SIGINT stop every worker (each drains its calls, ``[agi] drain_seconds``) and wait for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import structlog

from callcenter.config import Config
from callcenter.domain.agents import AgentSpec
from callcenter.workers.role import WorkerRole
from callcenter.workers.worker import READY, WorkerSpec

log = structlog.get_logger(__name__)

# how long a worker may take from its start to ``ready`` (store opened, AMI logged in, FastAGI listening)
READY_TIMEOUT = 60.0
# a worker that lived this long had a good run: the next restart comes quickly again
STABLE_SECONDS = 60.0
# beyond the workers' own drain: how long a stopping worker gets before it is killed
STOP_MARGIN = 10.0


class WorkerFailed(Exception):
    """A worker exited before it was ready (its own line on stderr says why)."""

    def __init__(self, index: int, returncode: int | None) -> None:
        super().__init__(f"worker {index} exited with status {returncode} before it was ready (see its error above)")
        self.index = index
        self.returncode = returncode


@dataclass
class _Slot:
    index: int
    proc: asyncio.subprocess.Process | None = None
    ready: asyncio.Future[int] | None = None
    started: float = 0.0
    restarts: int = 0
    reader: asyncio.Task[None] | None = None
    history: list[int] = field(default_factory=list)  # pids, oldest first (for tests and operators)


class Supervisor:
    def __init__(
        self,
        config: Config,
        agents: Sequence[AgentSpec],
        *,
        count: int,
        log_format: Literal["auto", "console", "json"],
        log_level: str,
        force: bool = False,
        restart_min: float = 0.5,
        restart_max: float = 30.0,
    ) -> None:
        self.config = config
        self.agents = tuple(agents)
        self.count = count
        self.log_format = log_format
        self.log_level = log_level
        self.force = force
        self.restart_min = restart_min
        self.restart_max = restart_max
        self._slots = [_Slot(i) for i in range(count)]
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._keepers: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the supervisor has not been started")
        return self._port

    def pids(self) -> list[int | None]:
        """Each worker's current pid (None while it is being restarted)."""
        return [s.proc.pid if s.proc is not None and s.proc.returncode is None else None for s in self._slots]

    def restarts(self) -> list[int]:
        return [s.restarts for s in self._slots]

    async def start(self) -> None:
        """Start every worker and return once all are ready; WorkerFailed (everything stopped) if one is not."""
        self._socket = self._bind()
        self._port = int(self._socket.getsockname()[1])
        try:
            for slot in self._slots:
                await self._spawn(slot)
            for slot in self._slots:
                await self._wait_ready(slot)
        except BaseException:
            await self.stop()
            raise
        self._keepers = [asyncio.create_task(self._keep(s), name=f"worker-{s.index}") for s in self._slots]
        log.info(
            "workers_started",
            workers=self.count,
            fastagi=f"{self.config.agi.host}:{self._port}",
            listen=self.config.service.listen,
            pids=self.pids(),
        )

    def _bind(self) -> socket.socket:
        host, port = self.config.agi.host, self.config.agi.port
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            # as asyncio's own servers do: the connections of a previous run in TIME_WAIT must not block the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.config.service.listen == "shared":
                sock.bind((host, port))
                sock.listen(socket.SOMAXCONN)
                sock.set_inheritable(True)
            else:
                # bound, never listening: it owns the port (and tells us which one for port 0) but takes no
                # connection; the workers' listening sockets join its SO_REUSEPORT group
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                sock.bind((host, port))
        except BaseException:
            sock.close()
            raise
        return sock

    def _spec(self, index: int) -> WorkerSpec:
        config = replace(self.config, agi=replace(self.config.agi, port=self.port))
        shared = self.config.service.listen == "shared"
        return WorkerSpec(
            config=config,
            agents=self.agents,
            role=WorkerRole(index, self.count),
            log_format=self.log_format,
            log_level=self.log_level,
            force=self.force,
            listening_fd=self._socket.fileno() if shared and self._socket is not None else None,
        )

    async def _spawn(self, slot: _Slot) -> None:
        spec = self._spec(slot.index)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "callcenter.workers",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            # stderr inherited: the workers' log lines (each with its index) go where ours go
            pass_fds=() if spec.listening_fd is None else (spec.listening_fd,),
        )
        assert proc.stdin is not None
        proc.stdin.write(spec.encode())
        await proc.stdin.drain()
        # stdin stays open: the worker stops when it reads EOF, i.e. when this process is gone
        slot.proc = proc
        slot.started = time.monotonic()
        slot.history.append(proc.pid)
        slot.ready = asyncio.get_running_loop().create_future()
        # a worker that dies before ready while nobody waits (stopping) must not warn of an unread exception
        slot.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        slot.reader = asyncio.create_task(self._read(slot, proc, slot.ready), name=f"worker-{slot.index}-stdout")
        log.info("worker_spawned", worker=slot.index, pid=proc.pid)

    async def _read(self, slot: _Slot, proc: asyncio.subprocess.Process, ready: asyncio.Future[int]) -> None:
        """The worker's stdout: its ``ready <port>`` line, then anything else it prints, passed on."""
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            text = line.decode(errors="replace")
            if not ready.done() and text.startswith(READY + " "):
                ready.set_result(int(text.split()[1]))
                continue
            sys.stdout.write(text)
            sys.stdout.flush()
        if not ready.done():
            ready.set_exception(WorkerFailed(slot.index, await proc.wait()))

    async def _wait_ready(self, slot: _Slot) -> None:
        assert slot.ready is not None
        try:
            port = await asyncio.wait_for(asyncio.shield(slot.ready), READY_TIMEOUT)
        except TimeoutError:
            raise WorkerFailed(slot.index, None) from None
        log.info("worker_ready", worker=slot.index, pid=slot.proc.pid if slot.proc else None, port=port)

    async def _keep(self, slot: _Slot) -> None:
        """Wait for the worker to exit; unless stopping, start it again (same index) after a back-off."""
        delay = self.restart_min
        while True:
            if slot.proc is not None:
                code = await slot.proc.wait()
                if slot.reader is not None:
                    await asyncio.gather(slot.reader, return_exceptions=True)
                if self._stopping:
                    return
                lived = time.monotonic() - slot.started
                log.error("worker_died", worker=slot.index, pid=slot.proc.pid, status=code, lived_s=round(lived, 1))
                # a worker that keeps dying at once (Asterisk gone, the disk full) is not restarted in a busy loop
                delay = self.restart_min if lived >= STABLE_SECONDS else min(delay * 2, self.restart_max)
            await asyncio.sleep(delay)
            if self._stopping:
                return
            slot.restarts += 1
            try:
                await self._spawn(slot)
                await self._wait_ready(slot)
            except WorkerFailed as exc:
                # it has exited (or hangs before ready: killed, then waited for above)
                log.error("worker_restart_failed", worker=slot.index, error=str(exc))  # noqa: TRY400 - no traceback to add
                if slot.proc is not None and slot.proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        slot.proc.kill()
            except OSError as exc:
                # no process at all (out of memory, out of pids): try again after the next back-off
                log.error("worker_restart_failed", worker=slot.index, error=str(exc))  # noqa: TRY400 - one line is enough
                slot.proc = None
                delay = min(delay * 2, self.restart_max)

    async def stop(self) -> None:
        """SIGTERM to every worker, wait for them (each drains its calls), then kill what is left."""
        self._stopping = True
        live = [s.proc for s in self._slots if s.proc is not None and s.proc.returncode is None]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        if live:
            waits = [asyncio.create_task(p.wait()) for p in live]
            _, late = await asyncio.wait(waits, timeout=self.config.agi.drain_seconds + STOP_MARGIN)
            for proc in live:
                if proc.returncode is None:
                    log.error("worker_killed", pid=proc.pid, reason="still running after the drain")
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
            if late:
                await asyncio.wait(late, timeout=STOP_MARGIN)
        for slot in self._slots:
            if slot.proc is not None and slot.proc.stdin is not None:
                slot.proc.stdin.close()
        for task in self._keepers:
            task.cancel()
        readers = [s.reader for s in self._slots if s.reader is not None]
        await asyncio.gather(*self._keepers, *readers, return_exceptions=True)
        self._keepers = []
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        log.info("workers_stopped", workers=self.count)

    def kill_worker(self, index: int) -> int:
        """SIGKILL one worker (tests of the restart); its pid."""
        proc = self._slots[index].proc
        if proc is None or proc.returncode is not None:
            raise RuntimeError(f"worker {index} is not running")
        os.kill(proc.pid, signal.SIGKILL)
        return proc.pid

    async def wait_ready(self, index: int, timeout: float) -> None:
        """Return once worker ``index`` (perhaps restarted) is ready."""
        async with asyncio.timeout(timeout):
            while True:
                slot = self._slots[index]
                ready = slot.ready is not None and slot.ready.done() and slot.ready.exception() is None
                if ready and slot.proc is not None and slot.proc.returncode is None:
                    return
                await asyncio.sleep(0.05)
