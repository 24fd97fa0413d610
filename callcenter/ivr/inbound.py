"""The caller's IVR: identify → (remind of an unrated call) → choose a service → hear the agents → choose one →
wait in that agent's queue. Re-entered (CC_SERVICE set) after a decline or no-answer to choose again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import structlog

from callcenter.agi import AGISession
from callcenter.ami.queues import Presence
from callcenter.domain import naming
from callcenter.domain.policy import Candidate, caller_priority, choose_queue, grade, rank
from callcenter.domain.rules import Rater, RatingRules, may_rate
from callcenter.domain.summaries import Scoring, ratings
from callcenter.ivr import speech
from callcenter.ivr.ask import Asking, ask, say
from callcenter.ivr.caller_ratings import CallerRatings, Unlock
from callcenter.ivr.queueing import excluded_agents
from callcenter.ivr.rating import RatingDialogue
from callcenter.journal import Recorder
from callcenter.store import Client
from callcenter.store.api import CallStore, RatingStore, RosterStore
from callcenter.store.models import CLIENT_TO_AGENT
from callcenter.usecases.ports import Clock

log = structlog.get_logger(__name__)

# main menu key for "review or change your ratings"; the reminder of an unrated call offers it as 2
MANAGE_KEY = "9"
MANAGE = "2"
REFUSED = "refused"
# a stuck key (or a caller playing with * and 8) must not keep the call in the menu forever
MAX_MENU_ROUNDS = 12


@dataclass(frozen=True, slots=True)
class Choice:
    queue: str
    agent_id: str | None  # None: the service's shared queue (first available)
    # a free agent rings once and hands back (the caller then chooses again); a busy favourite is waited for
    ring_once: bool = True


class InboundStore(CallStore, RosterStore, RatingStore, Protocol):
    """The caller, their owed ratings and reputation; the service's agents and theirs."""


@dataclass(frozen=True, slots=True)
class Menus:
    """What the caller's menus offer: the services (keys 1-8) and how many agents per page."""

    services: tuple[str, ...]
    offer_count: int
    # a caller who left an answered call unrated is reminded of it on calls within this many days
    remind_days: int


