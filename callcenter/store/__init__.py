"""Persistent state of the call center: roster, clients, calls, mutual evaluations and rating totals.

Code outside this package depends on the ``api`` protocols and the ``models`` and opens a store by its URL
(``opening``); nothing outside names a backend. Inside: ``aggregates`` (the rating arithmetic, no I/O), ``sql/``
(the repositories, written once for every SQL backend against ``sql.connection``), one folder per backend
(``sqlite/``: the embedded default, one host; ``postgres/``: asyncpg, several processes and hosts), each with its
own numbered migrations, and ``copy`` (``db copy``: a whole history from one store into another, verified).
``SqliteStore`` stays exported here for the tests and benchmarks that build one directly.
"""

from callcenter.store.api import (
    CallStore,
    EvaluationStore,
    PresenceStore,
    RatingStore,
    RosterStore,
    Store,
    WebStore,
)
from callcenter.store.errors import (
    EvaluationRefused,
    MigrationError,
    RefusalReason,
    SchemaTooNewError,
    SchemaTooOldError,
    StoreBusyError,
    StoreError,
    StoreUnavailableError,
    UnknownReferenceError,
)
from callcenter.store.models import (
    Agent,
    AgentDef,
    AgentPresence,
    AuditEntry,
    Call,
    CallOutcome,
    CategoryDef,
    CategoryStat,
    Client,
    Direction,
    Evaluation,
    EvaluationChange,
    Operator,
    PinOutcome,
    PresenceState,
    RatingSummary,
    Service,
    ServiceDef,
    SyncSummary,
    WebSession,
)
from callcenter.store.sqlite.store import SqliteStore

__all__ = [
    "Agent",
    "AgentDef",
    "AgentPresence",
    "AuditEntry",
    "Call",
    "CallOutcome",
    "CallStore",
    "CategoryDef",
    "CategoryStat",
    "Client",
    "Direction",
    "Evaluation",
    "EvaluationChange",
    "EvaluationRefused",
    "EvaluationStore",
    "MigrationError",
    "Operator",
    "PinOutcome",
    "PresenceState",
    "PresenceStore",
    "RatingStore",
    "RatingSummary",
    "RefusalReason",
    "RosterStore",
    "SchemaTooNewError",
    "SchemaTooOldError",
    "Service",
    "ServiceDef",
    "SqliteStore",
    "Store",
    "StoreBusyError",
    "StoreError",
    "StoreUnavailableError",
    "SyncSummary",
    "UnknownReferenceError",
    "WebSession",
    "WebStore",
]
