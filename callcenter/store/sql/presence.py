"""Agents' presence as they set it from their phones, the PINs callers protect their ratings with, and the count
of wrong PINs that locks a guesser out.

The store is the truth for presence: Asterisk's queue members are made to match it (``ami/queues.py``), so a
restarted Asterisk, or a restarted service, puts every agent back where they said they were.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from callcenter.store.errors import UnknownReferenceError
from callcenter.store.models import PRESENCE_STATES, AgentPresence, PinOutcome, PresenceState
from callcenter.store.sql.connection import Conn, Row
from callcenter.store.sql.repository import Repository, require
from callcenter.store.timestamps import aware, from_db, maybe_from_db


class PresenceRepository(Repository):
    async def get_presence(self, agent_ids: Iterable[str]) -> dict[str, AgentPresence]:
        """The stored presence of each agent; agents who never set one are absent (their initial state)."""
        async with self._db.read() as conn:
            rows = await conn.fetch_in("SELECT * FROM agent_presence WHERE agent_id {in_keys}", sorted(set(agent_ids)))
        return {row["agent_id"]: _presence(row) for row in rows}

    async def set_presence(
        self, agent_id: str, state: PresenceState, reason: str | None, *, actor: str, via: str, now: datetime
    ) -> AgentPresence:
        """Record the agent's new state (and the change in the history); setting the same state again keeps
        its ``since`` and logs nothing."""
        if state not in PRESENCE_STATES:
            raise ValueError(f"state must be one of {', '.join(PRESENCE_STATES)}")
        if (state == "paused") != (reason is not None):
            raise ValueError("a reason is given exactly when pausing")
        at = aware(now)
        async with self._db.transaction() as conn:
            await require(conn, "agents", agent_id, "agent")
            row = await conn.fetch_one("SELECT * FROM agent_presence WHERE agent_id = ?", (agent_id,))
            if row is not None and (row["state"], row["reason"]) == (state, reason):
                return _presence(row)
            await conn.execute(
                "INSERT INTO agent_presence (agent_id, state, reason, since, actor) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (agent_id) DO UPDATE SET state = excluded.state, reason = excluded.reason, "
                "since = excluded.since, actor = excluded.actor",
                (agent_id, state, reason, at, actor),
            )
            await conn.execute(
                "INSERT INTO agent_presence_log (agent_id, at, state, reason, actor, via) VALUES (?, ?, ?, ?, ?, ?)",
                (agent_id, at, state, reason, actor, via),
            )
        return AgentPresence(agent_id, state, reason, now, actor)

    async def client_pin(self, client_id: int) -> tuple[str | None, datetime | None]:
        """The client's PIN hash and when it was set; (None, None) if they never set one."""
        async with self._db.read() as conn:
            row = await conn.fetch_one("SELECT pin_hash, pin_set_at FROM clients WHERE id = ?", (client_id,))
        if row is None:
            raise UnknownReferenceError(f"unknown client {client_id}")
        return row["pin_hash"], maybe_from_db(row["pin_set_at"])

    async def pin_failures(self, subject: str, since: datetime) -> int:
        """Wrong PINs keyed for ``subject`` since ``since`` (and the last right one): 'client:<id>', 'agent:<id>' by
        phone; 'web:agent:<id>', 'web:caller:<number>', 'web:operator:<name>' on the web.

        Read-only: for not even asking a locked-out subject. Whether a PIN is taken is decided by
        record_pin_attempt, in one transaction with recording it."""
        async with self._db.read() as conn:
            return await _failures(conn, subject, since)

    async def record_pin_attempt(
        self, subject: str, *, right: bool, now: datetime, since: datetime, max_failures: int
    ) -> PinOutcome:
        """Decide and record one PIN try for ``subject`` in ONE write transaction: "locked" if it already has
        ``max_failures`` wrong PINs since ``since`` (even for a right PIN; nothing recorded), else "ok" for a
        right PIN (its failures cleared) or "wrong" (one failure added). ``max_failures`` 0: no lockout.

        Counting and recording in one transaction is what holds the limit: checked first and recorded after,
        twenty concurrent calls with a wrong PIN each all passed the check and recorded twenty failures.
        """
        if max_failures < 0:
            raise ValueError("max_failures must be >= 0 (0: no lockout)")
        async with self._db.transaction() as conn:
            if max_failures and await _failures(conn, subject, since) >= max_failures:
                return "locked"
            if right:
                await conn.execute("DELETE FROM pin_failures WHERE subject = ?", (subject,))
                return "ok"
            # failures older than the window never count again: they go, so a guesser cannot grow the table
            await conn.execute("DELETE FROM pin_failures WHERE subject = ? AND at < ?", (subject, aware(since)))
            await conn.execute("INSERT INTO pin_failures (subject, at) VALUES (?, ?)", (subject, aware(now)))
            return "wrong"

    async def set_client_pin(self, client_id: int, pin_hash: str | None, now: datetime) -> None:
        """Set (or, with None, clear: an operator's reset) the PIN protecting the client's ratings."""
        async with self._db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE clients SET pin_hash = ?, pin_set_at = ? WHERE id = ?",
                (pin_hash, aware(now) if pin_hash else None, client_id),
            )
            # a new (or reset) PIN ends the caller's signed-in web sessions (web/auth.py)
            await conn.execute("DELETE FROM web_sessions WHERE subject = ?", (f"client:{client_id}",))
        if not changed:
            raise UnknownReferenceError(f"unknown client {client_id}")


async def _failures(conn: Conn, subject: str, since: datetime) -> int:
    row = await conn.fetch_one(
        "SELECT COUNT(*) AS n FROM pin_failures WHERE subject = ? AND at >= ?", (subject, aware(since))
    )
    assert row is not None  # COUNT(*) always answers one row
    return int(row["n"])


def _presence(row: Row) -> AgentPresence:
    return AgentPresence(row["agent_id"], row["state"], row["reason"], from_db(row["since"]), row["actor"])
