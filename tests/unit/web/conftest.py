"""The whole service (``app.serving``: the real wiring, store and web server) against a fake AMI that knows the
queues, with the console on a free port, and an HTTP client for it."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bench.fake_ami_queues import FakeAMI
from callcenter.app import CallCenter, serving
from callcenter.cli import roster
from callcenter.config import load_config
from callcenter.store import Call, Store

PROJECT = Path(__file__).resolve().parents[3]
DEMO = PROJECT / "callcenter/demo/callcenter.toml"
PASSWORD = "correct horse battery"


@dataclass
class Console:
    center: CallCenter
    ami: FakeAMI
    url: str

    @property
    def store(self) -> Store:
        return self.center.store

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, follow_redirects=False, timeout=10)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async with running(tmp_path) as started:
        yield started


@contextlib.asynccontextmanager
async def running(tmp_path: Path, **settings: str) -> AsyncIterator[Console]:
    """The service with its console; ``settings``: more CALLCENTER_* variables (``WEB_ORIGIN="https://..."``)."""
    agents = roster(load_config(DEMO, {}))
    ami = FakeAMI(agents)
    await ami.start()
    env = {
        "CALLCENTER_STATE_DIR": str(tmp_path / "var"),
        "CALLCENTER_ASTERISK_MODE": "external",
        "CALLCENTER_ASTERISK_QUEUE_LOG": str(tmp_path / "queue_log"),
        "CALLCENTER_AMI_PORT": str(ami.port),
        "CALLCENTER_AMI_SECRET": "test",
        "CALLCENTER_AMI_RECONNECT_MIN": "0.1",
        "CALLCENTER_AMI_RECONNECT_MAX": "0.5",
        "CALLCENTER_AGI_PORT": "0",
        "CALLCENTER_AGI_PEER_CHECK": "off",
        "CALLCENTER_WEB_PORT": "0",
        "CALLCENTER_SELFSERVICE_PIN_MAX_FAILURES": "3",
        **{f"CALLCENTER_{k}": v for k, v in settings.items()},
    }
    config = load_config(DEMO, env)
    try:
        async with serving(config, agents) as center:
            await center.queues.wait_resynced(1, timeout=10)
            assert center.web is not None
            assert center.board is not None
            # the board as the resync left it (its own rebuild follows within a debounce)
            await center.board.rebuild()
            yield Console(center, ami, f"http://127.0.0.1:{center.web.port}")
            assert await center.store.check_invariants() == []
    finally:
        await ami.close()


async def answered(store: Store, uniqueid: str, number: str, agent: str, *, talk: float = 60) -> Call:
    """An answered, ended call between ``number`` and ``agent``, a minute ago."""
    now = datetime.now(UTC)
    client = await store.client_for_number(number, now)
    assert client is not None
    await store.start_call(uniqueid, uniqueid, client.id, "support", now - timedelta(seconds=talk + 30))
    await store.call_queued(uniqueid, f"agent-{agent}", now - timedelta(seconds=talk + 20))
    await store.call_answered(uniqueid, agent, now - timedelta(seconds=talk))
    ended = await store.call_ended(uniqueid, "answered", now)
    assert ended is not None
    return ended


FORM_TOKEN = re.compile(r'name="form" value="([^"]+)"')
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def form_token(client: httpx.AsyncClient) -> str:
    page = await client.get("/signin")
    found = FORM_TOKEN.search(page.text)
    assert found is not None, page.text
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, kind: str, **fields: str) -> httpx.Response:
    token = await form_token(client)
    return await client.post(f"/signin/{kind}", data={"form": token, **fields})


async def csrf_of(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    found = CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)
