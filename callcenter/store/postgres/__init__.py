"""The PostgreSQL backend (asyncpg): several serving processes on several hosts, one database server."""

from callcenter.store.postgres.db import Database
from callcenter.store.postgres.store import PostgresStore

__all__ = ["Database", "PostgresStore"]
