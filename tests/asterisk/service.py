"""The service as a process of its own (``callcenter serve``), for the faults only a process has: SIGKILL, SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.asterisk.conftest import PROJECT, AsteriskUnderTest


@dataclass
class ServiceProcess:
    proc: asyncio.subprocess.Process
    log: list[dict[str, object]] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _reader: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    async with self._changed:
                        self.log.append(entry)
                        self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    async def logged(self, name: str, timeout: float = 30.0, since: int = 0, **fields: object) -> dict[str, object]:
        """The first log event ``name`` (with ``fields``) the service wrote (from its ``since``-th line on); fails if
        it exits first."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                while True:
                    for entry in self.log[since:]:
                        if entry.get("event") == name and all(entry.get(k) == v for k, v in fields.items()):
                            return entry
                    if self.proc.returncode is not None or (self._reader is not None and self._reader.done()):
                        raise AssertionError(f"the service exited ({self.proc.returncode}) before logging {name}")
                    await self._changed.wait()
        except TimeoutError:
            recent = "\n".join(json.dumps(e) for e in self.log[-25:])
            raise AssertionError(
                f"no {name} {fields} within {timeout} s; the service's last lines:\n{recent}"
            ) from None

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    async def exited(self, timeout: float = 30.0) -> int:
        return await asyncio.wait_for(self.proc.wait(), timeout)


@contextlib.asynccontextmanager
async def service_process(
    asterisk: AsteriskUnderTest, store: Path, *, ready: str = "callcenter_started", **settings: str
) -> AsyncIterator[ServiceProcess]:
    """``callcenter serve`` against the session's Asterisk with the store at ``store``; yields once it logged
    ``ready`` (with several workers: ``workers_started``, once every one is). ``settings``: more CALLCENTER_*
    variables (``JOURNEY_REAP_INTERVAL="1"``)."""
    env = {
        **os.environ,
        **asterisk.env,
        "CALLCENTER_STORE_PATH": str(store),
        "CALLCENTER_ASTERISK_QUEUE_LOG": str(asterisk.layout.queue_log),
        "CALLCENTER_LOG_FORMAT": "json",
        **{f"CALLCENTER_{k}": v for k, v in settings.items()},
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callcenter.cli",
        "--config",
        str(PROJECT / "callcenter/demo/callcenter.toml"),
        "serve",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    service = ServiceProcess(proc)
    service._reader = asyncio.create_task(service._read())
    try:
        # FastAGI listens only after the queues are resynced: callcenter_started is logged once it does
        await service.logged(ready)
        yield service
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        await service._reader
