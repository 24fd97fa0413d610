"""What goes into the store (``*Def``, from configuration) and what comes out (read models). All immutable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal, get_args

AgentKind = Literal["sip", "external"]
CallOutcome = Literal["answered", "declined", "no_answer", "abandoned", "timeout", "failed", "interrupted"]
Direction = Literal["client_to_agent", "agent_to_client"]
AuditAction = Literal["create", "update", "delete", "revive"]
# logged_out: not a member of any queue; available: a member taking calls; paused: a member not rung
PresenceState = Literal["logged_out", "available", "paused"]
# one PIN try: taken, refused, or not even checked (too many wrong ones lately)
PinOutcome = Literal["ok", "wrong", "locked"]
# what an agent did when they heard the caller's reputation before the bridge ('none': pressed nothing)
ScreenDecision = Literal["accept", "decline", "none"]

AGENT_KINDS: Final[tuple[AgentKind, ...]] = get_args(AgentKind)
CALL_OUTCOMES: Final[tuple[CallOutcome, ...]] = get_args(CallOutcome)
DIRECTIONS: Final[tuple[Direction, ...]] = get_args(Direction)
PRESENCE_STATES: Final[tuple[PresenceState, ...]] = get_args(PresenceState)

CLIENT_TO_AGENT: Final[Direction] = "client_to_agent"
AGENT_TO_CLIENT: Final[Direction] = "agent_to_client"

MIN_SCORE: Final = 1
MAX_SCORE: Final = 5
# The rating totals keep one extra row per subject under this key: n = evaluations, total = all scores.
OVERALL: Final = "*"


@dataclass(frozen=True, slots=True)
class CategoryDef:
    id: str
    label: str


@dataclass(frozen=True, slots=True)
class ServiceDef:
    id: str
    name: str


# Keyword-only: two tuples of strings side by side are too easy to swap positionally.
@dataclass(frozen=True, slots=True, kw_only=True)
class AgentDef:
    id: str
    name: str
    interface: str  # Asterisk dial string: PJSIP/agent1001, Local/+15551234567@cc-outbound, ...
    kind: AgentKind
    services: tuple[str, ...]
    queues: tuple[str, ...]
    pin_hash: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    name: str
    active: bool


@dataclass(frozen=True, slots=True)
class SyncSummary:
    added: int = 0
    updated: int = 0
    deactivated: int = 0


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    name: str
    interface: str
    kind: AgentKind
    services: tuple[str, ...]
    queues: tuple[str, ...]
    active: bool
    pin_hash: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Client:
    id: int
    number: str


@dataclass(frozen=True, slots=True)
class AgentPresence:
    agent_id: str
    state: PresenceState
    reason: str | None  # why a paused agent is paused
    since: datetime
    actor: str


@dataclass(frozen=True, slots=True)
class Call:
    id: int
    uniqueid: str
    linkedid: str
    client_id: int | None
    agent_id: str | None
    service_id: str | None
    queue: str | None
    started_at: datetime
    joined_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    hold_seconds: int | None  # joined -> answered, or joined -> end if never answered; None if never queued
    talk_seconds: int | None  # answered -> end; None if never answered (or not ended yet)
    outcome: CallOutcome | None


@dataclass(frozen=True, slots=True)
class Evaluation:
    id: int
    call_id: int
    call_uniqueid: str
    direction: Direction
    agent_id: str
    client_id: int
    # For a deleted evaluation: the scores it had when it was deleted.
    scores: Mapping[str, int]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def subject(self) -> str | int:
        """Who is rated: the agent for client_to_agent, the client for agent_to_client."""
        return self.agent_id if self.direction == CLIENT_TO_AGENT else self.client_id


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    evaluation_id: int
    at: datetime
    actor: str
    action: AuditAction
    old_scores: Mapping[str, int] | None  # live scores before the change; None if there were none
    new_scores: Mapping[str, int] | None  # live scores after; None after a delete
    reason: str | None


@dataclass(frozen=True, slots=True)
class EvaluationChange:
    """One audit row with the evaluation it changed: which call, which way, between whom."""

    entry: AuditEntry
    call_uniqueid: str
    direction: Direction
    agent_id: str
    client_id: int


# The decayed_* fields are recency-weighted twins of the exact ones (see callcenter/store/decay.py), as of the
# moment the summary was read. They are left out of ==: they change with the reading time alone, and two
# summaries of the same live ratings should compare equal.


@dataclass(frozen=True, slots=True)
class CategoryStat:
    n: int
    total: int
    mean: float | None
    decayed_n: float = field(default=0.0, compare=False)  # sum of the scores' weights, each in (0, 1]
    decayed_total: float = field(default=0.0, compare=False)  # sum of score * weight
    # decayed_total / decayed_n within 1-5; None once decayed_n < 1e-6 (everything has faded)
    decayed_mean: float | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class RatingSummary:
    count: int  # live evaluations received
    score_count: int  # individual category scores in them
    score_total: int
    per_category: Mapping[str, CategoryStat]  # only categories that have at least one score
    overall_mean: float | None  # score_total / score_count
    decayed_count: float = field(default=0.0, compare=False)  # sum of the evaluations' weights
    decayed_score_count: float = field(default=0.0, compare=False)  # sum of per-category decayed_n
    decayed_score_total: float = field(default=0.0, compare=False)  # sum of per-category decayed_total
    decayed_overall_mean: float | None = field(default=None, compare=False)  # their ratio, as decayed_mean


@dataclass(frozen=True, slots=True)
class Operator:
    """A web console account (``callcenter operators add``)."""

    name: str
    password_hash: str = field(repr=False)
    created_at: datetime
    active: bool


@dataclass(frozen=True, slots=True)
class WebSession:
    """A signed-in browser: who (``operator:<name>``, ``agent:<id>``, ``client:<id>``) and its forms' CSRF token."""

    subject: str
    csrf: str = field(repr=False)
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class QueueDay:
    """A queue's (or a service's) calls since a moment, for the wallboard."""

    calls: int
    answered: int  # so far, those still talking too
    within: int  # answered within the service-level threshold (hold seconds, fixed when the call ends)
    abandoned: int
    settled: int = 0  # answered and ended: the ones whose hold time is known

    @property
    def service_level(self) -> float | None:
        """The share answered within the threshold, of the calls answered (and ended) or abandoned; None without
        any (a call still talking is judged once it ends and its hold time is fixed)."""
        judged = self.settled + self.abandoned
        return None if judged == 0 else self.within / judged


@dataclass(frozen=True, slots=True)
class Reservation:
    """A call holding an agent (``store/sql/reservations.py``): until it releases them or its lease runs out."""

    agent_id: str
    call_uniqueid: str
    node: str
    reserved_at: datetime
    lease_until: datetime
