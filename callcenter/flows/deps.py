"""What the call flows need, built once by the composition root and handed to every route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from callcenter.ami.queues import Presence
from callcenter.config import AgentsConfig, SelfServiceConfig
from callcenter.duty import AgentDuty
from callcenter.evaluation.policy import Policy, Score
from callcenter.evaluation.rules import RatingRules
from callcenter.evaluation.summaries import summary_score
from callcenter.flows.ask import Asking
from callcenter.flows.pending import Recorder
from callcenter.store import RatingSummary, Store


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Screenings:
    """Which agent declined which call: the agent's leg knows, the caller's leg must tell the caller.

    In memory on purpose: it matters only while the call lasts. Entries older than an hour are dropped.
    """

    declined: dict[tuple[str, str], datetime] = field(default_factory=dict)

    def decline(self, call: str, agent: str, now: datetime) -> None:
        cutoff = now - timedelta(hours=1)
        for stale in [k for k, at in self.declined.items() if at < cutoff]:
            del self.declined[stale]
        self.declined[(call, agent)] = now

    def was_declined(self, call: str, agent: str) -> bool:
        return self.declined.pop((call, agent), None) is not None


@dataclass
class FlowDeps:
    store: Store
    presence: Callable[[], Presence]
    policy: Policy
    asking: Asking
    categories: tuple[str, ...]
    services: tuple[str, ...]
    offer_count: int
    on_agent_rated: Callable[[str], Awaitable[None]]
    # take a caller (channel) out of a queue: AMI QueueWithdrawCaller
    withdraw: Callable[[str, str], Awaitable[None]]
    rules: RatingRules = field(default_factory=RatingRules)
    screenings: Screenings = field(default_factory=Screenings)
    clock: Callable[[], datetime] = utcnow
    # how far back a caller is reminded of a call they did not rate
    remind_days: int = 14
    # agents' log in / pause / resume / log out (None: the agent menu is not served)
    duty: AgentDuty | None = None
    agents: AgentsConfig = field(default_factory=AgentsConfig)
    selfservice: SelfServiceConfig = field(default_factory=SelfServiceConfig)
    # the flows' writes of calls and ratings: to the store, or journaled when it cannot take them
    recorder: Recorder | None = None

    def __post_init__(self) -> None:
        if self.recorder is None:
            # no journal given (tools, tests): a write the store refuses is kept in memory only
            self.recorder = Recorder(self.store, None)

    @property
    def writes(self) -> Recorder:
        assert self.recorder is not None  # __post_init__
        return self.recorder

    def score(self, summary: RatingSummary) -> Score:
        return summary_score(summary, self.categories, self.policy)
