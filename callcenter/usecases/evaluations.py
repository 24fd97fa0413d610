"""Operators' view of evaluations: list them (removing one is ``usecases/ratings.py``'s ``Ratings.remove``).

Callers are shown by their phone number, never by the store's internal client id.
"""

from __future__ import annotations

from dataclasses import dataclass

from callcenter.store import Evaluation, Store
from callcenter.usecases.lookups import client_numbers, find_client


@dataclass(frozen=True, slots=True)
class ListedEvaluation:
    evaluation: Evaluation
    caller: str | None  # the caller's number (None only if the client row is missing)


async def list_evaluations(
    store: Store, *, agent_id: str | None, number: str | None, include_deleted: bool, limit: int
) -> list[ListedEvaluation]:
    client_id = (await find_client(store, number)).id if number else None
    found = await store.list_evaluations(agent_id, client_id, None, include_deleted, limit)
    numbers = await client_numbers(store, {e.client_id for e in found})
    return [ListedEvaluation(e, numbers.get(e.client_id)) for e in found]
