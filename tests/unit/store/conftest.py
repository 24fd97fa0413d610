from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcenter.store.db import Database
from callcenter.store.migrate import migrate
from callcenter.store.sqlite import SqliteStore
from tests.unit.store.helpers import seed


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database in a real file (WAL needs one)."""
    database = await Database.open(tmp_path / "state" / "callcenter.db")
    try:
        await migrate(database)
        yield database
    finally:
        await database.close()


@pytest.fixture
async def store(db: Database) -> SqliteStore:
    """The store over ``db``, loaded with the test categories, services and roster."""
    s = SqliteStore(db)
    await seed(s)
    return s
