"""Read-outs for operators: an agent's or a caller's ratings, and recent calls, as text or as JSON.

Gathering and rendering are split: the ``*_report`` coroutines read the store (never writing) and apply the rating
policy, returning frozen dataclasses; ``render_*`` and ``to_data``/``to_json`` are pure functions of those. So the
numbers are tested against a real store, and the layout without one.

Scores are computed by ``callcenter.evaluation.policy.score`` from the same summaries the IVR reads, so what
an operator sees here is exactly what a caller hears in the agent menu (and an agent before accepting a call).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, Protocol

from callcenter.evaluation.policy import Policy, Score, caller_priority, member_penalty, spoken_score
from callcenter.evaluation.summaries import ratings, summary_score
from callcenter.numbers import normalise_number
from callcenter.store import Agent, Call, CallOutcome, Client, Evaluation, RatingSummary, Store
from callcenter.store.models import AGENT_TO_CLIENT, CLIENT_TO_AGENT, Direction

# How far back a caller's unrated calls count as owed: the window the IVR reminds callers about
# (FlowDeps.remind_days); older ones are never asked for again.
OWED_DAYS: Final = 14  # the default of [journey] remind_days; the CLI passes the configured value

MISSING: Final = "-"
ANONYMOUS: Final = "anonymous"

# Whether one side of a call rated it: None when the call cannot be rated at all (not answered, anonymous).
Rated = Literal["yes", "no", "deleted"]
JsonObject = dict[str, Any]


class Category(Protocol):
    """What a report needs of a category: CategoryConfig (from the config) and CategoryDef both fit."""

    @property
    def id(self) -> str: ...
    @property
    def label(self) -> str: ...


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
    owed_days: int = OWED_DAYS  # how far back ``owed`` looks


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
    categories: Sequence[Category],
    policy: Policy,
    *,
    recent: int = 10,
    owed_days: int = OWED_DAYS,
) -> AgentReport:
    """An agent's ratings from callers; LookupError for an id that was never on the roster."""
    agent = await store.get_agent(agent_id)
    if agent is None:
        raise LookupError(f"no agent {agent_id!r} (see `callcenter agents list`)")
    scores, policy_score = _scores(await store.agent_summary(agent_id), categories, policy)
    evaluations = await store.list_evaluations(
        agent_id=agent_id, direction=CLIENT_TO_AGENT, include_deleted=True, limit=recent
    )
    numbers = await _numbers(store, {e.client_id for e in evaluations})
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
    categories: Sequence[Category],
    policy: Policy,
    *,
    now: datetime,
    recent: int = 10,
    owed_days: int = OWED_DAYS,
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
    numbers = await _numbers(store, {c.client_id for c in calls if c.client_id is not None})
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


def _scores(summary: RatingSummary, categories: Sequence[Category], policy: Policy) -> tuple[Scores, Score]:
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


async def find_client(store: Store, raw: str) -> Client:
    number = normalise_number(raw)
    if number is None:
        raise LookupError(f"{raw!r} is not a phone number")
    # not client_for_number: that creates the client on first sight (right for a call, wrong for a report)
    client = await store.find_client(number)
    if client is None:
        raise LookupError(f"no calls from {number} on record")
    return client


async def _numbers(store: Store, client_ids: Collection[int]) -> dict[int, str]:
    # A handful of distinct callers per report: one small read each is simpler than a bespoke query.
    numbers = {}
    for client_id in sorted(client_ids):
        client = await store.get_client(client_id)
        if client is not None:
            numbers[client_id] = client.number
    return numbers


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


# --- text ------------------------------------------------------------------------------------------------------


