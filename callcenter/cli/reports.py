"""`ratings show`, `policy explain`, `calls list`: the operators' read-outs, as text tables or JSON.

The numbers are gathered by the use cases (``callcenter/usecases/reports.py``, ``explain.py``); this module only
shows them: text and JSON are pure functions of the gathered dataclasses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from callcenter.cli.common import Invocation, as_served, reading, table
from callcenter.config import ConfigError
from callcenter.domain.policy import spoken_score
from callcenter.store import Call
from callcenter.usecases import explain, reports
from callcenter.usecases.reports import AgentReport, CallRow, ClientReport, EvaluationRow, ScoreLine, Scores

MISSING: Final = "-"
ANONYMOUS: Final = "anonymous"
JsonObject = dict[str, Any]


def add_commands(sub: Any) -> None:
    ratings = sub.add_parser("ratings", help="scores as the IVR uses them").add_subparsers(
        title="ratings commands", metavar="COMMAND"
    )
    s = ratings.add_parser("show", help="an agent's or a caller's scores, recent evaluations, penalty/priority")
    who = s.add_mutually_exclusive_group(required=True)
    who.add_argument("--agent", help="agent id")
    who.add_argument("--client", help="caller number")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(handler=cmd_ratings_show)


def add_policy_and_calls_commands(sub: Any) -> None:
    policy = sub.add_parser("policy", help="the rating policy").add_subparsers(
        title="policy commands", metavar="COMMAND"
    )
    s = policy.add_parser("explain", help="the numbers behind routing: scores, penalty, priority, queue choice")
    who = s.add_mutually_exclusive_group(required=True)
    who.add_argument("--agent", help="agent id")
    who.add_argument("--client", help="caller number")
    s.set_defaults(handler=cmd_policy_explain)

    calls = sub.add_parser("calls", help="recorded calls").add_subparsers(title="calls commands", metavar="COMMAND")
    s = calls.add_parser("list", help="recent calls with outcome, hold/talk seconds and who rated")
    s.add_argument("--agent", help="only calls served by this agent id")
    s.add_argument("--client", help="only calls from this caller number")
    s.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(handler=cmd_calls_list)


async def cmd_ratings_show(run: Invocation) -> int:
    args = run.args
    async with await reading(run) as store:
        config = await as_served(store, run.config)
        if args.agent:
            agent = await reports.agent_report(
                store, args.agent, config.categories, config.policy, owed_days=config.journey.remind_days
            )
            print(to_json(agent) if args.json else render_agent(agent))
        else:
            client = await reports.client_report(
                store,
                args.client,
                config.categories,
                config.policy,
                now=datetime.now(UTC),
                owed_days=config.journey.remind_days,
            )
            print(to_json(client) if args.json else render_client(client))
    return 0


async def cmd_policy_explain(run: Invocation) -> int:
    async with await reading(run) as store:
        config = await as_served(store, run.config)
        if run.args.agent:
            lines = await explain.explain_agent(store, run.args.agent, config)
        else:
            lines = await explain.explain_client(store, run.args.client, config)
    print("\n".join(lines))
    return 0


async def cmd_calls_list(run: Invocation) -> int:
    args = run.args
    if args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    async with await reading(run) as store:
        rows = await reports.calls_report(store, agent_id=args.agent, number=args.client, limit=args.limit)
    print(to_json(rows) if args.json else render_calls(rows))
    return 0


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
