"""`callcenter` runs its own event loop (asyncio.run), so these tests and fixtures are synchronous."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from callcenter.cli import main
from callcenter.demo.seed import DEMO_HISTORY, seed_history
from callcenter.store import SqliteStore
from tests.unit.cli.support import DEMO_CONFIG, fresh_loggers


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No CALLCENTER_* from the developer's shell, and logging restored after `main` reconfigured it."""
    for key in list(os.environ):
        if key.startswith("CALLCENTER_"):
            monkeypatch.delenv(key)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo config's state (and so its database) in a temporary directory."""
    state = tmp_path / "state"
    monkeypatch.setenv("CALLCENTER_STATE_DIR", str(state))
    return state


async def _seed(path: Path) -> None:
    async with await SqliteStore.open(path) as store:
        assert await seed_history(store, DEMO_HISTORY) == 12
        client = await store.client_for_number("5551001")
        assert client is not None
        await store.set_client_pin(client.id, "pbkdf2-sha256$x", datetime.now(UTC))


@pytest.fixture(scope="session")
def populated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo database as `make run` leaves it: schema, roster, services, categories and a rating history.

    Built once (through `callcenter db migrate`, then the store's API); each test gets a copy.
    """
    state = tmp_path_factory.mktemp("template")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith("CALLCENTER_"):
                patch.delenv(key)
        patch.setenv("CALLCENTER_STATE_DIR", str(state))
        fresh_loggers()
        assert main(["--log-level", "error", "--config", str(DEMO_CONFIG), "db", "migrate"]) == 0
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
    path = state / "callcenter.db"
    asyncio.run(_seed(path))
    assert not Path(f"{path}-wal").exists()  # closed cleanly: the file alone is the whole database
    return path


@pytest.fixture
def populated(state_dir: Path, populated_template: Path) -> Path:
    state_dir.mkdir()
    path = state_dir / "callcenter.db"
    shutil.copyfile(populated_template, path)
    return path


@pytest.fixture(autouse=True)
def no_installed_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default config location, empty: a config installed on this machine must not leak into the tests."""
    default = tmp_path / "etc" / "callcenter.toml"
    monkeypatch.setattr("callcenter.config.loading.DEFAULT_CONFIG_PATH", default)
    return default
