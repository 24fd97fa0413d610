"""Clients (known by normalised number) and the life of each call, keyed by Asterisk's channel uniqueid.

Asterisk events can repeat or arrive late (AMI reconnects, a flow retrying after an error), so every step is
idempotent and an ended call is final: later events for it change nothing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from callcenter.domain.numbers import normalise_number
from callcenter.store.models import CALL_OUTCOMES, DIRECTIONS, Call, CallOutcome, Client, Direction
from callcenter.store.sql.connection import Conn, Row
from callcenter.store.sql.repository import Repository, require
from callcenter.store.timestamps import aware, from_db, maybe_from_db, whole_seconds


class CallRepository(Repository):
    async def client_for_number(self, raw: str | None, now: datetime | None = None) -> Client | None:
        """The client behind a caller number, created on first sight; None for a withheld/garbage number."""
        number = normalise_number(raw)
        if number is None:
            return None
        at = aware(now if now is not None else datetime.now(UTC))
        # a known caller (nearly every call) is a read: no write transaction, no wait for another writer's lock
        known = await self._db.query("SELECT id, number FROM clients WHERE number = ?", (number,))
        if known:
            return Client(known[0]["id"], known[0]["number"])
        async with self._db.transaction() as conn:
            # look again, insert only a new number: writers are serialised, so nobody inserts it meanwhile (and an
            # INSERT ... ON CONFLICT DO NOTHING would use up an id of PostgreSQL's sequence on every known caller)
            row = await conn.fetch_one("SELECT id, number FROM clients WHERE number = ?", (number,))
            if row is None:
                client_id = await conn.insert("INSERT INTO clients (number, created_at) VALUES (?, ?)", (number, at))
                return Client(client_id, number)
        return Client(row["id"], row["number"])

    async def get_client(self, client_id: int) -> Client | None:
        rows = await self._db.query("SELECT id, number FROM clients WHERE id = ?", (client_id,))
        return Client(rows[0]["id"], rows[0]["number"]) if rows else None

    async def find_client(self, raw: str) -> Client | None:
        number = normalise_number(raw)
        if number is None:
            return None
        rows = await self._db.query("SELECT id, number FROM clients WHERE number = ?", (number,))
        return Client(rows[0]["id"], rows[0]["number"]) if rows else None

    async def start_call(
        self, uniqueid: str, linkedid: str, client_id: int | None, service_id: str | None, now: datetime
    ) -> Call:
        """Record a new call; for a uniqueid already recorded, return that call unchanged."""
        at = aware(now)
        async with self._db.transaction() as conn:
            existing = await _call_row(conn, uniqueid)
            if existing is not None:
                return _call(existing)
            if client_id is not None:
                await require(conn, "clients", client_id, "client")
            if service_id is not None:
                await require(conn, "services", service_id, "service")
            call_id = await conn.insert(
                "INSERT INTO calls (uniqueid, linkedid, client_id, service_id, started_at) VALUES (?, ?, ?, ?, ?)",
                (uniqueid, linkedid, client_id, service_id, at),
            )
        # what the row now says, without reading it back (every other column starts out NULL)
        return Call(
            id=call_id,
            uniqueid=uniqueid,
            linkedid=linkedid,
            client_id=client_id,
            agent_id=None,
            service_id=service_id,
            queue=None,
            started_at=at,
            joined_at=None,
            answered_at=None,
            ended_at=None,
            hold_seconds=None,
            talk_seconds=None,
            outcome=None,
        )

    async def call_queued(self, uniqueid: str, queue: str, now: datetime) -> Call | None:
        """The call joined ``queue``. Hold time runs from the first join, so a call moved on to another queue
        keeps its earlier wait. None if the call is unknown."""
        at = aware(now)
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE calls SET queue = ?, joined_at = COALESCE(joined_at, ?) "
                "WHERE uniqueid = ? AND answered_at IS NULL AND ended_at IS NULL",
                (queue, at, uniqueid),
            )
            return await _maybe_call(conn, uniqueid)

    async def call_answered(self, uniqueid: str, agent_id: str, now: datetime) -> Call | None:
        """``agent_id`` answered; the first answer counts. None if the call is unknown."""
        at = aware(now)
        async with self._db.transaction() as conn:
            await require(conn, "agents", agent_id, "agent")
            await conn.execute(
                "UPDATE calls SET agent_id = ?, answered_at = ? "
                "WHERE uniqueid = ? AND answered_at IS NULL AND ended_at IS NULL",
                (agent_id, at, uniqueid),
            )
            return await _maybe_call(conn, uniqueid)

    async def call_ended(self, uniqueid: str, outcome: CallOutcome, now: datetime) -> Call | None:
        """Close the call and fix its hold/talk seconds. A second end changes nothing. None if unknown."""
        if outcome not in CALL_OUTCOMES:
            raise ValueError(f"call outcome must be one of {', '.join(CALL_OUTCOMES)}, got {outcome!r}")
        at = aware(now)
        async with self._db.transaction() as conn:
            row = await _call_row(conn, uniqueid)
            if row is None or row["ended_at"] is not None:
                return None if row is None else _call(row)
            end = at
            joined = maybe_from_db(row["joined_at"])
            answered = maybe_from_db(row["answered_at"])
            hold = None if joined is None else whole_seconds(joined, answered or end)
            talk = None if answered is None else whole_seconds(answered, end)
            await conn.execute(
                "UPDATE calls SET ended_at = ?, outcome = ?, hold_seconds = ?, talk_seconds = ? WHERE id = ?",
                (at, outcome, hold, talk, row["id"]),
            )
        return dataclasses.replace(_call(row), ended_at=end, outcome=outcome, hold_seconds=hold, talk_seconds=talk)

    async def set_call_service(self, uniqueid: str, service_id: str) -> Call | None:
        """The caller chose ``service_id`` (the call row exists from the first second, before the menu)."""
        async with self._db.transaction() as conn:
            await require(conn, "services", service_id, "service")
            await conn.execute(
                "UPDATE calls SET service_id = ? WHERE uniqueid = ? AND ended_at IS NULL",
                (service_id, uniqueid),
            )
            return await _maybe_call(conn, uniqueid)

    async def unrated_calls(
        self,
        direction: Direction,
        *,
        since: datetime,
        client_id: int | None = None,
        agent_id: str | None = None,
        limit: int = 10,
    ) -> list[Call]:
        """Answered calls since ``since`` never rated in ``direction``, most recent first: the ratings a caller or
        an agent still owes (asked on the next call). A rating deleted later (by its rater or an operator) is not
        owed again: the rater decided, or was overruled."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
        where = ["c.answered_at IS NOT NULL", "c.client_id IS NOT NULL", "c.agent_id IS NOT NULL", "c.answered_at >= ?"]
        params: list[object] = [aware(since)]
        if client_id is not None:
            where.append("c.client_id = ?")
            params.append(client_id)
        if agent_id is not None:
            where.append("c.agent_id = ?")
            params.append(agent_id)
        sql = (
            "SELECT c.* FROM calls c WHERE " + " AND ".join(where) + " AND NOT EXISTS (SELECT 1 FROM evaluations e "
            "WHERE e.call_id = c.id AND e.direction = ?) "
            "ORDER BY c.answered_at DESC, c.id DESC LIMIT ?"
        )
        rows = await self._db.query(sql, [*params, direction, max(0, limit)])
        return [_call(row) for row in rows]

    async def served_calls(
        self, *, client_id: int | None = None, agent_id: str | None = None, limit: int = 20
    ) -> list[Call]:
        """The answered calls between a client and any agent (or an agent and any known caller), most recent
        first: what the self-service menus let each side review and rate. Exactly one of the two is given."""
        if (client_id is None) == (agent_id is None):
            raise ValueError("give exactly one of client_id and agent_id")
        # the served side's index (calls_by_client / calls_by_agent, both on started_at) orders the scan
        column, value = ("client_id", client_id) if client_id is not None else ("agent_id", agent_id)
        sql = (
            f"SELECT * FROM calls WHERE {column} = ? AND answered_at IS NOT NULL AND client_id IS NOT NULL "
            "AND agent_id IS NOT NULL ORDER BY started_at DESC, id DESC LIMIT ?"
        )
        rows = await self._db.query(sql, [value, max(0, limit)])
        return [_call(row) for row in rows]

    async def last_answered(self, agent_ids: Iterable[str]) -> dict[str, datetime]:
        """When each agent last answered a call (agents who never did are absent): fair tie-breaking."""
        ids = sorted(set(agent_ids))
        if not ids:
            return {}
        # one index seek per agent (calls_agent_answered): GROUP BY over every call grew with history
        rows = await self._db.query_in(
            "SELECT a.id AS agent_id, (SELECT MAX(c.answered_at) FROM calls c WHERE c.agent_id = a.id) AS at "
            "FROM agents a WHERE a.id {in_keys}",
            ids,
        )
        return {row["agent_id"]: from_db(row["at"]) for row in rows if row["at"] is not None}

    async def service_call_counts(self) -> dict[str, int]:
        """How many calls each service has on record (services without calls are left out)."""
        async with self._db.read() as conn:
            rows = await conn.fetch_all(
                "SELECT service_id, COUNT(*) AS n FROM calls WHERE service_id IS NOT NULL GROUP BY service_id"
            )
        return {row["service_id"]: row["n"] for row in rows}

    async def get_call(self, uniqueid: str) -> Call | None:
        rows = await self._db.query("SELECT * FROM calls WHERE uniqueid = ?", (uniqueid,))
        return _call(rows[0]) if rows else None

    async def list_calls(
        self, limit: int = 50, agent_id: str | None = None, client_id: int | None = None
    ) -> list[Call]:
        """Most recent first."""
        where: list[str] = []
        params: list[object] = []
        if agent_id is not None:
            where.append("agent_id = ?")
            params.append(agent_id)
        if client_id is not None:
            where.append("client_id = ?")
            params.append(client_id)
        sql = (
            "SELECT * FROM calls"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY started_at DESC, id DESC LIMIT ?"
        )
        async with self._db.read() as conn:
            rows = await conn.fetch_all(sql, [*params, max(0, limit)])
        return [_call(row) for row in rows]

    async def open_calls(self, started_before: datetime, limit: int = 1000, *, node: str | None = None) -> list[Call]:
        """Calls not closed yet that started before ``started_before``, oldest first (the reaper's candidates).
        ``node``: only that Asterisk node's calls (their uniqueids start with its systemname and a dash)."""
        prefix = "" if node is None else f"{node}-"
        async with self._db.read() as conn:
            rows = await conn.fetch_all(
                "SELECT * FROM calls WHERE ended_at IS NULL AND started_at < ? AND substr(uniqueid, 1, ?) = ? "
                "ORDER BY started_at, id LIMIT ?",
                (aware(started_before), len(prefix), prefix, max(0, limit)),
            )
        calls = [_call(row) for row in rows]
        if node is not None:
            # Asterisk's uniqueid with a systemname is "<systemname>-<epoch>.<sequence>": node "a" must not take
            # node "a-b"'s calls for its own
            own = re.compile(rf"{re.escape(node)}-[0-9]+\.[0-9]+")
            calls = [c for c in calls if own.fullmatch(c.uniqueid)]
        return calls


async def _call_row(conn: Conn, uniqueid: str) -> Row | None:
    return await conn.fetch_one("SELECT * FROM calls WHERE uniqueid = ?", (uniqueid,))


async def _maybe_call(conn: Conn, uniqueid: str) -> Call | None:
    row = await _call_row(conn, uniqueid)
    return None if row is None else _call(row)


def _call(row: Row) -> Call:
    return Call(
        id=row["id"],
        uniqueid=row["uniqueid"],
        linkedid=row["linkedid"],
        client_id=row["client_id"],
        agent_id=row["agent_id"],
        service_id=row["service_id"],
        queue=row["queue"],
        started_at=from_db(row["started_at"]),
        joined_at=maybe_from_db(row["joined_at"]),
        answered_at=maybe_from_db(row["answered_at"]),
        ended_at=maybe_from_db(row["ended_at"]),
        hold_seconds=row["hold_seconds"],
        talk_seconds=row["talk_seconds"],
        outcome=row["outcome"],
    )
