"""A caller manages their ratings of agents: PIN (checked, or offered / required on first use), then the review
list of the agents who served them. Reached from the main menu (9) or from the unrated-call reminder (2)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol

import structlog

from callcenter.agi import AGISession
from callcenter.config import SelfServiceConfig
from callcenter.domain.pins import check_client_pin
from callcenter.domain.rules import Rater
from callcenter.ivr import speech
from callcenter.ivr.ask import Asking, announce, ask, say
from callcenter.ivr.pin_entry import PinCheck, PinEntry
from callcenter.ivr.review import Review, Reviewer
from callcenter.store import Call, Client
from callcenter.store.api import CallStore, PresenceStore
from callcenter.store.models import CLIENT_TO_AGENT
from callcenter.usecases.ports import Clock

log = structlog.get_logger(__name__)


class Unlock(enum.Enum):
    OPEN = "open"  # PIN right, or none set and none required
    REFUSED = "refused"  # wrong PIN three times, or locked out after many: the call ends (the goodbye is said)
    NOT_SET = "not_set"  # a PIN is required and the caller did not choose one: back to the main menu


class CallerStore(CallStore, PresenceStore, Protocol):
    """The caller's served calls and their PIN."""


class WebCodes(Protocol):
    """Issues the one-time code a caller signs in to the web with (``usecases/sign_in.SignIn``)."""

    async def issue_code(self, client_id: int) -> str: ...


class CallerRatings:
    def __init__(
        self,
        *,
        store: CallerStore,
        pins: PinEntry,
        review: Review,
        asking: Asking,
        selfservice: SelfServiceConfig,
        clock: Clock,
        codes: WebCodes | None = None,
    ) -> None:
        """``codes``: the web console's sign-in codes, None when there is no console ([web] enabled = false)."""
        self.store = store
        self.pins = pins
        self.review = review
        self.asking = asking
        self.selfservice = selfservice
        self.clock = clock
        self.codes = codes

    async def manage(self, session: AGISession, client: Client | None) -> bool:
        """Run the caller's ratings menu; False if the call must end now (wrong PIN)."""
        if client is None:
            log.info("manage_ratings_refused", reason="anonymous")
            await say(session, ["cc/anonymous-no-ratings"])
            return True
        unlocked = await self.unlock(session, client)
        if unlocked is Unlock.REFUSED:
            return False
        if unlocked is Unlock.OPEN:
            await self.review(session, self.reviewer(client))
        return True

    async def web_code(self, session: AGISession, client: Client | None) -> bool:
        """Read the caller a one-time code for the web, after the phone's own checks (their PIN, if they set one:
        a code must not be easier to get than the phone's menu); False if the call must end now (wrong PIN)."""
        if self.codes is None:
            return True
        if client is None:
            await say(session, ["cc/anonymous-no-ratings"])
            return True
        unlocked = await self.unlock(session, client, offer=False)
        if unlocked is Unlock.REFUSED:
            return False
        if unlocked is Unlock.NOT_SET:
            return True
        try:
            code = await self.codes.issue_code(client.id)
        except Exception:  # the store cannot take it now: the caller hears so, and the call goes on
            log.exception("web_code_failed", client=client.id)
            await say(session, ["cc/web-code-failed"])
            return True
        # the digits are spoken, never logged (they sign in whoever has them for ten minutes)
        await say(session, speech.web_code(code))
        return True

    async def unlock(self, session: AGISession, client: Client, *, offer: bool = True) -> Unlock:
        """Check the caller's PIN, or have them choose one when it is required; ``offer``: offer one when optional.

        REFUSED has said its goodbye."""
        stored, _ = await self.store.client_pin(client.id)
        if stored is not None:
            checked = await self.pins.verify_pin(
                session, "cc/enter-pin", lambda pin: check_client_pin(pin, stored), subject=f"client:{client.id}"
            )
            if checked is PinCheck.OK:
                return Unlock.OPEN
            await announce(session, ["cc/pin-goodbye" if checked is PinCheck.WRONG else "cc/goodbye"])
            return Unlock.REFUSED
        if self.selfservice.caller_pin == "required":
            await announce(session, ["cc/pin-required"])
            return Unlock.OPEN if await self._set_pin(session, client) else Unlock.NOT_SET
        if not offer:
            return Unlock.OPEN
        # optional: offered, and any answer but 1 (or none) goes on without one
        key = await ask(session, ["cc/offer-pin"], lambda _: True, Asking(self.asking.timeout, 1), step="offer_pin")
        if key == "1":
            await self._set_pin(session, client)
        return Unlock.OPEN

    async def _set_pin(self, session: AGISession, client: Client) -> bool:
        pin_hash = await self.pins.choose_pin(session)
        if pin_hash is None:
            return False
        await self.store.set_client_pin(client.id, pin_hash, self.clock())
        log.info("client_pin_set", client=client.id)
        await announce(session, ["cc/pin-saved"])
        return True

    def reviewer(self, client: Client) -> Reviewer:
        async def calls(limit: int) -> list[Call]:
            return await self.store.served_calls(client_id=client.id, limit=limit)

        async def party(call: Call) -> Sequence[str]:
            return [speech.agent_name(call.agent_id or "")]

        return Reviewer(Rater("client", str(client.id)), CLIENT_TO_AGENT, calls, party)
