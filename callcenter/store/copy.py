"""``callcenter db copy --to URL``: a center's whole history moved to another store, then proved equal.

For the center that outgrows one host: its SQLite store is copied into an empty PostgreSQL database (any backend to
any other works the same, e.g. back to a SQLite file), every row with its id, in one write transaction on the
target, read from one snapshot of the source. Then it is verified from scratch: every table's row count and a
digest of all its rows (in key order, values in one canonical form), the target's own recount
(``check_invariants``), and every agent's and every rated client's summary read through both stores. A target
that has anything in it is refused: the copy never merges.

Each backend keeps values in its own types (SQLite: instants as text, flags as 0/1, audit scores as JSON text;
PostgreSQL: timestamptz, boolean, jsonb); ``TABLES`` says which column is which, so each value crosses as the
Python value it stands for and the target's connection stores it its way. ``TABLES`` must list every column of
every table (a test compares it with both schemas): a column missing here would not be copied.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from callcenter.store import opening
from callcenter.store.errors import StoreError
from callcenter.store.opening import StoreUrl
from callcenter.store.sql.connection import Conn, Row
from callcenter.store.sql.store import SqlStore
from callcenter.store.timestamps import from_db, to_db

Kind = Literal["plain", "instant", "flag", "json", "real"]
CHUNK: Final = 5000
# settings are the one table a migrated store is not empty in: the copy replaces them with the source's
SETTINGS: Final = "settings"


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    key: tuple[str, ...]  # the primary key: the order rows are read, copied and digested in
    columns: tuple[str, ...]
    kinds: dict[str, Kind] = field(default_factory=dict)

    def kind(self, column: str) -> Kind:
        return self.kinds.get(column, "plain")


_TOTALS = ("n", "total", "dn", "dtotal", "as_of")
_TOTALS_KINDS: dict[str, Kind] = {"dn": "real", "dtotal": "real", "as_of": "instant"}

# Every table, parents before children (the foreign keys hold at every insert).
TABLES: Final = (
    Table("services", ("id",), ("id", "name", "active"), {"active": "flag"}),
    Table("categories", ("id",), ("id", "label", "position", "active"), {"active": "flag"}),
    Table(
        "agents",
        ("id",),
        ("id", "name", "interface", "kind", "pin_hash", "active", "created_at", "updated_at"),
        {"active": "flag", "created_at": "instant", "updated_at": "instant"},
    ),
    Table("agent_services", ("agent_id", "service_id"), ("agent_id", "service_id", "position")),
    Table("agent_queues", ("agent_id", "queue"), ("agent_id", "queue", "position")),
    Table(
        "clients",
        ("id",),
        ("id", "number", "pin_hash", "created_at", "pin_set_at"),
        {"created_at": "instant", "pin_set_at": "instant"},
    ),
    Table(
        "calls",
        ("id",),
        (
            "id",
            "uniqueid",
            "linkedid",
            "client_id",
            "agent_id",
            "service_id",
            "queue",
            "started_at",
            "joined_at",
            "answered_at",
            "ended_at",
            "hold_seconds",
            "talk_seconds",
            "outcome",
        ),
        dict.fromkeys(("started_at", "joined_at", "answered_at", "ended_at"), "instant"),
    ),
    Table(
        "evaluations",
        ("id",),
        ("id", "call_id", "direction", "agent_id", "client_id", "created_at", "updated_at", "deleted_at"),
        dict.fromkeys(("created_at", "updated_at", "deleted_at"), "instant"),
    ),
    Table("evaluation_scores", ("evaluation_id", "category_id"), ("evaluation_id", "category_id", "score")),
    Table(
        "evaluation_audit",
        ("id",),
        ("id", "evaluation_id", "at", "actor", "action", "old_scores", "new_scores", "reason"),
        {"at": "instant", "old_scores": "json", "new_scores": "json"},
    ),
    Table("agent_rating_totals", ("agent_id", "category_id"), ("agent_id", "category_id", *_TOTALS), _TOTALS_KINDS),
    Table("client_rating_totals", ("client_id", "category_id"), ("client_id", "category_id", *_TOTALS), _TOTALS_KINDS),
    Table(SETTINGS, ("key",), ("key", "value")),
    Table("agent_presence", ("agent_id",), ("agent_id", "state", "reason", "since", "actor"), {"since": "instant"}),
    Table(
        "agent_presence_log",
        ("id",),
        ("id", "agent_id", "at", "state", "reason", "actor", "via"),
        {"at": "instant"},
    ),
    Table("pin_failures", ("id",), ("id", "subject", "at"), {"at": "instant"}),
    Table(
        "operators",
        ("name",),
        ("name", "password_hash", "created_at", "active"),
        {"created_at": "instant", "active": "flag"},
    ),
    Table(
        "web_sessions",
        ("token_hash",),
        ("token_hash", "subject", "csrf", "created_at", "expires_at"),
        {"created_at": "instant", "expires_at": "instant"},
    ),
    Table("web_codes", ("subject",), ("subject", "code_hash", "expires_at"), {"expires_at": "instant"}),
    Table("screenings", ("id",), ("id", "call_uniqueid", "agent_id", "at", "decision"), {"at": "instant"}),
    Table(
        "agent_reservations",
        ("agent_id",),
        ("agent_id", "call_uniqueid", "node", "reserved_at", "lease_until"),
        {"reserved_at": "instant", "lease_until": "instant"},
    ),
    Table("reservation_log", ("id",), ("id", "agent_id", "call_uniqueid", "node", "at", "action"), {"at": "instant"}),
    Table("node_heartbeats", ("node",), ("node", "started_at", "at"), {"started_at": "instant", "at": "instant"}),
)


@dataclass(frozen=True, slots=True)
class TableCheck:
    table: str
    source_rows: int
    target_rows: int
    digests_equal: bool
    seconds: float  # copying it

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.digests_equal


@dataclass(frozen=True, slots=True)
class CopyReport:
    tables: tuple[TableCheck, ...]
    agents_compared: int
    clients_compared: int
    summary_differences: tuple[str, ...]
    target_problems: tuple[str, ...]  # the target's check_invariants
    copy_seconds: float
    verify_seconds: float

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables) and not self.summary_differences and not self.target_problems

    def lines(self) -> list[str]:
        """The report as an operator reads it."""
        out = [f"{'table':<22} {'source':>9} {'target':>9}  rows   copy s"]
        for t in self.tables:
            same = "equal" if t.digests_equal else "DIFFER"
            out.append(f"{t.table:<22} {t.source_rows:>9} {t.target_rows:>9}  {same:<6} {t.seconds:6.2f}")
        out.append(
            f"summaries: {self.agents_compared} agents and {self.clients_compared} rated clients read through both "
            f"stores, {len(self.summary_differences)} differ"
        )
        out += [f"  {line}" for line in self.summary_differences[:20]]
        out.append(
            "target check: aggregates consistent"
            if not self.target_problems
            else f"target check: {len(self.target_problems)} problem(s)"
        )
        out += [f"  {line}" for line in self.target_problems[:20]]
        out.append(f"copied in {self.copy_seconds:.2f} s, verified in {self.verify_seconds:.2f} s")
        return out


async def copy_store(source: SqlStore, target: SqlStore, *, chunk: int = CHUNK) -> CopyReport:
    """Copy everything in ``source`` into the empty, migrated ``target`` and verify it (see the module docstring).

    StoreError, with nothing written, if the target already holds anything. The report says whether every check
    held; the copy is committed either way (a failed check is for the operator to look at, before switching over).
    """
    started = time.monotonic()
    seconds: dict[str, float] = {}
    async with source.sql.read() as reading, target.sql.transaction() as writing:
        await _refuse_non_empty(writing, target.sql.name)
        for table in TABLES:
            t0 = time.monotonic()
            if table.name == SETTINGS:
                await writing.execute(f"DELETE FROM {SETTINGS}")
            async for rows in _chunks(reading, table, chunk):
                await writing.copy_rows(table.name, table.columns, [_values(table, row) for row in rows])
            seconds[table.name] = time.monotonic() - t0
    copied = time.monotonic()
    report = await verify(source, target, seconds=seconds)
    return CopyReport(
        tables=report.tables,
        agents_compared=report.agents_compared,
        clients_compared=report.clients_compared,
        summary_differences=report.summary_differences,
        target_problems=report.target_problems,
        copy_seconds=copied - started,
        verify_seconds=time.monotonic() - copied,
    )


async def verify(source: SqlStore, target: SqlStore, *, seconds: dict[str, float] | None = None) -> CopyReport:
    """Compare two stores from scratch: per table row count and digest, the target's recount, and the summaries."""
    started = time.monotonic()
    checks = []
    async with source.sql.read() as left, target.sql.read() as right:
        for table in TABLES:
            n1, d1 = await _digest(left, table)
            n2, d2 = await _digest(right, table)
            checks.append(TableCheck(table.name, n1, n2, d1 == d2, (seconds or {}).get(table.name, 0.0)))
        rated = [int(row[0]) for row in await left.fetch_all("SELECT DISTINCT client_id FROM client_rating_totals")]
    # one reading time for both, so the decayed values are carried forward alike
    now = datetime.now(UTC)
    differences: list[str] = []
    agent_ids = [a.id for a in await source.list_agents(active_only=False)]
    theirs = await target.agent_summaries(agent_ids, now)
    for agent_id, summary in (await source.agent_summaries(agent_ids, now)).items():
        if theirs[agent_id] != summary:
            differences.append(f"agent {agent_id}: {summary} in the source, {theirs[agent_id]} in the target")
    for client_id in sorted(rated):
        mine, other = await source.client_summary(client_id, now), await target.client_summary(client_id, now)
        if mine != other:
            differences.append(f"client {client_id}: {mine} in the source, {other} in the target")
    problems = await target.check_invariants()
    return CopyReport(
        tables=tuple(checks),
        agents_compared=len(agent_ids),
        clients_compared=len(rated),
        summary_differences=tuple(differences),
        target_problems=tuple(problems),
        copy_seconds=0.0,
        verify_seconds=time.monotonic() - started,
    )


