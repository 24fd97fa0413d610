"""The SQLite backend: one file, one host, one writing process (WAL); the embedded default."""

from callcenter.store.sqlite.conn import SqliteDatabase
from callcenter.store.sqlite.db import Database
from callcenter.store.sqlite.store import SqliteStore

__all__ = ["Database", "SqliteDatabase", "SqliteStore"]
