"""Read-outs for operators (and, later, a web console): an agent's or a caller's ratings, and recent calls.

The ``*_report`` coroutines read the store (never writing) and apply the rating policy, returning frozen
dataclasses; how they are shown (text tables, JSON) is the front end's (``callcenter/cli/reports.py``). So the
numbers are tested against a real store, and the layout without one.

Scores are computed by ``callcenter.domain.policy.score`` from the same summaries the IVR reads, so what
an operator sees here is exactly what a caller hears in the agent menu (and an agent before accepting a call).
How far back ratings count as owed is ``[journey] remind_days``, the window the IVR reminds callers about: the
front end passes the configured value (there is no second default here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from callcenter.domain.policy import Policy, Score, caller_priority, member_penalty
from callcenter.domain.summaries import ratings, summary_score
from callcenter.store import Agent, Call, CallOutcome, CategoryDef, Client, Evaluation, RatingSummary, Store
from callcenter.store.models import AGENT_TO_CLIENT, CLIENT_TO_AGENT, Direction
from callcenter.usecases.lookups import client_numbers, find_client

# Whether one side of a call rated it: None when the call cannot be rated at all (not answered, anonymous).
Rated = Literal["yes", "no", "deleted"]


@dataclass(frozen=True, slots=True)
class ScoreLine:
    """One row of a score table: the shrunk score ranking and the IVR use, next to the raw figures."""

    id: str  # category id, or "overall"
    label: str
    score: float  # Bayesian average (policy.shrunk): the prior with few scores, the mean with many
    mean: float | None  # plain mean of the scores; None without any
    n: int  # individual scores counted


@dataclass(frozen=True, slots=True)
class Scores:
    evaluations: int  # live evaluations received
    is_new: bool  # fewer than policy.min_ratings: the IVR says "new" instead of a score
    overall: ScoreLine
    categories: tuple[ScoreLine, ...]  # the configured categories, in the order the IVR reads them
    policy: Policy  # kept so a reader can tell how far scores were shrunk


@dataclass(frozen=True, slots=True)
class EvaluationRow:
    call_uniqueid: str
    at: datetime  # when it was first recorded
    caller: str | None  # the client's number
    agent_id: str
    scores: Mapping[str, int]  # for a deleted evaluation, the scores it had
    deleted: bool


@dataclass(frozen=True, slots=True)
class AgentReport:
    agent: Agent
    scores: Scores  # given by callers
    penalty: int  # member penalty in shared queues (0 rings first)
    recent: tuple[EvaluationRow, ...]  # newest first, deleted ones included
    # answered calls this agent has not rated the caller of (they hung up first), newest first
    owed: tuple[Call, ...] = ()
    owed_days: int = 0  # how far back ``owed`` looks ([journey] remind_days)


@dataclass(frozen=True, slots=True)
class ClientReport:
    client: Client
    scores: Scores  # given by agents
    priority: int  # QUEUE_PRIO the caller gets (higher is answered first)
    recent: tuple[EvaluationRow, ...]  # received from agents, newest first, deleted ones included
    owed: tuple[Call, ...]  # answered calls since owed_since the caller has not rated, newest first
    owed_since: datetime


@dataclass(frozen=True, slots=True)
class CallRow:
    uniqueid: str
    started_at: datetime
    caller: str | None  # None: anonymous
    service_id: str | None
    queue: str | None
    agent_id: str | None
    outcome: CallOutcome | None  # None while the call lasts
    hold_seconds: int | None
    talk_seconds: int | None
    caller_rated: Rated | None
    agent_rated: Rated | None


# --- gathering -------------------------------------------------------------------------------------------------


async def agent_report(
    store: Store,
    agent_id: str,
    categories: Sequence[CategoryDef],
    policy: Policy,
    *,
    recent: int = 10,
    owed_days: int,
) -> AgentReport:
    """An agent's ratings from callers; LookupError for an id that was never on the roster."""
    agent = await store.get_agent(agent_id)
    if agent is None:
        raise LookupError(f"no agent {agent_id!r} (see `callcenter agents list`)")
    scores, policy_score = _scores(await store.agent_summary(agent_id), categories, policy)
    evaluations = await store.list_evaluations(
        agent_id=agent_id, direction=CLIENT_TO_AGENT, include_deleted=True, limit=recent
    )
    numbers = await client_numbers(store, {e.client_id for e in evaluations})
    since = datetime.now(UTC) - timedelta(days=owed_days)
    owed = await store.unrated_calls(AGENT_TO_CLIENT, since=since, agent_id=agent_id, limit=recent)
    return AgentReport(
        agent=agent,
        scores=scores,
        penalty=member_penalty(policy_score, policy),
        recent=tuple(_evaluation_row(e, numbers) for e in evaluations),
        owed=tuple(owed),
        owed_days=owed_days,
    )