async def _refuse_non_empty(conn: Conn, name: str) -> None:
    for table in TABLES:
        if table.name != SETTINGS and await conn.fetch_one(f"SELECT 1 FROM {table.name} LIMIT 1") is not None:
            raise StoreError(
                f"store {name} is not empty (table {table.name} has rows): db copy only fills an empty store, "
                "it never merges two histories"
            )


async def _chunks(conn: Conn, table: Table, size: int) -> AsyncIterator[list[Row]]:
    """The table's rows in key order, ``size`` at a time (keyset pagination: each chunk one indexed range scan)."""
    select = f"SELECT {', '.join(table.columns)} FROM {table.name}"
    order = f" ORDER BY {', '.join(table.key)} LIMIT {int(size)}"
    after: Sequence[Any] | None = None
    key_at = [table.columns.index(k) for k in table.key]
    while True:
        if after is None:
            rows = await conn.fetch_all(select + order)
        else:
            marks = ", ".join("?" for _ in table.key)
            rows = await conn.fetch_all(f"{select} WHERE ({', '.join(table.key)}) > ({marks}){order}", after)
        if not rows:
            return
        yield rows
        if len(rows) < size:
            return
        after = [rows[-1][i] for i in key_at]


def _values(table: Table, row: Any) -> tuple[Any, ...]:
    """A row as the Python values it stands for, whichever backend it came from."""
    return tuple(_value(table.kind(c), row[i]) for i, c in enumerate(table.columns))


