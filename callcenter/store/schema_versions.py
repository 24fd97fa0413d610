"""What both backends' migrations share: numbered ``NNNN_name.sql`` files per backend, and the version checks.

Each backend keeps its own folder of migrations (its own dialect) and its own record of the version it is at
(SQLite's ``PRAGMA user_version``, PostgreSQL's ``schema_version`` table); reading the files and judging a version
against the files is the same for both, and lives here once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from typing import Final

from callcenter.store.errors import MigrationError, SchemaTooNewError, SchemaTooOldError

_FILENAME: Final = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


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


def require_exactly(name: str, version: int, latest: int) -> int:
    """``version`` if it is ``latest``; else the operator's one line saying which way it is off and what to do."""
    if version < latest:
        raise SchemaTooOldError(
            f"database {name} is at schema version {version}, this callcenter needs version {latest}: "
            "run `callcenter db migrate` (the service also migrates when it starts)"
        )
    if version > latest:
        raise SchemaTooNewError(
            f"database {name} is at schema version {version}, this callcenter knows versions up to {latest}: "
            "it was written by a newer release; upgrade callcenter (`callcenter db migrate` cannot downgrade)"
        )
    return version


def refuse_newer(name: str, start: int, latest: int) -> None:
    """Migrating a database a newer release wrote would run an older release against it: refused."""
    if start > latest:
        raise SchemaTooNewError(
            f"database {name} has schema version {start}, but this callcenter only knows versions up to "
            f"{latest}; it was written by a newer release. Upgrade callcenter (or restore a backup) "
            "instead of running an older one against it."
        )
