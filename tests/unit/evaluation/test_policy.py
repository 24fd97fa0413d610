from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.evaluation.policy import (
    Candidate,
    Policy,
    Ratings,
    Score,
    Tally,
    caller_priority,
    member_penalty,
    rank,
    score,
    shrunk,
    spoken_score,
)

POLICY = Policy()
CATS = ("attitude", "knowledge")


def ratings(*scores: int) -> Ratings:
    return Ratings(count=len(scores), overall=Tally(len(scores), sum(scores)))


def agent(agent_id: str, overall: float, *, knowledge: float | None = None, last: float = 0.0) -> Candidate:
    per = {"attitude": overall, "knowledge": overall if knowledge is None else knowledge}
    return Candidate(agent_id, Score(overall, per, count=10, is_new=False), last)


def test_no_ratings_gives_the_prior() -> None:
    assert shrunk(Tally(), POLICY) == POLICY.prior_mean


def test_one_five_star_does_not_outrank_fifty_four_point_eights() -> None:
    one = shrunk(Tally(1, 5), POLICY)
    fifty = shrunk(Tally(50, 240), POLICY)
    assert one < fifty


def test_new_agents_are_flagged_and_scored_at_the_prior() -> None:
    s = score(ratings(5), CATS, POLICY)
    assert s.is_new
    assert s.count == 1
    assert s.per_category == {"attitude": POLICY.prior_mean, "knowledge": POLICY.prior_mean}


def test_rank_by_overall_then_by_category() -> None:
    a, b = agent("1", 4.5, knowledge=3.0), agent("2", 4.0, knowledge=4.9)
    assert [c.agent_id for c in rank([b, a])] == ["1", "2"]
    assert [c.agent_id for c in rank([a, b], by="knowledge")] == ["2", "1"]


def test_ties_go_to_the_agent_idle_longest_then_lowest_id() -> None:
    busy, idle, other = agent("1", 4.0, last=200.0), agent("2", 4.0, last=100.0), agent("3", 4.0, last=100.0)
    assert [c.agent_id for c in rank([busy, other, idle])] == ["2", "3", "1"]


def test_unknown_and_new_callers_get_the_neutral_priority() -> None:
    assert caller_priority(None, POLICY) == POLICY.priority_neutral
    assert caller_priority(ratings(1, 1), POLICY) == POLICY.priority_neutral


def test_good_callers_go_first_poor_callers_later() -> None:
    good = caller_priority(ratings(*[5] * 20), POLICY)
    poor = caller_priority(ratings(*[1] * 20), POLICY)
    assert poor < POLICY.priority_neutral < good


@pytest.mark.parametrize(("value", "spoken"), [(4.56, (4, 6)), (5.0, (5, 0)), (3.95, (4, 0)), (1.0, (1, 0))])
def test_spoken_score(value: float, spoken: tuple[int, int]) -> None:
    assert spoken_score(value) == spoken


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="priority_neutral"):
        Policy(priority_neutral=20)
    with pytest.raises(ValueError, match="prior_mean"):
        Policy(prior_mean=7)


score_lists = st.lists(st.integers(1, 5), min_size=0, max_size=60)


@given(score_lists, st.integers(1, 5))
def test_a_better_rating_never_lowers_the_score(scores: list[int], extra: int) -> None:
    base = shrunk(Tally(len(scores), sum(scores)), POLICY)
    better = shrunk(Tally(len(scores) + 1, sum(scores) + min(5, extra + 1)), POLICY)
    worse = shrunk(Tally(len(scores) + 1, sum(scores) + extra), POLICY)
    assert better >= worse
    assert 1.0 <= base <= 5.0


@given(score_lists, score_lists)
def test_priority_is_bounded_and_monotone(a: list[int], b: list[int]) -> None:
    pa, pb = caller_priority(ratings(*a), POLICY), caller_priority(ratings(*b), POLICY)
    for p in (pa, pb):
        assert POLICY.priority_min <= p <= POLICY.priority_max
    if len(a) == len(b) >= POLICY.min_ratings and sum(a) >= sum(b):
        assert pa >= pb


@given(st.floats(1.0, 5.0), st.floats(1.0, 5.0))
def test_a_better_agent_never_gets_a_higher_penalty(x: float, y: float) -> None:
    hi, lo = max(x, y), min(x, y)
    p_hi = member_penalty(Score(hi, {}, 10, False), POLICY)
    p_lo = member_penalty(Score(lo, {}, 10, False), POLICY)
    assert 0 <= p_hi <= p_lo <= POLICY.penalty_max


@given(st.lists(st.tuples(st.floats(1.0, 5.0), st.floats(0, 1e9)), min_size=1, max_size=12))
def test_rank_is_a_permutation_sorted_by_score(raw: list[tuple[float, float]]) -> None:
    cands = [agent(str(i), s, last=t) for i, (s, t) in enumerate(raw)]
    ranked = rank(cands)
    assert sorted(c.agent_id for c in ranked) == sorted(c.agent_id for c in cands)
    values = [c.score.overall for c in ranked]
    assert all(round(x, 6) >= round(y, 6) for x, y in itertools.pairwise(values))
