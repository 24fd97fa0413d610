"""A real PostgreSQL for the tests: a throwaway cluster the test run starts and stops, or an existing server.

The cluster lives in a temporary directory, listens on a free loopback port and on a socket in that directory,
and runs with durability off (fsync, synchronous_commit, full_page_writes): the tests need a real server, not a
durable one. Every test gets a place of its own (a schema, see PostgresServer), so nothing leaks between tests.

``CALLCENTER_TEST_POSTGRES_URL=postgresql://user@host:port/dbname`` uses that server instead (the user must be
allowed to create databases); the databases the run creates there are dropped again.

Nothing here skips: a machine where PostgreSQL cannot be found or started fails the tests that need it, with the
reason (the README's test command needs Debian's ``postgresql`` package).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import tempfile
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import asyncpg

from callcenter.cluster.postgres import Cluster, PostgresUnavailable, free_port

__all__ = ["ENV_URL", "Cluster", "PostgresServer", "PostgresUnavailable", "free_port", "postgres_server"]
from callcenter.store.postgres.db import Database
from callcenter.store.postgres.migrate import migrate

ENV_URL: Final = "CALLCENTER_TEST_POSTGRES_URL"


def with_database(url: str, dbname: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{dbname}"))


@dataclass
class PostgresServer:
    """A server the tests may create databases on, reached through ``admin_url`` (a database to connect to).

    A test's place is a schema of its own in one shared test database, named by ``search_path`` in its URL
    (``postgresql://.../db?search_path=s_3``; asyncpg passes the parameter to the server): making and migrating a
    schema takes ~20 ms where ``CREATE DATABASE ... TEMPLATE`` took 60-100 ms. Tests run one at a time, so sharing
    the database (and so its advisory write lock) between them is no interference.
    """

    admin_url: str
    # a throwaway cluster is removed whole at the end; on someone's server every database made here is dropped
    throwaway: bool = False
    prefix: str = field(default_factory=lambda: f"cc_{uuid.uuid4().hex[:8]}")
    _database: str | None = None
    _names: Iterator[int] = field(default_factory=itertools.count)
    created: list[str] = field(default_factory=list)

    def url(self, dbname: str, schema: str | None = None) -> str:
        url = with_database(self.admin_url, dbname)
        return url if schema is None else f"{url}?search_path={schema}"

    async def new_place(self, *, migrated: bool = True) -> str:
        """The URL of a new schema, empty or (``migrated``) at the current schema version with nothing in it."""
        database = await self._test_database()
        schema = f"s_{next(self._names)}"
        await self._admin(f'CREATE SCHEMA "{schema}"', database)
        url = self.url(database, schema)
        if migrated:
            async with await Database.open(url, pool_max=1) as db:
                await migrate(db)
        return url

    async def release(self, url: str) -> None:
        """A test is done with its place: dropped on a shared server, left for the cluster's removal (faster)."""
        if self.throwaway:
            return
        parts = urllib.parse.urlsplit(url)
        schema = urllib.parse.parse_qs(parts.query).get("search_path")
        if schema:
            await self._admin(f'DROP SCHEMA IF EXISTS "{schema[0]}" CASCADE', parts.path.lstrip("/"))
        else:
            await self.drop_database(url)

    async def create_database(self) -> str:
        """A new, empty database of its own (for what a schema cannot show, e.g. a whole database's emptiness)."""
        name = f"{self.prefix}_{next(self._names)}"
        await self._admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
        self.created.append(name)
        return self.url(name)

    async def drop_database(self, url: str) -> None:
        name = urllib.parse.urlsplit(url).path.lstrip("/")
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        with contextlib.suppress(ValueError):
            self.created.remove(name)

    async def drop_all(self) -> None:
        for name in list(self.created):
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()
        self._database = None

    async def _test_database(self) -> str:
        if self._database is None:
            name = f"{self.prefix}_tests"
            await self._admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
            self.created.append(name)
            self._database = name
        return self._database

    async def _admin(self, sql: str, database: str | None = None) -> None:
        url = self.admin_url if database is None else self.url(database)
        conn = await asyncpg.connect(url, timeout=30)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """The server for a test run: $CALLCENTER_TEST_POSTGRES_URL, or a throwaway cluster started here."""
    url = os.environ.get(ENV_URL)
    if url:
        server = PostgresServer(url)
        try:
            yield server
        finally:
            asyncio.run(server.drop_all())
        return
    root = Path(tempfile.mkdtemp(prefix="callcenter-pg-"))
    cluster = Cluster(root)
    try:
        cluster.start()
        yield PostgresServer(cluster.url, throwaway=True)
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
