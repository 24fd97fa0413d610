"""What the web console keeps: operators' accounts, signed-in sessions, and the one-time codes the IVR reads to
callers who would rather rate on the web.

Only digests of secrets cross this boundary (``callcenter/domain/tokens.py`` makes them): a session row is found by
the SHA-256 of its cookie, a code by the SHA-256 of its digits, so reading the database opens nothing.
"""

from __future__ import annotations

from datetime import datetime

from callcenter.store.models import Operator, WebSession
from callcenter.store.sql.connection import Row
from callcenter.store.sql.repository import Repository
from callcenter.store.timestamps import aware, from_db


class WebRepository(Repository):
    async def add_operator(self, name: str, password_hash: str, now: datetime) -> bool:
        """Create the operator, or set a new password (and make them active again); True if they were new."""
        async with self._db.transaction() as conn:
            existed = await conn.fetch_one("SELECT 1 FROM operators WHERE name = ?", (name,)) is not None
            await conn.execute(
                "INSERT INTO operators (name, password_hash, created_at, active) VALUES (?, ?, ?, TRUE) "
                "ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, active = TRUE",
                (name, password_hash, aware(now)),
            )
            if existed:
                # a new password ends every session signed in with the old one
                await conn.execute("DELETE FROM web_sessions WHERE subject = ?", (f"operator:{name}",))
        return not existed

    async def disable_operator(self, name: str) -> bool:
        """Stop ``name`` signing in, and end their sessions; False for an unknown name."""
        async with self._db.transaction() as conn:
            changed = await conn.execute("UPDATE operators SET active = FALSE WHERE name = ?", (name,))
            await conn.execute("DELETE FROM web_sessions WHERE subject = ?", (f"operator:{name}",))
        return changed > 0

    async def get_operator(self, name: str) -> Operator | None:
        async with self._db.read() as conn:
            row = await conn.fetch_one("SELECT * FROM operators WHERE name = ?", (name,))
        return None if row is None else _operator(row)

    async def list_operators(self) -> list[Operator]:
        async with self._db.read() as conn:
            rows = await conn.fetch_all("SELECT * FROM operators ORDER BY name")
        return [_operator(r) for r in rows]

    async def open_session(
        self, token_hash: str, subject: str, csrf: str, now: datetime, expires: datetime, *, keep: int
    ) -> None:
        """Record a new signed-in session; a subject keeps at most ``keep`` (its oldest are ended), and expired
        sessions of anyone go, so the table cannot grow without bound."""
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (aware(now),))
            await conn.execute(
                "DELETE FROM web_sessions WHERE subject = ? AND token_hash NOT IN "
                "(SELECT token_hash FROM web_sessions WHERE subject = ? ORDER BY created_at DESC LIMIT ?)",
                (subject, subject, max(0, keep - 1)),
            )
            await conn.execute(
                "INSERT INTO web_sessions (token_hash, subject, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                (token_hash, subject, csrf, aware(now), aware(expires)),
            )

    async def get_session(self, token_hash: str, now: datetime) -> WebSession | None:
        """The live session of that token, or None (unknown, ended or expired). Read-only: the web's GETs never
        write."""
        async with self._db.read() as conn:
            row = await conn.fetch_one(
                "SELECT * FROM web_sessions WHERE token_hash = ? AND expires_at > ?", (token_hash, aware(now))
            )
        if row is None:
            return None
        return WebSession(row["subject"], row["csrf"], from_db(row["created_at"]), from_db(row["expires_at"]))

    async def close_session(self, token_hash: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM web_sessions WHERE token_hash = ?", (token_hash,))

    async def forget_pin_failures(self, before: datetime) -> None:
        """Drop every wrong-PIN row older than ``before`` (they never count again), of every subject."""
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM pin_failures WHERE at < ?", (aware(before),))

    async def set_web_code(self, subject: str, code_hash: str, expires: datetime) -> None:
        """Give ``subject`` a new one-time code (any older one stops working)."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO web_codes (subject, code_hash, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (subject) DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at",
                (subject, code_hash, aware(expires)),
            )

    async def take_web_code(self, subject: str, code_hash: str, now: datetime) -> bool:
        """Whether ``code_hash`` is ``subject``'s live code; a right one is used up (deleted) in the same
        transaction, so two browsers cannot both sign in with it."""
        async with self._db.transaction() as conn:
            taken = await conn.execute(
                "DELETE FROM web_codes WHERE subject = ? AND code_hash = ? AND expires_at > ?",
                (subject, code_hash, aware(now)),
            )
        return taken > 0


def _operator(row: Row) -> Operator:
    return Operator(row["name"], row["password_hash"], from_db(row["created_at"]), bool(row["active"]))
