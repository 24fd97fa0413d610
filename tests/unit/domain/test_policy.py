from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.domain.decay import DecayedTally, decay_weight, decayed_tally
from callcenter.domain.policy import (
    GRADES,
    Candidate,
    Grades,
    Policy,
    Ratings,
    Score,
    Tally,
    caller_priority,
    grade,
    member_penalty,
    rank,
    score,
    shrunk,
    shrunk_decayed,
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


# --- recency decay -------------------------------------------------------------------------------------------

# Ages up to 1000 half-lives: beyond ~1074 a weight underflows to 0.0 (the rating no longer counts at all).
half_lives = st.floats(4.0, 3650.0)
ages = st.floats(0.0, 3650.0)
aged_scores = st.lists(st.tuples(st.integers(1, 5), ages), max_size=20)


def test_decay_weight_halves_every_half_life_and_is_off_without_one() -> None:
    assert decay_weight(0.0, 30.0) == 1.0
    assert decay_weight(30.0, 30.0) == pytest.approx(0.5)
    assert decay_weight(90.0, 30.0) == pytest.approx(0.125)
    assert decay_weight(-5.0, 30.0) == 1.0  # clock skew: a rating from the future counts as new
    assert decay_weight(1e6, None) == decay_weight(1e6, 0) == decay_weight(1e6, float("inf")) == 1.0
    with pytest.raises(ValueError, match="negative"):
        decay_weight(1.0, -1.0)


@given(ages, half_lives)
def test_decay_weights_are_in_zero_one(age: float, half_life: float) -> None:
    assert 0.0 < decay_weight(age, half_life) <= 1.0


@given(aged_scores, half_lives)
def test_decayed_mean_stays_within_the_score_range(scores: list[tuple[int, float]], half_life: float) -> None:
    tally = decayed_tally(scores, half_life)
    assert 0.0 <= tally.n <= len(scores)
    if scores:
        assert tally.mean is not None
        assert 1.0 - 1e-9 <= tally.mean <= 5.0 + 1e-9
    assert 1.0 <= shrunk_decayed(tally, POLICY) <= 5.0


@given(aged_scores, st.integers(1, 5), ages, ages, half_lives)
def test_a_newer_rating_moves_the_decayed_score_more(
    base: list[tuple[int, float]], value: int, age_a: float, age_b: float, half_life: float
) -> None:
    newer, older = min(age_a, age_b), max(age_a, age_b)
    before = shrunk_decayed(decayed_tally(base, half_life), POLICY)
    with_newer = shrunk_decayed(decayed_tally([*base, (value, newer)], half_life), POLICY)
    with_older = shrunk_decayed(decayed_tally([*base, (value, older)], half_life), POLICY)
    # both move toward the new value, the newer one at least as far
    assert abs(with_newer - before) >= abs(with_older - before) - 1e-9
    assert (with_newer - before) * (value - before) >= -1e-9


def test_a_newer_rating_moves_the_score_strictly_more() -> None:
    base = [(3, 0.0)] * 5
    newer = shrunk_decayed(decayed_tally([*base, (5, 1.0)], 30.0), POLICY)
    older = shrunk_decayed(decayed_tally([*base, (5, 60.0)], 30.0), POLICY)
    plain = shrunk_decayed(decayed_tally(base, 30.0), POLICY)
    assert newer > older > plain


@given(aged_scores)
def test_without_a_half_life_decayed_equals_plain(scores: list[tuple[int, float]]) -> None:
    plain = Tally(len(scores), sum(v for v, _ in scores))
    for half_life in (None, 0.0, float("inf")):
        tally = decayed_tally(scores, half_life)
        assert (tally.n, tally.total) == (plain.n, plain.total)
        assert shrunk_decayed(tally, POLICY) == shrunk(plain, POLICY)
    # and a huge half-life converges to it
    assert shrunk_decayed(decayed_tally(scores, 1e15), POLICY) == pytest.approx(shrunk(plain, POLICY))


@given(aged_scores, aged_scores, half_lives)
def test_score_uses_decayed_tallies_only_when_asked(
    overall: list[tuple[int, float]], knowledge: list[tuple[int, float]], half_life: float
) -> None:
    def tally(scores: list[tuple[int, float]]) -> Tally:
        return Tally(len(scores), sum(v for v, _ in scores), decayed_tally(scores, half_life))

    r = Ratings(count=len(overall), overall=tally(overall), per_category={"knowledge": tally(knowledge)})
    plain, faded = score(r, CATS, POLICY), score(r, CATS, POLICY, decayed=True)
    undecayed = Ratings(r.count, Tally(r.overall.n, r.overall.total), {"knowledge": Tally(len(knowledge), 0)})
    assert plain.overall == score(undecayed, CATS, POLICY).overall
    assert plain.overall == shrunk(r.overall, POLICY)
    assert faded.overall == shrunk_decayed(decayed_tally(overall, half_life), POLICY)
    assert faded.per_category["knowledge"] == shrunk_decayed(decayed_tally(knowledge, half_life), POLICY)
    # a tally without decayed values counts undecayed; count and is_new are about evaluations, not weights
    assert faded.per_category["attitude"] == plain.per_category["attitude"] == POLICY.prior_mean
    assert (faded.count, faded.is_new) == (plain.count, plain.is_new)


def test_decayed_tally_mean() -> None:
    assert DecayedTally().mean is None
    assert DecayedTally(0.5, 2.0).mean == 4.0


# --- grades --------------------------------------------------------------------------------------------------


def test_grade_thresholds() -> None:
    enough = POLICY.min_ratings
    expected = {5.0: "A", 4.5: "A", 4.4999999999: "A", 4.49: "B", 4.0: "B", 3.5: "C", 3.49: "D", 2.5: "D", 2.49: "E"}
    for value, letter in expected.items():
        assert grade(value, enough, POLICY) == letter, value
    assert grade(1.0, enough, POLICY) == "E"
    assert grade(5.0, enough - 1, POLICY) is None  # no grade before enough ratings
    assert grade(5.0, 0, Policy(min_ratings=0)) == "A"
    assert grade(4.2, enough, POLICY, Grades(a=4.2)) == "A"
    with pytest.raises(ValueError, match="thresholds"):
        Grades(a=3.0)


@given(st.floats(1.0, 5.0), st.floats(1.0, 5.0), st.integers(0, 100))
def test_grades_are_monotone_in_the_score(x: float, y: float, count: int) -> None:
    hi, lo = max(x, y), min(x, y)
    g_hi, g_lo = grade(hi, count, POLICY), grade(lo, count, POLICY)
    if count < POLICY.min_ratings:
        assert g_hi is g_lo is None
    else:
        assert g_hi is not None
        assert g_lo is not None
        assert g_hi <= g_lo  # "A" < "B" < ... < "E"
    assert Grades() == GRADES
