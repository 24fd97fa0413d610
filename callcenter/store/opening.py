"""Opening a store by its URL: the only place outside a backend's own package that knows which backends exist.

``[store] url`` says where a center's state lives: ``sqlite:///path`` (the embedded default, one host) or
``postgresql://user@host:port/dbname`` (several processes and hosts; ``?search_path=schema`` keeps the tables in a
schema of their own, ``PGPASSWORD`` or ``~/.pgpass`` the password out of the URL). Three ways to open, one per kind
of process:

* ``open_serving``: the serving process (``serve``, ``run``). Creates and migrates, and owns the rating half-life
  (the decayed sums are recomputed once if the configured half-life differs from the stored one).
* ``open_migrated``: ``db migrate`` and ``agents sync``. Creates and migrates; follows the stored half-life.
* ``open_existing``: every other operator command. The schema must be exactly this callcenter's; nothing is
  created, migrated or recomputed, and (``readonly=True``, the default) the backend refuses every write.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from callcenter.store.api import Store
from callcenter.store.errors import StoreError
from callcenter.store.postgres import PostgresStore
from callcenter.store.sqlite import SqliteStore

SQLITE: Final = "sqlite"
POSTGRESQL: Final = "postgresql"
Backend = Literal["sqlite", "postgresql"]


@dataclass(frozen=True, slots=True)
class StoreUrl:
    backend: Backend
    # sqlite: the database file; postgresql: the libpq-style DSN, as given
    target: str

    @classmethod
    def parse(cls, url: str) -> StoreUrl:
        scheme, sep, rest = url.partition("://")
        if not sep:
            raise StoreError(f"store url {redacted(url)!r}: expected sqlite:///path or postgresql://host/db")
        scheme = scheme.lower()
        if scheme == SQLITE:
            # sqlite:///var/cc.db is relative (var/cc.db), sqlite:////abs/cc.db absolute, as in SQLAlchemy
            path = rest[1:] if rest.startswith("/") else rest
            if not path:
                raise StoreError(f"store url {url!r}: no database file after sqlite:///")
            return cls(SQLITE, urllib.parse.unquote(path))
        if scheme in ("postgresql", "postgres"):
            return cls(POSTGRESQL, f"postgresql://{rest}")
        raise StoreError(f"store url {redacted(url)!r}: unknown backend {scheme!r} (sqlite or postgresql)")

    @classmethod
    def sqlite(cls, path: str | Path) -> StoreUrl:
        return cls(SQLITE, str(path))

    @property
    def file(self) -> Path | None:
        """The database file of an embedded store (it lives beside its journal); None for a database server."""
        return Path(self.target) if self.backend == SQLITE else None

    @classmethod
    def embedded(cls, path: str | Path) -> StoreUrl:
        """The default kind of store: one file on this host."""
        return cls.sqlite(path)

    @property
    def url(self) -> str:
        if self.backend == SQLITE:
            return f"sqlite:///{self.target}"
        return self.target

    def __str__(self) -> str:
        return redacted(self.url)


def redacted(url: str) -> str:
    """``url`` with any password replaced (``user:pw@`` and libpq's ``?password=``), for logs and messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is not None:
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0]
        parts = parts._replace(netloc=f"{user}:***@{netloc[1]}")
    if parts.query:
        query = [
            f"{key}=***" if key.lower() == "password" else (f"{key}={value}" if sep else key)
            for key, sep, value in (item.partition("=") for item in parts.query.split("&"))
        ]
        parts = parts._replace(query="&".join(query))
    return urllib.parse.urlunsplit(parts)


async def open_serving(url: StoreUrl, *, busy_timeout: float, half_life_days: float | None) -> Store:
    if url.backend == SQLITE:
        return await SqliteStore.open(url.target, busy_timeout_ms=_ms(busy_timeout), half_life_days=half_life_days)
    return await PostgresStore.open(
        url.target, busy_timeout_ms=_ms(busy_timeout), half_life_days=half_life_days, name=str(url)
    )


async def open_migrated(url: StoreUrl, *, busy_timeout: float) -> Store:
    if url.backend == SQLITE:
        return await SqliteStore.open_migrated(url.target, busy_timeout_ms=_ms(busy_timeout))
    return await PostgresStore.open_migrated(url.target, busy_timeout_ms=_ms(busy_timeout), name=str(url))


async def open_existing(url: StoreUrl, *, readonly: bool = True, busy_timeout: float = 5.0) -> Store:
    if url.backend == SQLITE:
        return await SqliteStore.open_existing(url.target, readonly=readonly, busy_timeout_ms=_ms(busy_timeout))
    return await PostgresStore.open_existing(
        url.target, readonly=readonly, busy_timeout_ms=_ms(busy_timeout), name=str(url)
    )


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