def render_agent(report: AgentReport) -> str:
    a = report.agent
    status = "active" if a.active else "inactive (no longer on the roster)"
    lines = [
        f"Agent {a.id} {a.name}: {status}, {a.kind}, {a.interface}",
        f"Services: {_join(a.services)}; queues: {_join(a.queues)}",
        f"Rated by callers: {_announced(report.scores)}",
        f"Penalty in shared queues: {report.penalty} (0 rings first, {report.scores.policy.penalty_max} last)",
        "",
        *_score_table(report.scores),
        "",
        "Recent evaluations from callers (newest first):",
        *_evaluation_table(report.recent, report.scores, "CALLER", lambda e: _number(e.caller)),
        "",
        f"Ratings owed: answered calls of the last {report.owed_days} days where this agent has not rated the caller:",
        *_owed_table(report.owed),
    ]
    return "\n".join(lines)


def render_client(report: ClientReport) -> str:
    p = report.scores.policy
    lines = [
        f"Caller {report.client.number} (client {report.client.id})",
        f"Rated by agents: {_announced(report.scores)}",
        f"Queue priority (QUEUE_PRIO): {report.priority} ({p.priority_min}-{p.priority_max}, "
        f"{p.priority_neutral} for new callers; higher is answered first)",
        "",
        *_score_table(report.scores),
        "",
        "Recent evaluations from agents (newest first):",
        *_evaluation_table(report.recent, report.scores, "AGENT", lambda e: e.agent_id),
        "",
        f"Ratings owed: answered calls since {_when(report.owed_since)} this caller has not rated:",
        *_owed_table(report.owed),
    ]
    return "\n".join(lines)


def render_calls(rows: Sequence[CallRow]) -> str:
    if not rows:
        return "no calls"
    header = ["CALL", "STARTED (UTC)", "CALLER", "SERVICE", "QUEUE", "AGENT", "OUTCOME", "HOLD s", "TALK s"]
    header += ["CALLER RATED", "AGENT RATED"]
    body = [
        [
            r.uniqueid,
            _when(r.started_at),
            _number(r.caller),
            _text(r.service_id),
            _text(r.queue),
            _text(r.agent_id),
            r.outcome or "in progress",
            _text(r.hold_seconds),
            _text(r.talk_seconds),
            _text(r.caller_rated),
            _text(r.agent_rated),
        ]
        for r in rows
    ]
    return "\n".join(table(header, body, right={7, 8}))


def _announced(s: Scores) -> str:
    """What the IVR says about this party, and on how much it is based."""
    count = f"{s.evaluations} evaluation{'' if s.evaluations == 1 else 's'}"
    if s.is_new:
        return f"{count}; announced as new (fewer than {s.policy.min_ratings})"
    return f"{count}; announced as {_heard(s.overall.score)} overall"


def _score_table(s: Scores) -> list[str]:
    header = ["CATEGORY", "SCORE", "HEARD", "MEAN", "N"]
    body = [
        [line.label, f"{line.score:.2f}", _heard(line.score), _decimal(line.mean), str(line.n)]
        for line in (s.overall, *s.categories)
    ]
    note = (
        f"SCORE is shrunk toward {s.policy.prior_mean:g} with the weight of {s.policy.prior_weight:g} scores; "
        "HEARD is how the IVR says it; MEAN and N are the raw scores."
    )
    return [*table(header, body, right={1, 2, 3, 4}), note]


def _evaluation_table(
    rows: Sequence[EvaluationRow], s: Scores, who: str, by: Callable[[EvaluationRow], str]
) -> list[str]:
    if not rows:
        return ["  (none)"]
    ids = [c.id for c in s.categories]
    header = ["CALL", "DATE (UTC)", who, *(i.upper() for i in ids), "STATUS"]
    body = [
        [
            e.call_uniqueid,
            _when(e.at),
            by(e),
            *(_text(e.scores.get(i)) for i in ids),
            "deleted" if e.deleted else "live",
        ]
        for e in rows
    ]
    return table(header, body, right=set(range(3, 3 + len(ids))))


def _owed_table(calls: Sequence[Call]) -> list[str]:
    if not calls:
        return ["  (none)"]
    header = ["CALL", "ANSWERED (UTC)", "AGENT", "SERVICE"]
    # unrated_calls returns answered calls only, so answered_at is always set here
    body = [[c.uniqueid, _when(c.answered_at), _text(c.agent_id), _text(c.service_id)] for c in calls]
    return table(header, body)


