"""Each service's agents kept in rank order, by overall score and by each category, so an offer reads the best few
without scoring or sorting the roster: pure, no I/O (the stateful owner is ``callcenter/usecases/rankings.py``).

Every (service, ranked by, group) has a list of ``rank_key``s, the one ordering ``policy.rank`` sorts by, kept
sorted by insertion: an update moves one agent in each of their lists (a binary search and a memmove of
pointers, microseconds at 10k agents), and a walk from the top touches only the agents it yields. The group is
what the queue state says of the agent: ``free``, ``busy`` (on a call, or callers waiting for them) or
``away`` (cannot be reached: logged out, paused, unavailable), so "the best free agents" never steps over the busy
or the absent.

Decay. With a half-life, every decayed sum fades by the same factor as time passes (``decay.py``): S(T') =
S(T) * 2^(-(T' - T) / h) for every agent and every category alike. Yet the order is *not* invariant under that
factor, because the prior does not fade: score = (m * w + f * total) / (w + f * n), and two agents whose
ratings weigh differently cross as f shrinks (one 5 from a newcomer against many 3.6s: the newcomer first
today, the veteran first once both fade toward the prior). So the ranking holds every agent's sums as of one
reference time and is re-ranked (``rescale``: one multiplication per sum, then one sort per list) to move that
time forward; between re-ranks, a new rating's sums are carried to the reference time before scoring (a factor
above 1 for a rating given after it), so the whole ranking is always exactly the order at its reference time.
How stale that time may be is the owner's choice (a minute, against half-lives of days).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

from callcenter.domain.decay import DecayedTally
from callcenter.domain.policy import Candidate, Policy, RankKey, Ratings, Score, Tally, rank, rank_key, score

Group = Literal["free", "busy", "away"]
GROUPS: Final[tuple[Group, ...]] = ("free", "busy", "away")
# a placeholder until an entry is scored (``_rescore`` replaces it before anyone can read it)
_UNSCORED: Final = Score(0.0, {}, 0, is_new=True)


def carried(ratings: Ratings, factor: float) -> Ratings:
    """``ratings`` with every decayed sum multiplied by ``factor`` (moved in time: below 1 later, above 1 earlier).
    The plain counts are what was given, and do not move."""
    if factor == 1.0:
        return ratings

    def moved(tally: Tally) -> Tally:
        d = tally.decayed
        return tally if d is None else replace(tally, decayed=DecayedTally(d.n * factor, d.total * factor))

    return Ratings(
        count=ratings.count,
        overall=moved(ratings.overall),
        per_category={k: moved(v) for k, v in ratings.per_category.items()},
    )


@dataclass(slots=True)
class _Entry:
    ratings: Ratings
    last_call_at: float
    services: tuple[str, ...]
    group: Group
    candidate: Candidate
    keys: dict[str | None, RankKey]


class Ranking:
    """The agents of every service in rank order, per ranking (overall, each category) and per group."""

    def __init__(self, categories: Sequence[str], policy: Policy) -> None:
        self.categories = tuple(categories)
        self.policy = policy
        self._by: tuple[str | None, ...] = (None, *self.categories)
        self._entries: dict[str, _Entry] = {}
        self._lists: dict[tuple[str, str | None, Group], list[RankKey]] = {}

    # -- updates ------------------------------------------------------------------------------------------------
    def put(
        self,
        agent_id: str,
        *,
        ratings: Ratings | None = None,
        last_call_at: float | None = None,
        services: Iterable[str] | None = None,
        group: Group | None = None,
    ) -> None:
        """Add an agent, or change what is given (None: unchanged; a new agent starts unrated, never answered, in
        no service and away). ``ratings``' decayed sums must be as of the ranking's reference time."""
        entry = self._entries.get(agent_id)
        if entry is None:
            entry = self._new(agent_id)
        else:
            self._unlist(agent_id, entry)
        if ratings is not None:
            entry.ratings = ratings
        if last_call_at is not None:
            entry.last_call_at = last_call_at
        if services is not None:
            entry.services = tuple(dict.fromkeys(services))
        if group is not None:
            entry.group = group
        self._list(agent_id, entry, rescore=ratings is not None or last_call_at is not None)

    def answered(self, agent_id: str, at: float) -> None:
        """The agent answered a call at ``at`` (seconds since the epoch): the tie-breaker is the latest one."""
        entry = self._entries.get(agent_id)
        if entry is not None and at > entry.last_call_at:
            self.put(agent_id, last_call_at=at)

    def set_group(self, agent_id: str, group: Group) -> None:
        entry = self._entries.get(agent_id)
        if entry is not None and entry.group != group:
            self.put(agent_id, group=group)

    def remove(self, agent_id: str) -> None:
        entry = self._entries.pop(agent_id, None)
        if entry is not None:
            self._unlist(agent_id, entry)

    def rescale(self, factor: float) -> None:
        """Move the reference time: every decayed sum times ``factor``, every agent scored again, every list sorted
        once (cheaper than moving agents one by one when all of them move). The owner may instead build a fresh
        ranking a few agents at a time (``entry``, ``add_unlisted``, ``relist``), not to hold its loop that long."""
        if factor == 1.0:
            return
        for agent_id, entry in self._entries.items():
            entry.ratings = carried(entry.ratings, factor)
            self._rescore(agent_id, entry)
        self.relist()

    def add_unlisted(
        self, agent_id: str, *, ratings: Ratings, last_call_at: float, services: Iterable[str], group: Group
    ) -> None:
        """For a bulk build: the agent scored (the costly part), filed in no list until ``relist``."""
        entry = _Entry(ratings, last_call_at, tuple(dict.fromkeys(services)), group, Candidate(agent_id, _UNSCORED), {})
        self._rescore(agent_id, entry)
        self._entries[agent_id] = entry

    def relist(self) -> None:
        """Every list built again from the agents' kept keys: one sort per list."""
        lists: dict[tuple[str, str | None, Group], list[RankKey]] = {}
        for entry in self._entries.values():
            for service in entry.services:
                for by, key in entry.keys.items():
                    lists.setdefault((service, by, entry.group), []).append(key)
        for keys in lists.values():
            keys.sort()
        self._lists = lists

    def entry(self, agent_id: str) -> tuple[Ratings, float, tuple[str, ...], Group] | None:
        """What is kept of an agent (ratings, last answered, services, group), to copy into another ranking."""
        e = self._entries.get(agent_id)
        return None if e is None else (e.ratings, e.last_call_at, e.services, e.group)

    # -- reads --------------------------------------------------------------------------------------------------
    def walk(self, service: str, by: str | None, group: Group) -> Iterator[Candidate]:
        """The group's agents of ``service``, best first by ``by`` (None: overall), lazily.

        Safe against updates between two steps (the caller looks at each agent's queue, which may move agents):
        each step searches for the first key after the last one given, so nobody is given twice, and an agent who
        moved up past the walk meanwhile is not given this time."""
        keys = self._lists.get((service, by if by in self.categories else None, group))
        if not keys:
            return
        index = 0
        while True:
            if index >= len(keys):
                return
            key = keys[index]
            entry = self._entries.get(key[2])
            if entry is not None:
                yield entry.candidate
            index = bisect.bisect_right(keys, key)

    def size(self, service: str, group: Group) -> int:
        return len(self._lists.get((service, None, group), ()))

    def candidate(self, agent_id: str) -> Candidate | None:
        entry = self._entries.get(agent_id)
        return None if entry is None else entry.candidate

    def ratings(self, agent_id: str) -> Ratings | None:
        entry = self._entries.get(agent_id)
        return None if entry is None else entry.ratings

    def group(self, agent_id: str) -> Group | None:
        entry = self._entries.get(agent_id)
        return None if entry is None else entry.group

    def services(self, agent_id: str) -> tuple[str, ...]:
        entry = self._entries.get(agent_id)
        return () if entry is None else entry.services

    def agents(self) -> list[str]:
        return list(self._entries)

    def order(self, service: str, by: str | None = None, groups: Iterable[Group] = GROUPS) -> list[str]:
        """Every agent of ``service`` in these groups, best first (for checks and tests: it reads them all)."""
        keys = [k for g in groups for k in self._lists.get((service, by, g), ())]
        return [k[2] for k in sorted(keys)]

    # -- the lists ----------------------------------------------------------------------------------------------
    def _new(self, agent_id: str) -> _Entry:
        ratings = Ratings()
        entry = _Entry(ratings, 0.0, (), "away", Candidate(agent_id, score(ratings, self.categories, self.policy)), {})
        self._entries[agent_id] = entry
        self._rescore(agent_id, entry)
        return entry

    def _rescore(self, agent_id: str, entry: _Entry) -> None:
        entry.candidate = Candidate(agent_id, score(entry.ratings, self.categories, self.policy), entry.last_call_at)
        entry.keys = {by: rank_key(entry.candidate, by) for by in self._by}

    def _list(self, agent_id: str, entry: _Entry, *, rescore: bool) -> None:
        if rescore:
            self._rescore(agent_id, entry)
        for service in entry.services:
            for by, key in entry.keys.items():
                bisect.insort(self._lists.setdefault((service, by, entry.group), []), key)

    def _unlist(self, agent_id: str, entry: _Entry) -> None:
        for service in entry.services:
            for by, key in entry.keys.items():
                keys = self._lists.get((service, by, entry.group))
                if not keys:
                    continue
                index = bisect.bisect_left(keys, key)
                if index < len(keys) and keys[index] == key:
                    del keys[index]


def full_order(
    ratings: Mapping[str, Ratings],
    last_call_at: Mapping[str, float],
    categories: Sequence[str],
    policy: Policy,
    by: str | None = None,
) -> list[str]:
    """The same agents scored and sorted from scratch (``policy.rank``): what a kept ranking must equal."""
    candidates = [
        Candidate(agent_id, score(r, categories, policy), last_call_at.get(agent_id, 0.0))
        for agent_id, r in ratings.items()
    ]
    return [c.agent_id for c in rank(candidates, by=by)]
