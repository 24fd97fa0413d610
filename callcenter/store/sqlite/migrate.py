"""Schema migrations: ``migrations/NNNN_name.sql`` applied in order; the version is ``PRAGMA user_version``.

Each migration runs in its own transaction together with the user_version bump, so a failed migration leaves
the database exactly at the previous version. The version is re-read inside that transaction, so two
processes starting at once cannot apply the same migration twice.

For migration authors: ``PRAGMA foreign_keys`` cannot change inside a transaction, so a migration that
rebuilds a referenced table must keep the references valid at every statement (or get its own runner).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Final

import aiosqlite

from callcenter.store.errors import MigrationError, SchemaTooNewError, SchemaTooOldError
from callcenter.store.sqlite.db import Database

_FILENAME: Final = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def bundled_migrations() -> tuple[Migration, ...]:
    """The migrations shipped in the package, checked to be numbered 1, 2, 3, ... without gaps."""
    return read_migrations(resources.files("callcenter.store.sqlite").joinpath("migrations"))


def read_migrations(folder: Traversable) -> tuple[Migration, ...]:
    """The ``NNNN_name.sql`` files of ``folder`` (each backend has its own), in order, checked for gaps."""
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILENAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    return check_sequence(found)


def check_sequence(migrations: Sequence[Migration]) -> tuple[Migration, ...]:
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migration {migration.name} has version {migration.version}, expected {expected}: "
                "migrations must be numbered 0001, 0002, ... with no gaps or duplicates"
            )
    return tuple(migrations)


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
    if version < latest:
        raise SchemaTooOldError(
            f"database {db.path} is at schema version {version}, this callcenter needs version {latest}: "
            "run `callcenter db migrate` (the service also migrates when it starts)"
        )
    if version > latest:
        raise SchemaTooNewError(
            f"database {db.path} is at schema version {version}, this callcenter knows versions up to {latest}: "
            "it was written by a newer release; upgrade callcenter (`callcenter db migrate` cannot downgrade)"
        )
    return version


async def migrate(db: Database, migrations: Sequence[Migration] | None = None) -> tuple[int, int]:
    """Bring the schema up to date; return (version before, version after). Safe to run on every start."""
    steps = bundled_migrations() if migrations is None else check_sequence(migrations)
    latest = len(steps)
    start = await schema_version(db)
    if start > latest:
        raise SchemaTooNewError(
            f"database {db.path} has schema version {start}, but this callcenter only knows versions up to "
            f"{latest}; it was written by a newer release. Upgrade callcenter (or restore a backup) "
            "instead of running an older one against it."
        )
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
