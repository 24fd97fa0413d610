"""The kept ranking against a full sort: after any sequence of updates, every list walks in the order that scoring
and sorting every agent from scratch gives (``policy.rank``), and decay re-ranks by the same rule."""

from __future__ import annotations

from itertools import islice

from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.domain.decay import DecayedTally
from callcenter.domain.policy import Policy, Ratings, Tally
from callcenter.domain.ranking import GROUPS, Group, Ranking, carried, full_order

CATEGORIES = ("attitude", "knowledge")
SERVICES = ("support", "sales")
AGENTS = tuple(f"10{i:02d}" for i in range(8))
POLICY = Policy(half_life_days=30.0)


def tally(n: int, total: int, fade: float) -> Tally:
    return Tally(n, total, DecayedTally(n * fade, total * fade))


@st.composite
def some_ratings(draw: st.DrawFn) -> Ratings:
    per = {}
    count = draw(st.integers(0, 6))
    for c in CATEGORIES:
        scores = draw(st.lists(st.integers(1, 5), min_size=count, max_size=count))
        per[c] = tally(len(scores), sum(scores), draw(st.sampled_from([1.0, 0.5, 0.125])))
    n = sum(t.n for t in per.values())
    total = sum(t.total for t in per.values())
    decayed = DecayedTally(
        sum(t.decayed.n for t in per.values() if t.decayed), sum(t.decayed.total for t in per.values() if t.decayed)
    )
    return Ratings(count=count, overall=Tally(n, total, decayed), per_category=per)


agent = st.sampled_from(AGENTS)
operation = st.one_of(
    st.tuples(st.just("rate"), agent, some_ratings()),
    # few distinct times: ties on the score are broken by them, and ties on both by the id
    st.tuples(st.just("answered"), agent, st.sampled_from([0.0, 100.0, 200.0])),
    st.tuples(st.just("services"), agent, st.lists(st.sampled_from(SERVICES), max_size=2)),
    st.tuples(st.just("group"), agent, st.sampled_from(GROUPS)),
    st.tuples(st.just("remove"), agent, st.none()),
    st.tuples(st.just("rescale"), st.none(), st.sampled_from([0.5, 0.01, 2.0])),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(operation, max_size=40))
def test_every_list_equals_a_full_sort_after_any_updates(ops: list[tuple[str, object, object]]) -> None:
    ranking = Ranking(CATEGORIES, POLICY)
    # the model: plain dicts, scored and sorted from scratch
    model: dict[str, dict[str, object]] = {}
    for kind, who, value in ops:
        if kind == "rescale":
            assert isinstance(value, float)
            ranking.rescale(value)
            for m in model.values():
                m["ratings"] = carried(m["ratings"], value)  # type: ignore[arg-type]
            continue
        assert isinstance(who, str)
        if kind == "remove":
            ranking.remove(who)
            model.pop(who, None)
            continue
        m = model.setdefault(who, {"ratings": Ratings(), "last": 0.0, "services": (), "group": "away"})
        if kind == "rate":
            assert isinstance(value, Ratings)
            ranking.put(who, ratings=value)
            m["ratings"] = value
        elif kind == "answered":
            assert isinstance(value, float)
            if who in ranking.agents():
                ranking.answered(who, value)
            else:
                ranking.put(who, last_call_at=value)
            m["last"] = max(m["last"], value)  # type: ignore[call-overload]
        elif kind == "services":
            assert isinstance(value, list)
            ranking.put(who, services=value)
            m["services"] = tuple(dict.fromkeys(value))
        else:
            assert isinstance(value, str)
            group: Group = value  # type: ignore[assignment]
            ranking.put(who, group=group)
            m["group"] = group
    for service in SERVICES:
        for by in (None, *CATEGORIES):
            for group in GROUPS:
                members = {a: m for a, m in model.items() if service in m["services"] and m["group"] == group}  # type: ignore[operator]
                want = full_order(
                    {a: m["ratings"] for a, m in members.items()},  # type: ignore[misc]
                    {a: m["last"] for a, m in members.items()},  # type: ignore[misc]
                    CATEGORIES,
                    POLICY,
                    by,
                )
                assert [c.agent_id for c in ranking.walk(service, by, group)] == want
            assert ranking.size(service, "free") == len(
                [m for m in model.values() if service in m["services"] and m["group"] == "free"]  # type: ignore[operator]
            )


def test_decay_alone_can_swap_two_agents_so_a_rescale_re_ranks() -> None:
    # a newcomer's one 5 against a veteran's hundred 3.6s: the prior (3.5, weight 3) does not fade, the ratings do
    ranking = Ranking(("attitude",), POLICY)
    newcomer = Ratings(1, tally(1, 5, 1.0), {"attitude": tally(1, 5, 1.0)})
    veteran = Ratings(100, tally(100, 360, 1.0), {"attitude": tally(100, 360, 1.0)})
    ranking.put("1001", ratings=newcomer, services=["support"], group="free")
    ranking.put("1002", ratings=veteran, services=["support"], group="free")
    assert [c.agent_id for c in ranking.walk("support", None, "free")] == ["1001", "1002"]
    ranking.rescale(0.01)  # both faded to a hundredth
    assert [c.agent_id for c in ranking.walk("support", None, "free")] == ["1002", "1001"]


def test_a_walk_touches_only_what_it_yields_and_survives_moves_meanwhile() -> None:
    ranking = Ranking((), Policy())
    for i, agent_id in enumerate(AGENTS):
        ranking.put(agent_id, services=["support"], group="free", last_call_at=float(i))
    walk = ranking.walk("support", None, "free")
    first = next(walk)
    assert first.agent_id == AGENTS[0]
    # the next agent is taken meanwhile (busy now): the walk goes on past them, never twice over anyone
    ranking.set_group(AGENTS[1], "busy")
    assert [c.agent_id for c in islice(walk, 2)] == [AGENTS[2], AGENTS[3]]
    assert [c.agent_id for c in ranking.walk("support", None, "busy")] == [AGENTS[1]]
    assert ranking.size("support", "free") == len(AGENTS) - 1
