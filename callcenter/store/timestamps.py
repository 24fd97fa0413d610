"""How instants cross the store boundary: always tz-aware; in SQLite, UTC ISO-8601 text of one fixed width.

SQLite keeps UTC text with microseconds, one fixed width, so text order is time order (and an operator reading the
database with the sqlite3 shell sees real times); PostgreSQL keeps ``timestamptz``. The shared repositories pass
and receive ``datetime`` objects: the SQLite connection turns parameters into text with ``to_db``, and ``from_db``
reads either form back.
"""

from __future__ import annotations

from datetime import UTC, datetime


def aware(moment: datetime) -> datetime:
    """``moment`` in UTC; ValueError for a naive datetime, which would be silently read as local time somewhere."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamps must be timezone-aware (UTC), got naive {moment!r}")
    return moment.astimezone(UTC)


def to_db(moment: datetime) -> str:
    """The SQLite text of an instant."""
    return aware(moment).isoformat(timespec="microseconds")


def from_db(value: str | datetime) -> datetime:
    """An instant as a backend returns it: SQLite's text, or PostgreSQL's tz-aware datetime."""
    if isinstance(value, datetime):
        return aware(value)
    return datetime.fromisoformat(value)


def maybe_from_db(value: str | datetime | None) -> datetime | None:
    return None if value is None else from_db(value)


def whole_seconds(start: datetime, end: datetime) -> int:
    # Events are stamped by different producers (AGI, AMI); a small clock disagreement must not yield a
    # negative duration, so clamp rather than fail.
    return max(0, round((end - start).total_seconds()))
