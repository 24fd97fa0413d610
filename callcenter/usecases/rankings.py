"""The ranking the offers read, kept in memory and moved by what changes it, so no call scores or sorts the roster.

Built once at start from the store (the roster's summaries and last answered calls: the only full read), then:

* a rating stored, changed, deleted or removed: that agent's summary is read again (``agent_rated``). In this
  process the store says so after each commit (``Store.watch``: the rating use case, the journal's replay, the
  demo's seeding, whoever wrote); another process's ratings on the same store arrive as the ``CallCenterRated`` /
  ``CallCenterRatingDeleted`` AMI user events (``ami/rating_events.py``; the CLI's removal sends one too);
* a call answered: the tie-breaker (``call_answered``, told by the store; ``agent_answered`` re-reads it for a
  queue call another process recorded, on AMI's AgentComplete);
* the queue state: each agent free, busy or away, pushed by ``ami.queues.QueueSync`` whenever it changes;
* the roster (``roster``): agents added, removed, or serving other services (the service's roster is the one it
  started with, as for the queue sync: ``roster`` is there for the day it changes while running);
* time, with a half-life: every ``rerank_seconds`` the reference time moves to now (``domain/ranking.py`` says
  why decay alone can reorder agents). The scores heard are those of the reference time: a minute moves a score
  by at most 4 * ln 2 / (half-life in minutes), under 0.002 for a half-life of one day, inaudible at one decimal.

``check`` compares every kept list with a full sort of the store's summaries; ``penalties`` answers the shared
queues' penalties from memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Final, Protocol

import structlog

from callcenter.domain.agents import AgentSpec
from callcenter.domain.decay import SECONDS_PER_DAY
from callcenter.domain.policy import Candidate, Ratings, member_penalty
from callcenter.domain.ranking import Group, Ranking, carried, full_order
from callcenter.domain.summaries import Scoring, ratings
from callcenter.domain.waits import AgentLoad
from callcenter.store import Call, StoreBusyError, StoreUnavailableError
from callcenter.store.models import RatingSummary
from callcenter.usecases.ports import Clock, utcnow

log = structlog.get_logger(__name__)

# how often the reference time of decayed scores moves to now (only with a half-life), and stale agents are re-read
RERANK_SECONDS: Final = 60.0
# agents scored again between two turns of the event loop during a re-rank (some 10 ms at 20 us each)
RERANK_CHUNK: Final = 500


class RankingStore(Protocol):
    async def agent_summaries(
        self, agent_ids: Iterable[str], now: datetime | None = None
    ) -> dict[str, RatingSummary]: ...
    async def last_answered(self, agent_ids: Iterable[str]) -> dict[str, datetime]: ...


class Rankings:
    def __init__(
        self,
        store: RankingStore,
        scoring: Scoring,
        agents: Sequence[AgentSpec],
        *,
        clock: Clock = utcnow,
        rerank_seconds: float = RERANK_SECONDS,
        shared: bool = False,
    ) -> None:
        """``shared``: other processes write the store too (several workers): each round of ``run`` then reads
        every agent again (``refresh``), since a rating they stored is heard here only from an AMI user event,
        which a journaled write, a dropped AMI link or a worker starting between its load and its AMI login
        never brings."""
        self.shared = shared
        self.store = store
        self.scoring = scoring
        self.clock = clock
        self.rerank_seconds = rerank_seconds
        self._services = {a.id: a.services for a in agents}
        self._ranking = Ranking(scoring.categories, scoring.policy)
        self._half_life = scoring.policy.half_life_days
        # the moment every kept decayed sum refers to
        self.as_of = clock()
        # agent -> number of the newest summary read: an older read landing late must not undo a newer one
        self._reads: dict[str, int] = {}
        # agents whose re-read failed (the store was busy): read again by the next round of ``run``
        self._stale: set[str] = set()
        # while a re-rank builds its fresh ranking: the agents changed meanwhile (copied again before the swap)
        self._moved: set[str] | None = None

    # -- building and rebuilding --------------------------------------------------------------------------------
    async def load(self) -> None:
        """Every agent of the roster from the store: at start, before the first call (the one full read)."""
        ids = list(self._services)
        now = self.clock()
        summaries = await self.store.agent_summaries(ids, now=now)
        last = await self.store.last_answered(ids)
        self._ranking = Ranking(self.scoring.categories, self.scoring.policy)
        self.as_of = now
        for agent_id in ids:
            self._put(agent_id, summaries.get(agent_id), now, last.get(agent_id), self._services[agent_id])
        log.info("ranking_loaded", agents=len(ids), services=len({s for v in self._services.values() for s in v}))

    async def refresh(self) -> None:
        """Every agent read again from the store, in place: the groups (free, busy, away) kept, an agent whose own
        re-read started meanwhile left to it. One full read, off the call path; the puts let calls run between
        chunks."""
        ids = list(self._services)
        started = dict(self._reads)
        now = self.clock()
        summaries = await self.store.agent_summaries(ids, now=now)
        last = await self.store.last_answered(ids)
        for index, agent_id in enumerate(ids):
            if self._reads.get(agent_id) != started.get(agent_id) or agent_id not in self._services:
                continue  # a newer read (agent_rated) or a roster change came meanwhile: theirs stands
            self._put(agent_id, summaries.get(agent_id), now, last.get(agent_id))
            if index % RERANK_CHUNK == RERANK_CHUNK - 1:
                await asyncio.sleep(0)
        log.debug("ranking_refreshed", agents=len(ids))

    async def roster(self, agents: Sequence[AgentSpec]) -> None:
        """The roster changed: new agents read from the store, the gone ones dropped, the others' services moved."""
        wanted = {a.id: a.services for a in agents}
        for agent_id in set(self._services) - set(wanted):
            self._note(agent_id)
            self._ranking.remove(agent_id)
            del self._services[agent_id]
        new = [i for i in wanted if i not in self._services]
        for agent_id, services in wanted.items():
            if agent_id in self._services and self._services[agent_id] != services:
                self._note(agent_id)
                self._ranking.put(agent_id, services=services)
            self._services[agent_id] = services
        if new:
            now = self.clock()
            summaries = await self.store.agent_summaries(new, now=now)
            last = await self.store.last_answered(new)
            for agent_id in new:
                self._put(agent_id, summaries.get(agent_id), now, last.get(agent_id), wanted[agent_id])
        log.info("ranking_roster_changed", agents=len(wanted), new=len(new))

    def _put(
        self,
        agent_id: str,
        summary: RatingSummary | None,
        read_at: datetime,
        last: datetime | None,
        services: Iterable[str] | None = None,
    ) -> None:
        kept = None if summary is None else carried(ratings(summary), self._factor(read_at, self.as_of))
        self._note(agent_id)
        self._ranking.put(
            agent_id, ratings=kept, last_call_at=None if last is None else last.timestamp(), services=services
        )

    def _note(self, agent_id: str) -> None:
        if self._moved is not None:
            self._moved.add(agent_id)

    def _factor(self, read_at: datetime, reference: datetime) -> float:
        """What moves decayed sums read at ``read_at`` to ``reference``: 2^((read_at - reference) / half-life)."""
        if not self._half_life:
            return 1.0
        return float(2.0 ** ((read_at - reference).total_seconds() / SECONDS_PER_DAY / self._half_life))

    # -- what changes it ----------------------------------------------------------------------------------------
    async def agent_rated(self, agent_id: str) -> None:
        """A rating of ``agent_id`` was stored, changed or deleted (here or by another process): read their
        summary again. A store too busy now does not fail the rater: the agent is read again within a round."""
        if agent_id not in self._services:
            return
        number = self._reads.get(agent_id, 0) + 1
        self._reads[agent_id] = number
        read_at = self.clock()
        try:
            summaries = await self.store.agent_summaries([agent_id], now=read_at)
        except (StoreBusyError, StoreUnavailableError) as exc:
            log.warning("ranking_read_deferred", agent=agent_id, error=str(exc))
            self._stale.add(agent_id)
            return
        if self._reads.get(agent_id) != number:
            return  # a newer read started meanwhile: its result is the one to keep
        self._stale.discard(agent_id)
        self._put(agent_id, summaries.get(agent_id), read_at, None)

    def call_answered(self, call: Call) -> None:
        """This process recorded an answer: the agent's tie-breaker moves to it."""
        if call.agent_id is not None and call.answered_at is not None:
            self._note(call.agent_id)
            self._ranking.answered(call.agent_id, call.answered_at.timestamp())

    async def agent_answered(self, agent_id: str) -> None:
        """An agent finished a queue call (AMI, perhaps recorded by another process): their last answer, read."""
        if agent_id not in self._services:
            return
        try:
            last = await self.store.last_answered([agent_id])
        except (StoreBusyError, StoreUnavailableError) as exc:
            log.info("ranking_read_deferred", agent=agent_id, error=str(exc))
            return
        if agent_id in last:
            self._note(agent_id)
            self._ranking.answered(agent_id, last[agent_id].timestamp())

    def load_changed(self, agent_id: str, load: AgentLoad | None) -> None:
        """The queue state of ``agent_id`` moved (``QueueSync``): free, busy, or away (None)."""
        group: Group = "away" if load is None else "free" if load.free else "busy"
        self._note(agent_id)
        self._ranking.set_group(agent_id, group)

    async def rerank(self) -> None:
        """Move the reference time to now: with a half-life, every agent's decayed sums fade by one factor.

        Scoring every agent again takes a while at 10k agents (some 200 ms of one core): a fresh ranking is built
        ``RERANK_CHUNK`` agents at a time, letting calls run in between; they read the old one meanwhile, and an
        agent moved meanwhile is copied again at the end, before the swap."""
        now = self.clock()
        factor = self._factor(self.as_of, now)
        if factor == 1.0:
            self.as_of = now
            return
        old = self._ranking
        fresh = Ranking(self.scoring.categories, self.scoring.policy)
        self._moved = set()
        try:
            for index, agent_id in enumerate(old.agents()):
                _copy(old, fresh, agent_id, factor)
                if index % RERANK_CHUNK == RERANK_CHUNK - 1:
                    await asyncio.sleep(0)
            for agent_id in self._moved:
                _copy(old, fresh, agent_id, factor)
        finally:
            moved, self._moved = self._moved, None
        fresh.relist()
        self._ranking = fresh
        self.as_of = now
        log.info("ranking_reranked", agents=len(fresh.agents()), moved=len(moved), factor=round(factor, 9))

    async def run(self) -> None:
        """Every ``rerank_seconds``: agents whose re-read failed read again, and (with decay) a re-rank. Until
        cancelled."""
        while True:
            await asyncio.sleep(self.rerank_seconds)
            try:
                for agent_id in list(self._stale):
                    await self.agent_rated(agent_id)
                if self._half_life:
                    await self.rerank()
                if self.shared:
                    await self.refresh()
            except (StoreBusyError, StoreUnavailableError) as exc:
                log.warning("ranking_round_deferred", error=str(exc))
            except Exception:
                # a defect must not end the re-ranks for the life of the process without a word
                log.exception("ranking_round_failed")

    # -- what offers and queues read ----------------------------------------------------------------------------
    def walk(self, service: str, by: str | None, group: Group) -> Iterator[Candidate]:
        """The agents of ``service`` in ``group``, best first by ``by`` (None: overall), one at a time."""
        return self._ranking.walk(service, by, group)

    def reachable(self, service: str) -> bool:
        """Somebody of ``service`` can be reached, free or busy (who is on duty decides "hold" or "goodbye")."""
        return self._ranking.size(service, "free") + self._ranking.size(service, "busy") > 0

    def candidate(self, agent_id: str) -> Candidate | None:
        return self._ranking.candidate(agent_id)

    async def penalties(self, agent_ids: Sequence[str]) -> Mapping[str, int]:
        """Each agent's penalty in the shared queues, from the kept scores (``usecases/penalties.py``'s rule)."""
        policy = self.scoring.policy
        found: dict[str, int] = {}
        for agent_id in agent_ids:
            candidate = self._ranking.candidate(agent_id)
            if candidate is not None:
                found[agent_id] = member_penalty(candidate.score, policy)
        return found

    def order(self, service: str, by: str | None = None) -> list[str]:
        return self._ranking.order(service, by)

    async def check(self) -> list[str]:
        """One line per kept list that is not the order a full sort of the store's summaries gives now (as of the
        reference time); reads every agent, so it is for operators and tests, never for a call."""
        ids = list(self._services)
        now = self.clock()
        summaries = await self.store.agent_summaries(ids, now=now)
        last = await self.store.last_answered(ids)
        factor = self._factor(now, self.as_of)
        kept = {i: carried(ratings(s), factor) for i, s in summaries.items()}
        problems = []
        for service in sorted({s for v in self._services.values() for s in v}):
            members = [i for i in ids if service in self._services[i]]
            for by in (None, *self.scoring.categories):
                want = full_order(
                    # an agent the store has no totals for is unrated
                    {i: kept.get(i, Ratings()) for i in members},
                    {i: last[i].timestamp() for i in members if i in last},
                    self.scoring.categories,
                    self.scoring.policy,
                    by,
                )
                have = self.order(service, by)
                if have != want:
                    problems.append(
                        f"ranking: service {service} by {by or 'overall'} is kept as {_few(have)}, "
                        f"the store's summaries give {_few(want)}"
                    )
        return problems


def _copy(old: Ranking, fresh: Ranking, agent_id: str, factor: float) -> None:
    """``agent_id`` as ``old`` keeps them, decayed sums times ``factor``, into ``fresh`` (or out, if gone)."""
    kept = old.entry(agent_id)
    if kept is None:
        fresh.remove(agent_id)
        return
    ratings_, last, services, group = kept
    fresh.remove(agent_id)
    fresh.add_unlisted(agent_id, ratings=carried(ratings_, factor), last_call_at=last, services=services, group=group)


def _few(ids: list[str]) -> str:
    return " ".join(ids[:8]) + (f" ... ({len(ids)} agents)" if len(ids) > 8 else "")
