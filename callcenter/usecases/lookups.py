"""Finding what an operator names on a command line (or a web console in a URL): a caller by number, the phone
numbers behind client ids. Read-only: a lookup never creates a client (``client_for_number`` does, for a call)."""

from __future__ import annotations

from collections.abc import Collection

from callcenter.domain.numbers import normalise_number
from callcenter.store import Client, Store


async def find_client(store: Store, raw: str) -> Client:
    number = normalise_number(raw)
    if number is None:
        raise LookupError(f"{raw!r} is not a phone number")
    # not client_for_number: that creates the client on first sight (right for a call, wrong for a report)
    client = await store.find_client(number)
    if client is None:
        raise LookupError(f"no calls from {number} on record")
    return client


async def client_numbers(store: Store, client_ids: Collection[int]) -> dict[int, str]:
    # A handful of distinct callers per report: one small read each is simpler than a bespoke query.
    numbers = {}
    for client_id in sorted(client_ids):
        client = await store.get_client(client_id)
        if client is not None:
            numbers[client_id] = client.number
    return numbers
