"""The store contract suite: every test that takes ``store``, ``db``, ``place`` or ``backend`` runs once per backend
(test ids end in ``[sqlite]`` / ``[postgresql]``), PostgreSQL being a real server (tests/postgres.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcenter.store.opening import StoreUrl
from callcenter.store.postgres.db import Database as PostgresDatabase
from callcenter.store.sql.connection import Database
from callcenter.store.sql.store import SqlStore
from callcenter.store.sqlite.conn import SqliteDatabase
from callcenter.store.sqlite.db import Database as SqliteRaw
from callcenter.store.sqlite.migrate import migrate
from tests.postgres import PostgresServer
from tests.unit.store.helpers import BACKENDS, seed


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def place(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[StoreUrl]:
    """Where a store can be created, nothing there yet: a file path, or a new empty PostgreSQL database."""
    if backend == "sqlite":
        yield StoreUrl.sqlite(tmp_path / "state" / "callcenter.db")
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = await server.new_place(migrated=False)
    yield StoreUrl.parse(url)
    await server.release(url)


@pytest.fixture
async def db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """A migrated, empty database, as the repositories see it (SQLite: in a real file, WAL needs one)."""
    if backend == "sqlite":
        raw = await SqliteRaw.open(tmp_path / "state" / "callcenter.db")
        try:
            await migrate(raw)
            yield SqliteDatabase(raw)
        finally:
            await raw.close()
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = await server.new_place()
    database = await PostgresDatabase.open(url)
    try:
        yield database
    finally:
        await database.close()
        await server.release(url)


@pytest.fixture
async def store(db: Database) -> SqlStore:
    """The store over ``db``, loaded with the test categories, services and roster."""
    s = SqlStore(db)
    await seed(s)
    return s
