"""PostgreSQL's schema migrations: ``migrations/NNNN_name.sql`` applied in order; the version is the one row of
the ``schema_version`` table (SQLite keeps it in ``PRAGMA user_version``).

PostgreSQL's numbering is its own: its 0001 is the whole schema SQLite reached in six steps, and each later change
gets a migration per engine. Each migration runs in one write transaction together with the version bump (DDL is
transactional here), so a failed migration leaves the database exactly at the previous version. That transaction
holds the write lock (db.py) and re-reads the version, so two processes starting at once apply each step once.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

from callcenter.store.errors import (
    MigrationError,
    StoreBusyError,
    StoreError,
    StoreUnavailableError,
)
from callcenter.store.postgres.conn import PgConn
from callcenter.store.postgres.db import Database
from callcenter.store.schema_versions import Migration, check_sequence, read_migrations, refuse_newer, require_exactly
from callcenter.store.sql.connection import Conn

_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " singleton boolean PRIMARY KEY DEFAULT TRUE CHECK (singleton),"
    " version integer NOT NULL CHECK (version >= 0))"
)


def bundled_migrations() -> tuple[Migration, ...]:
    """The PostgreSQL migrations shipped in the package, checked to be numbered 1, 2, 3, ... without gaps."""
    return read_migrations(resources.files("callcenter.store.postgres").joinpath("migrations"))


async def schema_version(db: Database) -> int:
    async with db.read() as conn:
        return await _version(conn)


async def require_current(db: Database) -> int:
    """The schema version, if it is exactly the one this callcenter writes; never changes the database."""
    latest = len(bundled_migrations())
    version = await schema_version(db)
    return require_exactly(db.name, version, latest)


async def migrate(db: Database, migrations: Sequence[Migration] | None = None) -> tuple[int, int]:
    """Bring the schema up to date; return (version before, version after). Safe to run on every start."""
    steps = bundled_migrations() if migrations is None else check_sequence(migrations)
    latest = len(steps)
    start = await schema_version(db)
    refuse_newer(db.name, start, latest)
    for migration in steps[start:]:
        async with db.transaction() as conn:
            assert isinstance(conn, PgConn)
            await conn.script(_VERSION_TABLE)
            if await _version(conn) >= migration.version:
                continue  # another process got there first
            try:
                await conn.script(migration.sql)
            except (StoreBusyError, StoreUnavailableError):
                raise
            except StoreError as exc:
                raise MigrationError(f"migration {migration.name} failed ({exc.__cause__ or exc})") from exc
            await conn.execute(
                "INSERT INTO schema_version (singleton, version) VALUES (TRUE, ?) "
                "ON CONFLICT (singleton) DO UPDATE SET version = excluded.version",
                (migration.version,),
            )
    return start, await schema_version(db)


async def _version(conn: Conn) -> int:
    # no table yet: an empty database (version 0), and a read-only handle must not create it
    if await conn.fetch_value("SELECT to_regclass('schema_version') IS NOT NULL") is not True:
        return 0
    version = await conn.fetch_value("SELECT version FROM schema_version")
    return 0 if version is None else int(version)
