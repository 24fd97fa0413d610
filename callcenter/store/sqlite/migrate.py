"""Schema migrations: ``migrations/NNNN_name.sql`` applied in order; the version is ``PRAGMA user_version``.

Each migration runs in its own transaction together with the user_version bump, so a failed migration leaves
the database exactly at the previous version. The version is re-read inside that transaction, so two
processes starting at once cannot apply the same migration twice.

For migration authors: ``PRAGMA foreign_keys`` cannot change inside a transaction, so a migration that
rebuilds a referenced table must keep the references valid at every statement (or get its own runner).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from importlib import resources

import aiosqlite

from callcenter.store.errors import MigrationError, SchemaTooOldError
from callcenter.store.schema_versions import Migration, check_sequence, read_migrations, refuse_newer, require_exactly
from callcenter.store.sqlite.db import Database

# the shared pieces, importable from here as before
__all__ = ["Migration", "bundled_migrations", "check_sequence", "migrate", "read_migrations", "require_current"]


def bundled_migrations() -> tuple[Migration, ...]:
    """The migrations shipped in the package, checked to be numbered 1, 2, 3, ... without gaps."""
    return read_migrations(resources.files("callcenter.store.sqlite").joinpath("migrations"))


async def schema_version(db: Database) -> int:
    async with db.read() as conn:
        return await _user_version(conn)


async def require_current(db: Database) -> int:
    """The schema version, if it is exactly the one this callcenter writes; never changes the database.

    For the operator commands, which must neither upgrade a database behind the service's back nor read one whose
    tables they do not know.
    """
    latest = len(bundled_migrations())
    try:
        version = await schema_version(db)
    except sqlite3.DatabaseError as exc:
        raise SchemaTooOldError(f"database {db.path} cannot be read ({exc})") from exc
    return require_exactly(db.path, version, latest)


async def migrate(db: Database, migrations: Sequence[Migration] | None = None) -> tuple[int, int]:
    """Bring the schema up to date; return (version before, version after). Safe to run on every start."""
    steps = bundled_migrations() if migrations is None else check_sequence(migrations)
    latest = len(steps)
    start = await schema_version(db)
    refuse_newer(db.path, start, latest)
    for migration in steps[start:]:
        async with db.transaction() as conn:
            if await _user_version(conn) >= migration.version:
                continue  # another process got there first
            for statement in split_statements(migration.sql):
                try:
                    await conn.execute(statement)
                except sqlite3.Error as exc:
                    raise MigrationError(f"migration {migration.name} failed ({exc}) at: {statement[:200]}") from exc
            if "writable_schema" in migration.sql:
                # a migration that edited sqlite_schema itself: every connection must reload the schema (the step
                # SQLite's procedure for such edits prescribes)
                rows = list(await conn.execute_fetchall("PRAGMA schema_version"))
                await conn.execute(f"PRAGMA schema_version = {int(rows[0][0]) + 1}")
            # PRAGMA takes no placeholders; the value is an int from our own file name.
            await conn.execute(f"PRAGMA user_version = {int(migration.version)}")
    return start, await schema_version(db)


def split_statements(script: str) -> Iterator[str]:
    """Split a SQL script into single statements (triggers and quoted semicolons included).

    Connection.executescript would be simpler, but it COMMITs any open transaction first, which would break
    the one-transaction-per-migration guarantee.
    """
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if _has_code(pending):
                yield pending.strip()
            pending = ""
    if _has_code(pending.removesuffix(";")):
        raise MigrationError(f"SQL script ends with an incomplete statement: {pending.strip()[:80]!r}")


def _has_code(sql: str) -> bool:
    for line in sql.splitlines():
        code = line.split("--", 1)[0].strip().strip(";").strip()
        if code:
            return True
    return False


async def _user_version(conn: aiosqlite.Connection) -> int:
    rows = list(await conn.execute_fetchall("PRAGMA user_version"))
    return int(rows[0][0])
