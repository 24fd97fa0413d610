"""Everything the store raises on purpose; callers catch these, never a database driver's exceptions."""

from __future__ import annotations

import enum


class StoreError(Exception):
    """Base of every deliberate store failure."""


class StoreBusyError(StoreError):
    """Another process held the database's write lock for longer than the busy timeout."""


class StoreUnavailableError(StoreError):
    """The database cannot take writes now (disk full, read-only, I/O error): transient from the caller's side,
    like a lock; what was to be written must be kept and written later."""


class SchemaTooNewError(StoreError):
    """The database was migrated by a newer callcenter than this one; running against it could corrupt it."""


class SchemaTooOldError(StoreError):
    """The database is at an older schema than this callcenter; ``callcenter db migrate`` upgrades it."""


class MigrationError(StoreError):
    """The bundled migrations are malformed (a gap or duplicate in the numbering)."""


class UnknownReferenceError(StoreError):
    """A write named an agent, client or service the store does not know (usually: roster not synced yet)."""


class RefusalReason(enum.StrEnum):
    UNKNOWN_CALL = "unknown_call"
    NOT_ANSWERED = "not_answered"
    ANONYMOUS = "anonymous"
    BAD_SCORE = "bad_score"
    UNKNOWN_CATEGORY = "unknown_category"
    REMOVED = "removed"  # an operator removed it; only an operator may restore it


# Not "...Error": a refusal is an expected answer (the IVR says "this call cannot be rated"), not a fault.
class EvaluationRefused(StoreError):
    """An evaluation was not recorded; ``reason`` says why in a form a flow can branch on."""

    def __init__(self, reason: RefusalReason, detail: str) -> None:
        super().__init__(f"evaluation refused ({reason}): {detail}")
        self.reason = reason
        self.detail = detail
