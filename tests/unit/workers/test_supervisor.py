"""The supervisor and its workers as real processes (``callcenter.workers``), against the fake AMI and a fake
Asterisk speaking FastAGI: connections spread over the workers, a dead worker comes back under its index, the jobs
that run once per store run in worker 0 only, SIGTERM stops them all."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.fake_ami_queues import FakeAMI
from callcenter.agi.protocol import header_block
from callcenter.app import open_serving_store
from callcenter.cli import roster
from callcenter.config import Config, load_config
from callcenter.store import SqliteStore
from callcenter.usecases.ports import utcnow
from callcenter.workers.supervisor import Supervisor, WorkerFailed

PROJECT = Path(__file__).resolve().parents[3]
DEMO = PROJECT / "callcenter/demo/callcenter.toml"
DEADLINE = 30.0


def settings(tmp_path: Path, ami_port: int, **more: str) -> dict[str, str]:
    return {
        "CALLCENTER_STATE_DIR": str(tmp_path / "var"),
        "CALLCENTER_ASTERISK_MODE": "external",
        "CALLCENTER_ASTERISK_QUEUE_LOG": str(tmp_path / "queue_log"),
        "CALLCENTER_AMI_PORT": str(ami_port),
        "CALLCENTER_AMI_SECRET": "test",
        "CALLCENTER_AMI_RECONNECT_MAX": "0.5",
        "CALLCENTER_AGI_PORT": "0",
        "CALLCENTER_WEB_PORT": "0",
        "CALLCENTER_AGI_PEER_CHECK": "off",
        "CALLCENTER_AGI_DRAIN_SECONDS": "1",
        **{f"CALLCENTER_{k}": v for k, v in more.items()},
    }


def config_for(tmp_path: Path, ami_port: int, **more: str) -> Config:
    return load_config(DEMO, settings(tmp_path, ami_port, **more))


@pytest.fixture
async def ami() -> AsyncIterator[FakeAMI]:
    fake = FakeAMI(roster(load_config(DEMO, {})))
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@contextlib.asynccontextmanager
async def supervised(config: Config, count: int = 2) -> AsyncIterator[Supervisor]:
    agents = roster(config)
    async with await open_serving_store(config, agents):
        pass  # migrated and the roster loaded once, as `serve` does before starting the workers
    supervisor = Supervisor(config, agents, count=count, log_format="json", log_level="info", restart_min=0.1)
    await supervisor.start()
    try:
        yield supervisor
    finally:
        await supervisor.stop()


async def selftest(port: int, token: int) -> None:
    """One FastAGI session of the selftest route, answered as Asterisk would."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(header_block("selftest", query=f"token={token}", uniqueid=f"t.{token}", port=port))
        async with asyncio.timeout(DEADLINE):
            while await reader.readline():
                writer.write(b"200 result=1\n")
    finally:
        writer.close()


def logged(captured: str, event: str) -> list[dict[str, Any]]:
    lines = []
    for line in captured.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("event") == event:
                lines.append(entry)
    return lines


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


@pytest.mark.parametrize("listen", ["reuseport", "shared"])
async def test_connections_spread_over_both_workers_and_a_dead_worker_comes_back(
    ami: FakeAMI, tmp_path: Path, capfd: pytest.CaptureFixture[str], listen: str
) -> None:
    async with supervised(config_for(tmp_path, ami.port, SERVICE_LISTEN=listen)) as supervisor:
        assert ami.logins == 2  # each worker logged in to AMI itself
        first = supervisor.pids()
        for token in range(40):
            await selftest(supervisor.port, token)
        served = Counter(e["worker"] for e in logged(capfd.readouterr().err, "selftest_ok"))
        assert sum(served.values()) == 40
        if listen == "reuseport":
            # the kernel gives each worker a share (one after another, the shared socket may wake one worker first
            # every time: only under load does the other take its turn)
            assert sorted(served) == [0, 1]
        killed = supervisor.kill_worker(1)
        await asyncio.sleep(0.3)
        await supervisor.wait_ready(1, DEADLINE)
        now = supervisor.pids()
        assert now[0] == first[0]
        assert now[1] not in (None, killed)
        assert supervisor.restarts() == [0, 1]
        assert ami.logins == 3  # the new worker 1 logged in again
        for token in range(100, 120):
            await selftest(supervisor.port, token)
        err = capfd.readouterr().err
        assert sum(1 for _ in logged(err, "selftest_ok")) == 20  # no connection lost to the dead worker
    assert not any(alive(pid) for pid in [*first, *now] if pid is not None)


async def test_a_worker_that_cannot_start_stops_the_others_and_says_so(tmp_path: Path) -> None:
    config = config_for(tmp_path, 9, AMI_CONNECT_TIMEOUT="1")  # nothing listens on port 9: no AMI
    agents = roster(config)
    supervisor = Supervisor(config, agents, count=2, log_format="json", log_level="info")
    with pytest.raises(WorkerFailed, match="exited with status 1 before it was ready"):
        await supervisor.start()
    assert supervisor.pids() == [None, None]


async def test_the_reaper_and_the_queue_corrections_run_in_worker_0_only(
    ami: FakeAMI, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    config = config_for(tmp_path, ami.port, JOURNEY_REAP_INTERVAL="0.2")
    async with await open_serving_store(config, roster(config)) as store:
        # a call the service was down for: open, its channel long gone (the fake AMI lists no channel)
        await store.start_call("gone.1", "gone.1", None, "support", utcnow() - timedelta(minutes=5))
    async with supervised(config):
        async with asyncio.timeout(DEADLINE):
            while not logged(capfd.readouterr().err, "call_reaped"):
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # several more scans of the reaper
    err = capfd.readouterr().err
    assert logged(err, "call_reaped") == []  # reaped once (seen above), never again by anyone
    asked = [
        session_index
        for session_index, actions in enumerate(ami.by_session)
        if any(a.get("Action") == "Status" for a in actions)
    ]
    corrected = [
        session_index
        for session_index, actions in enumerate(ami.by_session)
        if any(a.get("Action") in {"QueuePenalty", "QueueAdd", "QueueRemove"} for a in actions)
    ]
    assert len(asked) == 1
    assert corrected == asked  # one AMI session, worker 0's, does both
    reader = await SqliteStore.open_existing(config.store.path, readonly=True)
    try:
        call = await reader.get_call("gone.1")
    finally:
        await reader.close()
    assert call is not None
    assert call.outcome == "interrupted"


async def test_sigterm_to_serve_stops_every_worker_and_exits_cleanly(ami: FakeAMI, tmp_path: Path) -> None:
    env = {**os.environ, **settings(tmp_path, ami.port, SERVICE_WORKERS="2", LOG_FORMAT="json")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callcenter.cli", "--config", str(DEMO), "serve",
        env=env, cwd=PROJECT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    started: dict[str, Any] = {}
    async with asyncio.timeout(DEADLINE):
        while not started:
            line = await proc.stderr.readline()
            assert line, "serve exited before its workers started"
            started = next(iter(logged(line.decode(), "workers_started")), {})
    pids = [int(p) for p in started["pids"]]
    assert len(pids) == 2
    proc.send_signal(signal.SIGTERM)
    rest = await asyncio.wait_for(proc.stderr.read(), DEADLINE)
    assert await proc.wait() == 0
    assert sorted(e["worker"] for e in logged(rest.decode(), "worker_stopping")) == [0, 1]
    assert not any(alive(pid) for pid in pids)
    assert dataclasses.asdict(config_for(tmp_path, ami.port).service) == {"workers": "1", "listen": "reuseport"}