def table(header: Sequence[str], body: Sequence[Sequence[str]], right: Collection[int] = ()) -> list[str]:
    """Columns two spaces apart, each as wide as its widest cell; numbers right-aligned."""
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded).rstrip()

    return [line(header), *(line(row) for row in body)]


def _when(moment: datetime | None) -> str:
    return MISSING if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _heard(value: float) -> str:
    whole, tenth = spoken_score(value)
    return f"{whole}.{tenth}"


def _decimal(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}"


def _number(number: str | None) -> str:
    return ANONYMOUS if number is None else number


def _text(value: object) -> str:
    return MISSING if value is None else str(value)


def _join(items: Sequence[str]) -> str:
    return ", ".join(items) if items else MISSING


# --- JSON ------------------------------------------------------------------------------------------------------


def to_data(report: AgentReport | ClientReport | Sequence[CallRow]) -> JsonObject:
    """The report as plain JSON values: ISO-8601 UTC times, scores rounded to 2 decimals, null for missing."""
    if isinstance(report, AgentReport):
        a = report.agent
        return {
            "agent": {
                "id": a.id,
                "name": a.name,
                "active": a.active,
                "kind": a.kind,
                "interface": a.interface,
                "services": list(a.services),
                "queues": list(a.queues),
            },
            **_scores_data(report.scores),
            "penalty": report.penalty,
            "recent": [_evaluation_data(e) for e in report.recent],
            "owed": [_owed_data(c) for c in report.owed],
        }
    if isinstance(report, ClientReport):
        return {
            "client": {"id": report.client.id, "number": report.client.number},
            **_scores_data(report.scores),
            "priority": report.priority,
            "recent": [_evaluation_data(e) for e in report.recent],
            "owed_since": _iso(report.owed_since),
            "owed": [_owed_data(c) for c in report.owed],
        }
    return {"calls": [_call_data(r) for r in report]}


def _owed_data(c: Call) -> JsonObject:
    return {"call": c.uniqueid, "answered_at": _iso(c.answered_at), "agent_id": c.agent_id, "service_id": c.service_id}


def to_json(report: AgentReport | ClientReport | Sequence[CallRow]) -> str:
    text: str = json.dumps(to_data(report), indent=2, ensure_ascii=False)
    return text


def _scores_data(s: Scores) -> JsonObject:
    return {
        "evaluations": s.evaluations,
        "is_new": s.is_new,
        "overall": _line_data(s.overall),
        "categories": [_line_data(line) for line in s.categories],
        "policy": {
            "prior_mean": s.policy.prior_mean,
            "prior_weight": s.policy.prior_weight,
            "min_ratings": s.policy.min_ratings,
        },
    }


def _line_data(line: ScoreLine) -> JsonObject:
    whole, tenth = spoken_score(line.score)
    return {
        "id": line.id,
        "label": line.label,
        "score": round(line.score, 2),
        "heard": round(whole + tenth / 10, 1),
        "mean": None if line.mean is None else round(line.mean, 2),
        "n": line.n,
    }


def _evaluation_data(e: EvaluationRow) -> JsonObject:
    return {
        "call": e.call_uniqueid,
        "at": _iso(e.at),
        "caller": e.caller,
        "agent_id": e.agent_id,
        "scores": dict(e.scores),
        "deleted": e.deleted,
    }


def _call_data(r: CallRow) -> JsonObject:
    return {
        "call": r.uniqueid,
        "started_at": _iso(r.started_at),
        "caller": r.caller,
        "service_id": r.service_id,
        "queue": r.queue,
        "agent_id": r.agent_id,
        "outcome": r.outcome,
        "hold_seconds": r.hold_seconds,
        "talk_seconds": r.talk_seconds,
        "caller_rated": r.caller_rated,
        "agent_rated": r.agent_rated,
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()
