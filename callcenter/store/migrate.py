"""SQLite's migrations under their old name, for code outside the store that still imports them from here (the
CLI tests); new code imports ``callcenter.store.sqlite.migrate``."""

from callcenter.store.sqlite.migrate import (
    Migration,
    bundled_migrations,
    check_sequence,
    migrate,
    require_current,
    schema_version,
    split_statements,
)

__all__ = [
    "Migration",
    "bundled_migrations",
    "check_sequence",
    "migrate",
    "require_current",
    "schema_version",
    "split_statements",
]
