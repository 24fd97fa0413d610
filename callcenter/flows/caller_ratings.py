"""A caller manages their ratings of agents: PIN (checked, or offered / required on first use), then the review
list of the agents who served them. Reached from the main menu (9) or from the unrated-call reminder (2)."""

from __future__ import annotations

import enum
from collections.abc import Sequence

import structlog

from callcenter.agi import AGISession
from callcenter.evaluation.rules import Rater
from callcenter.flows import speech
from callcenter.flows.ask import Asking, announce, ask, say
from callcenter.flows.deps import FlowDeps
from callcenter.flows.pin_entry import PinCheck, choose_pin, verify_pin
from callcenter.flows.review import Reviewer, review
from callcenter.pins import check_client_pin
from callcenter.store import Call, Client
from callcenter.store.models import CLIENT_TO_AGENT

log = structlog.get_logger(__name__)


class Unlock(enum.Enum):
    OPEN = "open"  # PIN right, or none set and none required
    REFUSED = "refused"  # wrong PIN three times, or locked out after many: the call ends (the goodbye is said)
    NOT_SET = "not_set"  # a PIN is required and the caller did not choose one: back to the main menu


async def manage_ratings(session: AGISession, deps: FlowDeps, client: Client | None) -> bool:
    """Run the caller's ratings menu; False if the call must end now (wrong PIN)."""
    if client is None:
        log.info("manage_ratings_refused", reason="anonymous")
        await say(session, ["cc/anonymous-no-ratings"])
        return True
    unlocked = await unlock(session, deps, client)
    if unlocked is Unlock.REFUSED:
        return False
    if unlocked is Unlock.OPEN:
        await review(session, deps, caller_reviewer(deps, client))
    return True


async def unlock(session: AGISession, deps: FlowDeps, client: Client, *, offer: bool = True) -> Unlock:
    """Check the caller's PIN, or have them choose one when it is required; ``offer``: offer one when optional.

    REFUSED has said its goodbye."""
    d = deps
    stored, _ = await d.store.client_pin(client.id)
    if stored is not None:
        checked = await verify_pin(
            session, d, "cc/enter-pin", lambda pin: check_client_pin(pin, stored), subject=f"client:{client.id}"
        )
        if checked is PinCheck.OK:
            return Unlock.OPEN
        await announce(session, ["cc/pin-goodbye" if checked is PinCheck.WRONG else "cc/goodbye"])
        return Unlock.REFUSED
    if d.selfservice.caller_pin == "required":
        await announce(session, ["cc/pin-required"])
        return Unlock.OPEN if await _set_pin(session, d, client) else Unlock.NOT_SET
    if not offer:
        return Unlock.OPEN
    # optional: offered, and any answer but 1 (or none) goes on without one
    key = await ask(session, ["cc/offer-pin"], lambda _: True, Asking(d.asking.timeout, 1), step="offer_pin")
    if key == "1":
        await _set_pin(session, d, client)
    return Unlock.OPEN


async def _set_pin(session: AGISession, deps: FlowDeps, client: Client) -> bool:
    pin_hash = await choose_pin(session, deps)
    if pin_hash is None:
        return False
    await deps.store.set_client_pin(client.id, pin_hash, deps.clock())
    log.info("client_pin_set", client=client.id)
    await announce(session, ["cc/pin-saved"])
    return True


def caller_reviewer(deps: FlowDeps, client: Client) -> Reviewer:
    async def calls(limit: int) -> list[Call]:
        return await deps.store.served_calls(client_id=client.id, limit=limit)

    async def party(call: Call) -> Sequence[str]:
        return [speech.agent_name(call.agent_id or "")]

    return Reviewer(Rater("client", str(client.id)), CLIENT_TO_AGENT, calls, party)
