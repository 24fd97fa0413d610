"""`callcenter evaluations history`: every change of an evaluation, newest first, for operators.

The audit trail records who made a change as an actor string (``client:<id>``, ``agent:<id>``,
``operator:<name>``, or a system name such as ``ivr``). Operators know callers by their phone number and agents by
id and name, never by the store's internal client ids, so the actors are resolved here. Gathering reads the store
(never writing); rendering and JSON are pure functions of the gathered rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from callcenter.domain.rules import rater_of, removed_by_operator
from callcenter.store import Direction, EvaluationChange, Store
from callcenter.store.models import AuditAction
from callcenter.usecases.lookups import find_client

WhoKind = Literal["caller", "agent", "operator", "system"]

MISSING: Final = "-"


@dataclass(frozen=True, slots=True)
class Who:
    """Who made a change, as an operator names them."""

    kind: WhoKind
    number: str | None = None  # a caller's phone number
    id: str | None = None  # an agent's id
    name: str | None = None  # an agent's or an operator's name, or the system part that acted

    def __str__(self) -> str:
        if self.kind == "caller":
            return f"caller {self.number}"
        if self.kind == "agent":
            return f"agent {self.id}" + (f" {self.name}" if self.name else "")
        if self.kind == "operator":
            return f"operator {self.name}"
        return str(self.name)


@dataclass(frozen=True, slots=True)
class HistoryRow:
    at: datetime
    call: str
    direction: Direction
    action: str  # "created", "changed", "deleted by the rater", "removed by an operator", "rated again"
    who: Who
    agent_id: str  # the call's agent
    agent_name: str | None
    caller: str | None  # the call's caller, by number
    old: Mapping[str, int] | None
    new: Mapping[str, int] | None
    reason: str | None


async def history(
    store: Store,
    *,
    call: str | None = None,
    agent_id: str | None = None,
    number: str | None = None,
    limit: int = 50,
) -> list[HistoryRow]:
    """The changes, newest first; LookupError for an unknown call, agent or number (a typo is not "no changes")."""
    if call is not None and await store.get_call(call) is None:
        raise LookupError(f"no call {call!r} on record (see `callcenter calls list`)")
    if agent_id is not None and await store.get_agent(agent_id) is None:
        raise LookupError(f"no agent {agent_id!r} (see `callcenter agents list`)")
    client_id = None if number is None else (await find_client(store, number)).id
    changes = await store.evaluation_changes(call_uniqueid=call, agent_id=agent_id, client_id=client_id, limit=limit)
    names = {a.id: a.name for a in await store.list_agents(active_only=False)}
    numbers = await _numbers(store, changes)
    return [_row(c, names, numbers) for c in changes]


async def _numbers(store: Store, changes: Sequence[EvaluationChange]) -> dict[int, str]:
    """The phone numbers of every client the changes name: as the call's caller or as the actor."""
    ids = {c.client_id for c in changes}
    for c in changes:
        rater = rater_of(c.entry.actor)
        if rater is not None and rater.kind == "client" and rater.id.isdigit():
            ids.add(int(rater.id))
    numbers = {}
    for client_id in sorted(ids):
        client = await store.get_client(client_id)
        if client is not None:
            numbers[client_id] = client.number
    return numbers


def _row(c: EvaluationChange, names: Mapping[str, str], numbers: Mapping[int, str]) -> HistoryRow:
    e = c.entry
    return HistoryRow(
        at=e.at,
        call=c.call_uniqueid,
        direction=c.direction,
        action=_action(e.action, e.actor),
        who=who(e.actor, c, names, numbers),
        agent_id=c.agent_id,
        agent_name=names.get(c.agent_id),
        caller=numbers.get(c.client_id),
        old=e.old_scores,
        new=e.new_scores,
        reason=e.reason,
    )


def _action(action: AuditAction, actor: str) -> str:
    if action == "delete":
        return "removed by an operator" if removed_by_operator(action, actor) else "deleted by the rater"
    return {"create": "created", "update": "changed", "revive": "rated again"}[action]


def who(actor: str, change: EvaluationChange, names: Mapping[str, str], numbers: Mapping[int, str]) -> Who:
    """The actor as an operator knows them."""
    rater = rater_of(actor)
    if rater is None:
        return Who("system", name=actor)
    if rater.kind == "agent":
        return Who("agent", id=rater.id, name=names.get(rater.id))
    if rater.kind == "operator":
        return Who("operator", name=rater.id)
    return Who("caller", number=_caller_number(rater.id, change, numbers))


def _caller_number(ref: str, change: EvaluationChange, numbers: Mapping[int, str]) -> str:
    # The phone menus record the client's internal id, older code and the demo seed the number; the rater of a
    # rating is its call's caller either way.
    caller = numbers.get(change.client_id)
    if caller is not None and ref in (str(change.client_id), caller):
        return caller
    if ref.isdigit() and int(ref) in numbers:
        return numbers[int(ref)]
    return ref