def _value(kind: Kind, value: Any) -> Any:
    if value is None:
        return None
    if kind == "instant":
        return from_db(value)
    if kind == "flag":
        return bool(value)
    if kind == "real":
        return float(value)
    if kind == "json":
        return _canonical_json(value)
    return value


def _canonical_json(value: Any) -> str:
    # SQLite's audit rows are compact with sorted keys; jsonb gives its own spacing: compare (and store) one form
    parsed = json.loads(value) if isinstance(value, str) else value
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"))


async def _digest(conn: Conn, table: Table) -> tuple[int, str]:
    """Row count and SHA-256 of every row in key order, each value in its canonical text."""
    digest = hashlib.sha256()
    count = 0
    async for rows in _chunks(conn, table, CHUNK):
        for row in rows:
            for kind, value in zip((table.kind(c) for c in table.columns), _values(table, row), strict=True):
                digest.update(_canonical(kind, value).encode())
                digest.update(b"\x1f")
            digest.update(b"\x1e")
            count += 1
    return count, digest.hexdigest()


def _canonical(kind: Kind, value: Any) -> str:
    if value is None:
        return "\x00"
    if kind == "instant":
        return to_db(value)
    if kind == "flag":
        return "1" if value else "0"
    if kind == "real":
        return repr(float(value))
    return str(value)


async def copy_between(source: StoreUrl, target: StoreUrl, *, busy_timeout: float) -> CopyReport:
    """``db copy``: open the configured store read-only and the target migrated (its schema created if it has
    none), copy and verify. The copy is of the source as it is when the copy starts: stop the service first, or
    what it records meanwhile stays behind."""
    if source == target:
        raise StoreError(f"db copy: {target} is the configured store itself")
    async with (
        await opening.open_existing(source, busy_timeout=busy_timeout) as reading,
        await opening.open_migrated(target, busy_timeout=busy_timeout) as writing,
    ):
        if not isinstance(reading, SqlStore) or not isinstance(writing, SqlStore):
            raise StoreError("db copy works between SQL stores only")
        return await copy_store(reading, writing)