class InboundFlow:
    def __init__(
        self,
        *,
        store: InboundStore,
        writes: Recorder,
        presence: Callable[[], Presence],
        menus: Menus,
        scoring: Scoring,
        asking: Asking,
        dialogue: RatingDialogue,
        caller_ratings: CallerRatings,
        rules: RatingRules,
        clock: Clock,
    ) -> None:
        self.store = store
        self.writes = writes
        self.presence = presence
        self.menus = menus
        self.scoring = scoring
        self.asking = asking
        self.dialogue = dialogue
        self.caller_ratings = caller_ratings
        self.rules = rules
        self.clock = clock

    async def __call__(self, session: AGISession) -> None:
        d = self
        call = session.env.uniqueid
        service = await session.get_variable(naming.SERVICE)
        if service:
            # choosing again (after a decline or no answer): the caller is the one the call row names
            record = await d.store.get_call(call)
            client = await d.store.get_client(record.client_id) if record and record.client_id else None
        else:
            linkedid = await session.get_variable("CHANNEL(linkedid)") or call
            client, _ = await d.writes.start_call(call, linkedid, session.env.callerid, d.clock())
            log.info("call_started", caller=client.number if client else "anonymous")
            await say(session, ["cc/welcome"])
            reminded = await self.remind_unrated(session, client) if client is not None else None
            if reminded == REFUSED:
                await session.set_variable(naming.RESULT, naming.RESULT_DONE)
                return
            service = await self.main_menu(session, client, manage_first=reminded == MANAGE)
            if service is None:  # the ratings menu refused the PIN: the goodbye was said
                await session.set_variable(naming.RESULT, naming.RESULT_DONE)
                return
            await d.writes.set_call_service(call, service, d.clock())
            await session.set_variable(naming.SERVICE, service)
        excluded = await excluded_agents(session)
        choice = await self.choose(session, service, excluded)
        if choice is None:
            await session.set_variable(naming.LAST_OUTCOME, "failed")
            await say(session, ["cc/no-agents", "cc/goodbye"])
            await session.set_variable(naming.RESULT, naming.RESULT_DONE)
            return
        await self.enqueue(session, client, choice)

    async def remind_unrated(self, session: AGISession, client: Client) -> str | None:
        """The caller left a call before rating it: offer to rate it now (the seed's "request to rate"), or to
        manage all their ratings (returns MANAGE); REFUSED: a wrong PIN, the call ends."""
        d = self
        since = d.clock() - timedelta(days=d.menus.remind_days)
        pending = await d.store.unrated_calls(CLIENT_TO_AGENT, since=since, client_id=client.id, limit=5)
        rater = Rater("client", str(client.id))
        # only calls the rules still allow rating (talk time, edit window): never nag about one that cannot be
        owed = next((c for c in pending if may_rate(c, rater, d.clock(), d.rules) is None), None)
        if owed is None or owed.agent_id is None:
            return None
        agent_name = speech.agent_name(owed.agent_id)
        key = await ask(
            session,
            ["cc/unrated-call", agent_name, "cc/rate-now"],
            lambda _: True,
            Asking(d.asking.timeout, 1),
            step="remind_unrated",
        )
        if key == "1":
            # a PIN set to protect this caller's ratings protects this one too (a spoofed number must not add it)
            unlocked = await d.caller_ratings.unlock(session, client, offer=False)
            if unlocked is Unlock.REFUSED:
                return REFUSED
            if unlocked is Unlock.NOT_SET:
                return None
            await d.dialogue.rate(
                session,
                call=owed.uniqueid,
                direction=CLIENT_TO_AGENT,
                rater=rater,
                subject=[agent_name],
            )
        return key

    async def main_menu(self, session: AGISession, client: Client | None, *, manage_first: bool) -> str | None:
        """The service the caller wants; on the way, 9 manages their ratings. None: end the call (wrong PIN)."""
        services = self.menus.services
        if manage_first and not await self.caller_ratings.manage(session, client):
            return None
        keys = {str(i + 1): s for i, s in enumerate(services[:8])}
        # a withheld number has no ratings to manage: not offered
        manage = MANAGE_KEY if client is not None else None
        for _ in range(MAX_MENU_ROUNDS):
            key = await ask(
                session,
                speech.service_menu(list(keys.items()), manage_key=manage),
                lambda k: k in keys or (manage is not None and k == manage),
                self.asking,
                step="service",
            )
            if manage is None or key != manage:
                # no valid key after every try: the first service, the sane default
                return keys.get(key or "1", services[0])
            if not await self.caller_ratings.manage(session, client):
                return None
        return services[0]

    async def candidates(self, service: str, excluded: set[str]) -> tuple[list[Candidate], list[Candidate]]:
        """The agents of ``service`` free to take the call now, and those on a call (worth waiting for), scored."""
        d = self
        presence = d.presence()
        agents = [a for a in await d.store.list_agents(service) if a.id not in excluded]
        free = [a.id for a in agents if presence.offerable(a.id)]
        busy = [a.id for a in agents if presence.reachable(a.id) and not presence.offerable(a.id)]
        summaries = await d.store.agent_summaries(free + busy)
        last = await d.store.last_answered(free + busy)

        def scored(ids: list[str]) -> list[Candidate]:
            return [Candidate(i, d.scoring(summaries[i]), last[i].timestamp() if i in last else 0.0) for i in ids]

        return scored(free), scored(busy)

    async def anyone_on_duty(self, service: str) -> bool:
        presence = self.presence()
        return any(presence.reachable(a.id) for a in await self.store.list_agents(service))

    async def choose(self, session: AGISession, service: str, excluded: set[str]) -> Choice | None:
        d = self
        free, busy = await self.candidates(service, excluded)
        shared = Choice(naming.service_queue(service), None)
        if not free:
            log.info("no_agent_offerable", service=service, busy=len(busy))
            # every agent this caller chose declined or did not answer: they are still the service's agents,
            # and one of them may take the call from the shared queue; only with nobody on duty is it goodbye
            if not busy and not await self.anyone_on_duty(service):
                return None
            await say(session, ["cc/no-agents"])
            return shared
        showing_busy = False
        ranked_by: str | None = None
        ranking = rank(free)
        page = 0
        size = d.menus.offer_count
        for _ in range(MAX_MENU_ROUNDS):
            offers = [
                speech.Offer(str(i + 1), c.agent_id, c.score, grade(c.score.overall, c.score.count, d.scoring.policy))
                for i, c in enumerate(ranking[page * size :][:size])
            ]
            more = len(ranking) > size
            next_rank = _next_category(d.scoring.categories, ranked_by)
            files = speech.agent_menu(
                offers, d.scoring.categories, ranked_by, next_rank, more, busy=showing_busy, other_list=bool(busy)
            )
            allowed = (
                {o.key for o in offers} | {"0", "*", "8"} | ({"9"} if more else set()) | ({"7"} if busy else set())
            )
            log.info(
                "agents_offered",
                agents=[o.agent_id for o in offers],
                ranked_by=ranked_by or "overall",
                busy=showing_busy,
            )
            key = await ask(session, files, allowed.__contains__, d.asking, step="agent")
            if key is None or key == "0":
                return shared
            if key == "*":
                continue
            if key == "9":
                page = page + 1 if (page + 1) * size < len(ranking) else 0
                continue
            if key in {"7", "8"}:
                if key == "7":  # the caller asks for a busy favourite (or back to the free agents)
                    showing_busy = not showing_busy
                else:
                    ranked_by = next_rank
                ranking = rank(busy if showing_busy else free, by=ranked_by)
                page = 0
                continue
            chosen = offers[int(key) - 1].agent_id
            return Choice(naming.agent_queue(chosen), chosen, ring_once=not showing_busy)
        return shared

    async def enqueue(self, session: AGISession, client: Client | None, choice: Choice) -> None:
        d = self
        policy = d.scoring.policy
        reputation = ratings(await d.store.client_summary(client.id)) if client else None
        priority = caller_priority(reputation, policy)
        if choice.agent_id:
            choice = Choice(choose_queue(choice.agent_id, priority, policy), choice.agent_id, choice.ring_once)
        # an agent's own queue rings once then hands back (n): the caller is offered someone else at once
        await session.set_variable(naming.QUEUE, choice.queue)
        await session.set_variable(naming.QUEUE_OPTS, "cn" if choice.agent_id and choice.ring_once else "c")
        await session.set_variable(naming.PRIO, str(priority))
        await session.set_variable(naming.CHOSEN, choice.agent_id or "")
        await session.set_variable(naming.LAST_OUTCOME, "")
        # the decision is the dialplan's from here: a route stopped during the sentence below (the service
        # shutting down) must not leave a caller who heard "connecting you" to the fallback
        await session.set_variable(naming.RESULT, naming.RESULT_QUEUE)
        if choice.agent_id:
            await say(session, ["cc/connecting", speech.agent_name(choice.agent_id), "cc/leave-queue"])
        else:
            await say(session, ["cc/shared-queue"])
        # hold time starts now, when Queue() is next, not before the sentence above
        await d.writes.call_queued(session.env.uniqueid, choice.queue, d.clock())
        log.info("caller_enqueued", queue=choice.queue, agent=choice.agent_id, priority=priority)


def _next_category(categories: tuple[str, ...], current: str | None) -> str | None:
    """8 cycles the ranking: overall → first category → ... → last category → overall."""
    if current is None:
        return categories[0] if categories else None
    index = categories.index(current) + 1
    return categories[index] if index < len(categories) else None
