"""`evaluations list|history|remove` and `clients reset-pin`: operators' commands on single evaluations and callers.

`evaluations remove` runs the same use case as the IVR's deletes (``usecases/ratings.py``: ``Ratings.remove``): the
rules once, the write, and the agent's new penalty pushed to Asterisk at once if it runs (``PenaltyPushOnce``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from callcenter.ami.queues import PenaltyPushOnce
from callcenter.app import ami_settings
from callcenter.cli.common import Invocation, as_served, changing, reading, table
from callcenter.cluster.bus import notify_once
from callcenter.config import ConfigError
from callcenter.domain.summaries import Scoring
from callcenter.store import Direction
from callcenter.usecases import evaluations, history
from callcenter.usecases.evaluations import ListedEvaluation
from callcenter.usecases.history import HistoryRow, Who
from callcenter.usecases.lookups import find_client
from callcenter.usecases.penalties import Penalties
from callcenter.usecases.ports import utcnow
from callcenter.usecases.ratings import DirectWrites, Ratings

DIRECTION_NAMES: Final[Mapping[str, Direction]] = {
    "caller-to-agent": "client_to_agent",
    "agent-to-caller": "agent_to_client",
}
DIRECTION_LABELS: Final[Mapping[Direction, str]] = {v: k for k, v in DIRECTION_NAMES.items()}
MISSING: Final = "-"


def add_commands(sub: Any) -> None:
    ev = sub.add_parser("evaluations", help="operators: list, trace or remove evaluations").add_subparsers(
        title="evaluations commands", metavar="COMMAND"
    )
    s = ev.add_parser("list", help="evaluations, newest first")
    s.add_argument("--agent", help="only calls served by this agent id")
    s.add_argument("--client", help="only calls from this caller number")
    s.add_argument("--deleted", action="store_true", help="include removed evaluations")
    s.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(handler=cmd_evaluations_list)
    s = ev.add_parser("history", help="every change of an evaluation (the audit trail), newest first")
    s.add_argument("--call", help="only this call's evaluations (its uniqueid, see `calls list`)")
    s.add_argument("--agent", help="only calls served by this agent id")
    s.add_argument("--client", help="only calls from this caller number")
    s.add_argument("--limit", type=int, default=50, help="how many changes (default 50)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(handler=cmd_evaluations_history)
    s = ev.add_parser("remove", help="remove one evaluation (e.g. abusive); kept in the audit trail")
    s.add_argument("--call", required=True, help="the call's uniqueid (see `calls list`)")
    s.add_argument("--direction", required=True, choices=sorted(DIRECTION_NAMES))
    s.add_argument("--reason", required=True, help="why: recorded in the audit trail")
    s.add_argument("--operator", default=os.environ.get("USER", "operator"), help="who (default $USER)")
    s.set_defaults(handler=cmd_evaluations_remove)


def add_clients_commands(sub: Any) -> None:
    clients = sub.add_parser("clients", help="callers").add_subparsers(title="clients commands", metavar="COMMAND")
    s = clients.add_parser("reset-pin", help="clear the PIN a caller protects their ratings with (they forgot it)")
    s.add_argument("number", help="the caller's number")
    s.set_defaults(handler=cmd_clients_reset_pin)


async def cmd_evaluations_list(run: Invocation) -> int:
    args = run.args
    async with await reading(run) as store:
        found = await evaluations.list_evaluations(
            store, agent_id=args.agent, number=args.client, include_deleted=args.deleted, limit=args.limit
        )
    print(listed_json(found) if args.json else listed_text(found))
    return 0


async def cmd_evaluations_history(run: Invocation) -> int:
    args = run.args
    if args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    async with await reading(run) as store:
        rows = await history.history(store, call=args.call, agent_id=args.agent, number=args.client, limit=args.limit)
    print(history_json(rows) if args.json else history_text(rows))
    return 0


async def cmd_evaluations_remove(run: Invocation) -> int:
    args = run.args
    direction = DIRECTION_NAMES[args.direction]
    if not args.reason.strip():
        raise ConfigError("--reason must say why: it is kept in the audit trail")
    async with await changing(run) as store:
        config = await as_served(store, run.config)
        # the penalty the service would compute, pushed by this process's own short AMI login (see there why)
        penalties = Penalties(store, Scoring(tuple(c.id for c in config.categories), config.policy))
        push = PenaltyPushOnce(ami_settings(config), run.agents, penalties)
        ratings = Ratings(store, DirectWrites(store), push, config.rules, utcnow)
        removed = await ratings.remove(args.call, direction, operator=args.operator, reason=args.reason)
    assert removed is not None  # DirectWrites never journals
    if config.cluster.enabled:
        # this node's service hears the push's user event; the other nodes hear the store (LISTEN/NOTIFY)
        await notify_once(config.store.url, config.asterisk.instance, "rated", removed.agent_id)
    print(f"removed evaluation #{removed.id} of call {removed.call_uniqueid} ({args.direction}); audit trail kept")
    for queue, agent, penalty in push.pushed:
        print(f"agent {agent}'s penalty in {queue} is now {penalty}")
    return 0


async def cmd_clients_reset_pin(run: Invocation) -> int:
    async with await changing(run) as store:
        try:
            client = await find_client(store, run.args.number)
        except LookupError as exc:
            raise ConfigError(str(exc)) from None
        await store.set_client_pin(client.id, None, datetime.now(UTC))
    print(f"PIN of {client.number} cleared: they are offered a new one the next time they manage their ratings")
    return 0


# --- evaluations list -----------------------------------------------------------------------------------------


def listed_text(rows: Sequence[ListedEvaluation]) -> str:
    if not rows:
        return "no evaluations"
    header = ["CALL", "DIRECTION", "AGENT", "CALLER", "UPDATED (UTC)", "STATUS", "SCORES"]
    body = [
        [
            r.evaluation.call_uniqueid,
            DIRECTION_LABELS[r.evaluation.direction],
            r.evaluation.agent_id,
            r.caller or "-",
            r.evaluation.updated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "deleted" if r.evaluation.deleted else "live",
            " ".join(f"{k}={v}" for k, v in r.evaluation.scores.items()),
        ]
        for r in rows
    ]
    return "\n".join(table(header, body))


def listed_json(rows: Sequence[ListedEvaluation]) -> str:
    return json.dumps(
        [
            {
                "id": r.evaluation.id,
                "call": r.evaluation.call_uniqueid,
                "direction": r.evaluation.direction,
                "agent": r.evaluation.agent_id,
                "caller": r.caller,
                "scores": dict(r.evaluation.scores),
                "created_at": r.evaluation.created_at.isoformat(),
                "updated_at": r.evaluation.updated_at.isoformat(),
                "deleted_at": r.evaluation.deleted_at.isoformat() if r.evaluation.deleted_at else None,
            }
            for r in rows
        ],
        indent=2,
    )


# --- evaluations history ------------------------------------------------------------------------------------


def history_text(rows: Sequence[HistoryRow]) -> str:
    if not rows:
        return "no changes"
    header = ["WHEN (UTC)", "CALL", "RATING", "ACTION", "BY", "OLD SCORES", "NEW SCORES", "REASON"]
    body = [
        [
            r.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            r.call,
            _rating(r),
            r.action,
            str(r.who),
            _scores(r.old),
            _scores(r.new),
            r.reason or MISSING,
        ]
        for r in rows
    ]
    return "\n".join(table(header, body))


def _rating(r: HistoryRow) -> str:
    """Who rated whom on that call, in the operator's terms."""
    agent = f"agent {r.agent_id}" + (f" {r.agent_name}" if r.agent_name else "")
    caller = f"caller {r.caller or MISSING}"
    return f"{caller} rated {agent}" if r.direction == "client_to_agent" else f"{agent} rated {caller}"


def _scores(scores: Mapping[str, int] | None) -> str:
    return MISSING if scores is None else " ".join(f"{k}={v}" for k, v in scores.items())


# --- JSON ------------------------------------------------------------------------------------------------------


def history_data(rows: Sequence[HistoryRow]) -> list[dict[str, Any]]:
    return [
        {
            "at": r.at.astimezone(UTC).isoformat(),
            "call": r.call,
            "direction": r.direction,
            "agent": {"id": r.agent_id, "name": r.agent_name},
            "caller": r.caller,
            "action": r.action,
            "by": _who_data(r.who),
            "old_scores": None if r.old is None else dict(r.old),
            "new_scores": None if r.new is None else dict(r.new),
            "reason": r.reason,
        }
        for r in rows
    ]


def _who_data(w: Who) -> dict[str, Any]:
    if w.kind == "caller":
        return {"kind": "caller", "number": w.number}
    if w.kind == "agent":
        return {"kind": "agent", "id": w.id, "name": w.name}
    return {"kind": w.kind, "name": w.name}


def history_json(rows: Sequence[HistoryRow]) -> str:
    return json.dumps(history_data(rows), indent=2, ensure_ascii=False)
