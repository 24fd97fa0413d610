"""The caller's IVR: identify → (remind of an unrated call) → choose a service → hear the agents → choose one →
wait in that agent's queue. Re-entered (CC_SERVICE set) after a decline or no-answer to choose again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from typing import Protocol

import structlog

from callcenter.agi import AGISession
from callcenter.domain import naming
from callcenter.domain.policy import Candidate, caller_priority, choose_queue, grade
from callcenter.domain.ranking import Group
from callcenter.domain.rules import Rater, RatingRules, may_rate
from callcenter.domain.summaries import Scoring, ratings
from callcenter.domain.waits import AgentLoad, QueueLimits, offering
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
WEB_KEY = "*"  # a one-time code for the web console (1..8 are services, 9 the ratings menu)
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
    # a busy favourite's queue as the caller chose it: their wait is said before Queue()
    load: AgentLoad | None = None


class AgentQueues(Protocol):
    """The agents' own queues as offers see them (``ami.queues.QueueSync``): from memory, never asking Asterisk."""

    def load(self, agent_id: str) -> AgentLoad | None:
        """Free now, or who waits and how long; None: not reachable (logged out, paused, phone unavailable)."""
        ...

    def take(self, agent_id: str, caller: str) -> None:
        """``caller`` is being put in the agent's own queue: count them before Asterisk says so."""
        ...

    def refresh(self) -> None:
        """Before a page is built: reservations never confirmed in time stop counting (their agents file again)."""
        ...


class AgentRanking(Protocol):
    """Each service's agents in rank order, kept in memory (``usecases.rankings.Rankings``), per group."""

    def walk(self, service: str, by: str | None, group: Group) -> Iterator[Candidate]:
        """The agents of ``service`` in ``group``, best first by ``by`` (None: overall), one at a time."""
        ...

    def reachable(self, service: str) -> bool:
        """Some agent of ``service`` is free or busy (on duty), whether this caller refused them or not."""
        ...


# agents passed over in a row (full, excluded, moved) before an offer's walk gives up on its list: bounds what one
# page reads when every queue is full, so the menu's cost never grows with the roster
MAX_SKIPPED = 64


class InboundStore(CallStore, RosterStore, RatingStore, Protocol):
    """The caller, their owed ratings and reputation; the service's agents and theirs."""


@dataclass(frozen=True, slots=True)
class Menus:
    """What the caller's menus offer: the services (keys 1-8) and how many agents per page."""

    services: tuple[str, ...]
    offer_count: int
    # a caller who left an answered call unrated is reminded of it on calls within this many days
    remind_days: int
    # when an agent's own queue is too full to offer ([journey] max_waiting, max_wait_seconds)
    limits: QueueLimits = field(default_factory=QueueLimits)


