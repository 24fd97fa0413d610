"""Operators' view of evaluations: list them, remove an abusive one with a reason (soft delete, audited).

Callers are shown by their phone number, never by the store's internal client id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from callcenter.evaluation.rules import Rater, RatingRules, may_rate
from callcenter.reports import find_client, table
from callcenter.store import Direction, Evaluation, Store

DIRECTION_NAMES: Final[Mapping[str, Direction]] = {
    "caller-to-agent": "client_to_agent",
    "agent-to-caller": "agent_to_client",
}
DIRECTION_LABELS: Final[Mapping[Direction, str]] = {v: k for k, v in DIRECTION_NAMES.items()}


@dataclass(frozen=True, slots=True)
class ListedEvaluation:
    evaluation: Evaluation
    caller: str | None  # the caller's number (None only if the client row is missing)


async def list_evaluations(
    store: Store, *, agent_id: str | None, number: str | None, include_deleted: bool, limit: int
) -> list[ListedEvaluation]:
    client_id = (await find_client(store, number)).id if number else None
    found = await store.list_evaluations(agent_id, client_id, None, include_deleted, limit)
    numbers: dict[int, str] = {}
    for client in sorted({e.client_id for e in found}):
        known = await store.get_client(client)
        if known is not None:
            numbers[client] = known.number
    return [ListedEvaluation(e, numbers.get(e.client_id)) for e in found]


async def remove_evaluation(
    store: Store,
    call: str,
    direction: Direction,
    *,
    operator: str,
    reason: str,
    now: datetime,
    rules: RatingRules,
) -> Evaluation:
    """Soft-delete one evaluation; the reason and the operator go into its audit trail."""
    if not reason.strip():
        raise ValueError("a reason is required: it is kept in the audit trail")
    record = await store.get_call(call)
    if record is None:
        raise LookupError(f"no call {call!r} on record (see `callcenter calls list`)")
    refusal = may_rate(record, Rater("operator", operator), now, rules)
    if refusal is not None:
        raise LookupError(f"call {call} has no evaluation to remove ({refusal})")
    removed = await store.delete_evaluation(call, direction, f"operator:{operator}", reason.strip(), now)
    if removed is None:
        raise LookupError(f"call {call} has no {direction} evaluation")
    return removed


def render(rows: Sequence[ListedEvaluation]) -> str:
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


def to_json(rows: Sequence[ListedEvaluation]) -> str:
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
