from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.domain.rules import CallFacts, Rater, RatingRules, Refusal, may_rate

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CALL = CallFacts(answered_at=NOW - timedelta(days=1), talk_seconds=120, agent_id="1001", client_id=7)
RULES = RatingRules(min_talk_seconds=10, edit_window_days=30)
CLIENT, AGENT = Rater("client", "7"), Rater("agent", "1001")


def test_both_parties_of_an_answered_call_may_rate() -> None:
    assert may_rate(CALL, CLIENT, NOW, RULES) is None
    assert may_rate(CALL, AGENT, NOW, RULES) is None


@pytest.mark.parametrize(
    ("call", "rater", "refusal"),
    [
        (CallFacts(None, None, None, 7), CLIENT, Refusal.NOT_ANSWERED),
        (CallFacts(NOW, 60, "1001", None), AGENT, Refusal.ANONYMOUS),
        (CALL, Rater("client", "8"), Refusal.NOT_A_PARTY),
        (CALL, Rater("agent", "1002"), Refusal.NOT_A_PARTY),
        (CallFacts(NOW, 5, "1001", 7), CLIENT, Refusal.TOO_SHORT),
        (CallFacts(NOW - timedelta(days=31), 60, "1001", 7), AGENT, Refusal.WINDOW_CLOSED),
    ],
)
def test_refusals(call: CallFacts, rater: Rater, refusal: Refusal) -> None:
    assert may_rate(call, rater, NOW, RULES) is refusal


def test_operators_may_remove_old_ratings_and_zero_means_no_limit() -> None:
    old = CallFacts(NOW - timedelta(days=400), 60, "1001", 7)
    assert may_rate(old, Rater("operator", "ops"), NOW, RULES) is None
    assert may_rate(old, CLIENT, NOW, RatingRules(edit_window_days=0)) is None


def test_negative_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        RatingRules(min_talk_seconds=-1)


@given(st.integers(0, 100), st.integers(0, 100), st.sampled_from(["client", "agent"]))
def test_a_stranger_is_never_allowed(talk: int, days: int, kind: str) -> None:
    call = CallFacts(NOW - timedelta(days=days), talk, "1001", 7)
    stranger = Rater("client", "99") if kind == "client" else Rater("agent", "2002")
    assert may_rate(call, stranger, NOW, RatingRules()) is not None
