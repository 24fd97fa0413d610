"""SQLite's Database under its old name, for code outside the store that still imports it from here (the
benchmarks, the CLI tests); new code imports ``callcenter.store.sqlite.db``."""

from callcenter.store.sqlite.db import DEFAULT_BUSY_TIMEOUT_MS, MEMORY, MIN_SQLITE_VERSION, Database

__all__ = ["DEFAULT_BUSY_TIMEOUT_MS", "MEMORY", "MIN_SQLITE_VERSION", "Database"]
