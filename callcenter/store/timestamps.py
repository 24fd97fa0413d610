"""How instants are stored: UTC ISO-8601 text with microseconds, one fixed width, so text order is time order.

Text rather than epoch integers so an operator reading the database with the sqlite3 shell sees real times.
"""

from __future__ import annotations

from datetime import UTC, datetime


def to_db(moment: datetime) -> str:
    # A naive datetime would be silently read as local time somewhere; refuse it where the bug is.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamps must be timezone-aware (UTC), got naive {moment!r}")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_db(text: str) -> datetime:
    return datetime.fromisoformat(text)


def maybe_from_db(text: str | None) -> datetime | None:
    return None if text is None else from_db(text)


def whole_seconds(start: datetime, end: datetime) -> int:
    # Events are stamped by different producers (AGI, AMI); a small clock disagreement must not yield a
    # negative duration, so clamp rather than fail.
    return max(0, round((end - start).total_seconds()))