async def client_report(
    store: Store,
    number: str,
    categories: Sequence[CategoryDef],
    policy: Policy,
    *,
    now: datetime,
    recent: int = 10,
    owed_days: int,
) -> ClientReport:
    """A caller's reputation with agents, their queue priority and the ratings they still owe (at most
    ``recent`` of each, from the last ``owed_days``).

    LookupError for a number that is not a phone number or never called; the lookup creates no client.
    """
    client = await find_client(store, number)
    summary = await store.client_summary(client.id)
    scores, _ = _scores(summary, categories, policy)
    evaluations = await store.list_evaluations(
        client_id=client.id, direction=AGENT_TO_CLIENT, include_deleted=True, limit=recent
    )
    owed_since = now - timedelta(days=owed_days)
    owed = await store.unrated_calls(CLIENT_TO_AGENT, since=owed_since, client_id=client.id, limit=recent)
    numbers = {client.id: client.number}
    return ClientReport(
        client=client,
        scores=scores,
        # the same call the IVR makes when it queues this caller
        priority=caller_priority(ratings(summary), policy),
        recent=tuple(_evaluation_row(e, numbers) for e in evaluations),
        owed=tuple(owed),
        owed_since=owed_since,
    )


async def calls_report(
    store: Store, *, agent_id: str | None = None, number: str | None = None, limit: int = 20
) -> list[CallRow]:
    """Recent calls, newest first, optionally of one agent and/or one caller.

    LookupError for an unknown agent or number: a typo must not read as "no calls".
    """
    if agent_id is not None and await store.get_agent(agent_id) is None:
        raise LookupError(f"no agent {agent_id!r} (see `callcenter agents list`)")
    client_id = None if number is None else (await find_client(store, number)).id
    calls = await store.list_calls(limit=limit, agent_id=agent_id, client_id=client_id)
    numbers = await client_numbers(store, {c.client_id for c in calls if c.client_id is not None})
    return [
        CallRow(
            uniqueid=c.uniqueid,
            started_at=c.started_at,
            caller=None if c.client_id is None else numbers.get(c.client_id),
            service_id=c.service_id,
            queue=c.queue,
            agent_id=c.agent_id,
            outcome=c.outcome,
            hold_seconds=c.hold_seconds,
            talk_seconds=c.talk_seconds,
            caller_rated=await _rated(store, c, CLIENT_TO_AGENT),
            agent_rated=await _rated(store, c, AGENT_TO_CLIENT),
        )
        for c in calls
    ]


def _scores(summary: RatingSummary, categories: Sequence[CategoryDef], policy: Policy) -> tuple[Scores, Score]:
    """The report's score table, and the policy's Score it was read from (for penalty or priority)."""
    s = summary_score(summary, [c.id for c in categories], policy)
    # Only the configured categories get a row: the IVR asks and announces no others. Scores left in a category
    # since removed from the config still count in "overall", as they do for routing.
    lines = []
    for c in categories:
        stat = summary.per_category.get(c.id)
        n, mean = (0, None) if stat is None else (stat.n, stat.mean)
        lines.append(ScoreLine(c.id, c.label, s.per_category[c.id], mean, n))
    table = Scores(
        evaluations=s.count,
        is_new=s.is_new,
        overall=ScoreLine("overall", "overall", s.overall, summary.overall_mean, summary.score_count),
        categories=tuple(lines),
        policy=policy,
    )
    return table, s


async def _rated(store: Store, call: Call, direction: Direction) -> Rated | None:
    if call.answered_at is None or call.client_id is None:
        return None  # the store refuses evaluations of these calls
    evaluation = await store.get_evaluation(call.uniqueid, direction)
    if evaluation is None:
        return "no"
    return "deleted" if evaluation.deleted else "yes"


def _evaluation_row(e: Evaluation, numbers: Mapping[int, str]) -> EvaluationRow:
    return EvaluationRow(
        call_uniqueid=e.call_uniqueid,
        at=e.created_at,
        caller=numbers.get(e.client_id),
        agent_id=e.agent_id,
        scores=e.scores,
        deleted=e.deleted,
    )