class InboundFlow:
    def __init__(
        self,
        *,
        store: InboundStore,
        writes: Recorder,
        queues: AgentQueues,
        ranking: AgentRanking,
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
        self.queues = queues
        self.ranking = ranking
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
        # a withheld number has no ratings to manage, nor a web page to sign in to: neither is offered
        manage = MANAGE_KEY if client is not None else None
        web = WEB_KEY if client is not None and self.caller_ratings.codes is not None else None
        for _ in range(MAX_MENU_ROUNDS):
            key = await ask(
                session,
                speech.service_menu(list(keys.items()), manage_key=manage, web_key=web),
                lambda k: k in keys or k in {manage, web} - {None},
                self.asking,
                step="service",
                reprompt=speech.service_reprompt(services[0]),
            )
            if key is not None and key == web:
                if not await self.caller_ratings.web_code(session, client):
                    return None
                continue
            if manage is None or key != manage:
                # no valid key after every try: the first service, the sane default
                return keys.get(key or "1", services[0])
            if not await self.caller_ratings.manage(session, client):
                return None
        return services[0]

    def offered(self, service: str, by: str | None, group: Group, excluded: set[str]) -> Iterator[Offered]:
        """The agents of ``service`` free to take the call now (``group`` "free"), or worth waiting for ("busy": on
        a call, or with callers waiting, but not full), best first by ``by``, each with their load as the queue
        state says it this moment; lazily, so a page reads only the agents it says (and the next one)."""
        want = "free" if group == "free" else "wait"
        skipped = 0
        for candidate in self.ranking.walk(service, by, group):
            if skipped >= MAX_SKIPPED:
                # a full queue stays in the busy list (fullness is not kept as a group): at peak, with every queue
                # full, the walk would read the whole roster on every page; the caller gets "first available"
                log.info("offer_walk_cut", service=service, group=group, skipped=skipped)
                return
            if candidate.agent_id in excluded:
                skipped += 1
                continue
            load = self.queues.load(candidate.agent_id)
            how = offering(load, self.menus.limits)
            if how == "full" and load is not None:
                log.debug("agent_queue_full", agent=candidate.agent_id, waiting=load.waiting, wait=load.wait_seconds)
                skipped += 1
                continue
            if load is None or how != want:
                skipped += 1
                continue  # moved since it was filed: the queue sync files it again, in the other list
            skipped = 0
            yield Offered(candidate, load)

    async def choose(self, session: AGISession, service: str, excluded: set[str]) -> Choice | None:
        d = self
        shared = Choice(naming.service_queue(service), None)
        want_busy = details = False
        ranked_by: str | None = None
        page = 0
        size = d.menus.offer_count
        for _ in range(MAX_MENU_ROUNDS):
            # the queue state moves while the caller listens: each page is built from it afresh, from the kept
            # ranking's top (usecases/rankings.py), never from the whole roster
            d.queues.refresh()
            free = self.offered(service, ranked_by, "free", excluded)
            busy = self.offered(service, ranked_by, "busy", excluded)
            first_free, first_busy = next(free, None), next(busy, None)
            if first_free is None and first_busy is None:
                log.info("no_agent_offerable", service=service, excluded=len(excluded))
                # every agent this caller chose declined or did not answer, or every queue is full: they are still
                # the service's agents, and one of them may take the call from the shared queue; only with nobody
                # on duty is it goodbye
                if not d.ranking.reachable(service):
                    return None
                await say(session, ["cc/no-agents"])
                return shared
            showing_busy = (want_busy and first_busy is not None) or first_free is None
            first, rest = (first_busy, busy) if showing_busy else (first_free, free)
            assert first is not None
            # this page and one more agent: whether a next page exists (9) is all the menu asks of the rest
            listing = [first, *islice(rest, (page + 1) * size)]
            loads = {o.candidate.agent_id: o.load for o in listing}
            ranking = [o.candidate for o in listing]
            if page * size >= len(ranking):
                page = 0
            offers = [
                speech.Offer(
                    str(i + 1),
                    c.agent_id,
                    c.score,
                    grade(c.score.overall, c.score.count, d.scoring.policy),
                    loads[c.agent_id],
                )
                for i, c in enumerate(ranking[page * size :][:size])
            ]
            other_list = (first_free if showing_busy else first_busy) is not None
            next_rank = _next_category(d.scoring.categories, ranked_by)
            menu = speech.MenuPage(
                offers,
                d.scoring.categories,
                ranked_by=ranked_by,
                next_rank=next_rank,
                more=len(ranking) > size,
                busy=showing_busy,
                other_list=other_list,
                details=details,
                nobody_free=first_free is None,
            )
            allowed = (
                {o.key for o in offers}
                | {"0", "*", "8", "#"}
                | ({"9"} if menu.more else set())
                | ({"7"} if other_list else set())
            )
            log.info(
                "agents_offered",
                agents=[o.agent_id for o in offers],
                waits=[round(o.load.wait_seconds) if o.load else 0 for o in offers],
                ranked_by=ranked_by or "overall",
                busy=showing_busy,
                details=details,
            )
            key = await ask(
                session,
                speech.agent_menu(menu),
                allowed.__contains__,
                d.asking,
                step="agent",
                reprompt=speech.AGENT_REPROMPT,
            )
            if key is None or key == "0":
                return shared
            if key == "*":
                continue
            if key == "#":  # each agent's scores by category, and back to the short list
                details = not details
                continue
            if key == "9":
                page = page + 1 if (page + 1) * size < len(ranking) else 0
                continue
            if key == "7":  # the caller asks for the agents with a wait (or back to the free ones)
                want_busy = not showing_busy
                page = 0
                continue
            if key == "8":
                # the short list in the new order, each agent said with that category's score (# for all of them)
                ranked_by = next_rank
                page = 0
                details = False
                continue
            choice = await self.take(session, offers[int(key) - 1].agent_id, from_busy=showing_busy)
            if choice is not None:
                return choice
        return shared

    async def take(self, session: AGISession, chosen: str, *, from_busy: bool) -> Choice | None:
        """The caller pressed ``chosen``'s key: their choice, counted in the agent's queue at once; None (and told
        why) when it is no longer what the menu said, and the caller chooses again.

        They chose from what they heard seconds ago: another caller may have taken this agent since, or filled
        their queue. Nobody is sent to wait where the menu promised no wait, nor into a full queue.
        """
        d = self
        now = d.queues.load(chosen)
        how = offering(now, d.menus.limits)
        if now is None or how not in ({"free", "wait"} if from_busy else {"free"}):
            log.info("agent_taken_meanwhile", agent=chosen, now=how, busy=from_busy)
            notice = "cc/queue-full" if how == "full" else "cc/not-free-now"
            await say(session, [speech.agent_name(chosen), notice])
            return None
        # no await between the check above and this: the next caller's offer already sees this agent taken,
        # before Asterisk's QueueCallerJoin, however many callers pressed a key at the same moment
        d.queues.take(chosen, session.env.uniqueid)
        # a free agent rings once and hands back on a decline; for a busy one the caller waits their turn
        return Choice(naming.agent_queue(chosen), chosen, ring_once=now.free, load=None if now.free else now)

    async def enqueue(self, session: AGISession, client: Client | None, choice: Choice) -> None:
        d = self
        policy = d.scoring.policy
        reputation = ratings(await d.store.client_summary(client.id)) if client else None
        priority = caller_priority(reputation, policy)
        if choice.agent_id:
            choice = dataclasses.replace(choice, queue=choose_queue(choice.agent_id, priority, policy))
        # an agent's own queue rings once then hands back (n): the caller is offered someone else at once
        await session.set_variable(naming.QUEUE, choice.queue)
        await session.set_variable(naming.QUEUE_OPTS, "cn" if choice.agent_id and choice.ring_once else "c")
        await session.set_variable(naming.PRIO, str(priority))
        await session.set_variable(naming.CHOSEN, choice.agent_id or "")
        await session.set_variable(naming.LAST_OUTCOME, "")
        # the decision is the dialplan's from here: a route stopped during the sentence below (the service
        # shutting down) must not leave a caller who heard "connecting you" to the fallback
        await session.set_variable(naming.RESULT, naming.RESULT_QUEUE)
        if choice.agent_id and choice.load is not None:
            # waiting for a busy favourite: the wait they chose, then how to leave (app_queue tells the position)
            wait = speech.wait_phrase(choice.load.wait_seconds)
            await say(session, ["cc/connecting", speech.agent_name(choice.agent_id), wait, "cc/leave-queue"])
        elif choice.agent_id:
            # a free agent, rung at once: only the name. The agent is held for this caller by the service alone
            # (queues.take), not by Asterisk: the shared queue may ring them for another caller until Queue() is
            # reached, so the sentence before it is kept short (cc-inbound turns the caller back should it happen)
            await say(session, ["cc/connecting", speech.agent_name(choice.agent_id)])
        else:
            await say(session, ["cc/shared-queue"])
        # hold time starts now, when Queue() is next, not before the sentence above
        await d.writes.call_queued(session.env.uniqueid, choice.queue, d.clock())
        log.info("caller_enqueued", queue=choice.queue, agent=choice.agent_id, priority=priority)


@dataclass(frozen=True, slots=True)
class Offered:
    """An agent worth offering, and their queue's load this moment."""

    candidate: Candidate
    load: AgentLoad


def _next_category(categories: tuple[str, ...], current: str | None) -> str | None:
    """8 cycles the ranking: overall → first category → ... → last category → overall."""
    if current is None:
        return categories[0] if categories else None
    index = categories.index(current) + 1
    return categories[index] if index < len(categories) else None
