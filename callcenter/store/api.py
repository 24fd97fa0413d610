"""The store as the rest of callcenter sees it: no SQL, no SQLite types, so another backend can implement it.

Split by concern so a component can ask for only what it uses (the IVR needs CallStore and EvaluationStore,
the router RosterStore and RatingStore); ``Store`` is all of them. ``now`` is always passed in, tz-aware, so
the clock belongs to the caller (and to tests); where it is optional, None means "the wall clock".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from callcenter.store.models import (
    Agent,
    AgentDef,
    AgentPresence,
    AuditEntry,
    Call,
    CallOutcome,
    CategoryDef,
    Client,
    Direction,
    Evaluation,
    EvaluationChange,
    PinOutcome,
    PresenceState,
    RatingSummary,
    Service,
    ServiceDef,
    SyncSummary,
)


class RosterStore(Protocol):
    async def sync_categories(self, defs: Sequence[CategoryDef]) -> SyncSummary: ...
    async def sync_services(self, defs: Sequence[ServiceDef]) -> SyncSummary: ...
    async def sync_roster(self, agents: Sequence[AgentDef], now: datetime | None = None) -> SyncSummary: ...
    async def list_categories(self) -> list[CategoryDef]: ...
    async def list_services(self, active_only: bool = True) -> list[Service]: ...
    async def list_agents(self, service_id: str | None = None, active_only: bool = True) -> list[Agent]: ...
    async def get_agent(self, agent_id: str) -> Agent | None: ...


class CallStore(Protocol):
    async def client_for_number(self, raw: str | None, now: datetime | None = None) -> Client | None: ...
    async def get_client(self, client_id: int) -> Client | None: ...
    async def start_call(
        self, uniqueid: str, linkedid: str, client_id: int | None, service_id: str | None, now: datetime
    ) -> Call: ...
    async def call_queued(self, uniqueid: str, queue: str, now: datetime) -> Call | None: ...
    async def call_answered(self, uniqueid: str, agent_id: str, now: datetime) -> Call | None: ...
    async def call_ended(self, uniqueid: str, outcome: CallOutcome, now: datetime) -> Call | None: ...
    async def get_call(self, uniqueid: str) -> Call | None: ...
    async def service_call_counts(self) -> dict[str, int]: ...
    async def set_call_service(self, uniqueid: str, service_id: str) -> Call | None: ...
    async def unrated_calls(
        self,
        direction: Direction,
        *,
        since: datetime,
        client_id: int | None = None,
        agent_id: str | None = None,
        limit: int = 10,
    ) -> list[Call]: ...
    async def served_calls(
        self, *, client_id: int | None = None, agent_id: str | None = None, limit: int = 20
    ) -> list[Call]: ...
    async def last_answered(self, agent_ids: Iterable[str]) -> dict[str, datetime]: ...
    async def list_calls(
        self, limit: int = 50, agent_id: str | None = None, client_id: int | None = None
    ) -> list[Call]: ...
    async def open_calls(self, started_before: datetime, limit: int = 1000) -> list[Call]: ...


class EvaluationStore(Protocol):
    async def record_evaluation(
        self, call_uniqueid: str, direction: Direction, scores: Mapping[str, int], actor: str, now: datetime
    ) -> Evaluation: ...
    async def delete_evaluation(
        self, call_uniqueid: str, direction: Direction, actor: str, reason: str, now: datetime
    ) -> Evaluation | None: ...
    async def get_evaluation(self, call_uniqueid: str, direction: Direction) -> Evaluation | None: ...
    async def list_evaluations(
        self,
        agent_id: str | None = None,
        client_id: int | None = None,
        direction: Direction | None = None,
        include_deleted: bool = False,
        limit: int | None = None,
    ) -> list[Evaluation]: ...
    async def evaluation_history(self, evaluation_id: int) -> list[AuditEntry]: ...
    async def evaluation_changes(
        self,
        *,
        call_uniqueid: str | None = None,
        agent_id: str | None = None,
        client_id: int | None = None,
        limit: int | None = None,
    ) -> list[EvaluationChange]: ...


class RatingStore(Protocol):
    # now: the moment the decayed values refer to (default: the wall clock).
    async def agent_summary(self, agent_id: str, now: datetime | None = None) -> RatingSummary: ...
    async def client_summary(self, client_id: int, now: datetime | None = None) -> RatingSummary: ...
    async def agent_summaries(
        self, agent_ids: Iterable[str], now: datetime | None = None
    ) -> dict[str, RatingSummary]: ...
    async def check_invariants(self) -> list[str]: ...


class PresenceStore(Protocol):
    async def get_presence(self, agent_ids: Iterable[str]) -> dict[str, AgentPresence]: ...
    async def set_presence(
        self, agent_id: str, state: PresenceState, reason: str | None, *, actor: str, via: str, now: datetime
    ) -> AgentPresence: ...
    async def client_pin(self, client_id: int) -> tuple[str | None, datetime | None]: ...
    async def set_client_pin(self, client_id: int, pin_hash: str | None, now: datetime) -> None: ...
    # read-only pre-check (a locked-out subject is not even asked); the decision is record_pin_attempt's
    async def pin_failures(self, subject: str, since: datetime) -> int: ...
    # counts, decides and records one try atomically: a right PIN clears the failures, a wrong one adds one
    async def record_pin_attempt(
        self, subject: str, *, right: bool, now: datetime, since: datetime, max_failures: int
    ) -> PinOutcome: ...


class Store(RosterStore, CallStore, EvaluationStore, RatingStore, PresenceStore, Protocol):
    async def close(self) -> None: ...
