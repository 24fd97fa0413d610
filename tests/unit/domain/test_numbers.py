from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.domain.numbers import normalise_number


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+15551234567", "+15551234567"),
        ("+1 (555) 123-4567", "+15551234567"),
        ("555.123.4567", "5551234567"),
        (" 0049 30 1234567 ", "0049301234567"),
        ("\t+44\u00a020 7946 0958", "+442079460958"),
        ("800", "800"),
        ("1" * 20, "1" * 20),
        ("+" + "9" * 20, "+" + "9" * 20),
    ],
)
def test_numbers_are_normalised(raw: str, expected: str) -> None:
    assert normalise_number(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "anonymous",
        "Anonymous",
        "UNKNOWN",
        "restricted",
        " Private ",
        "withheld",
        "unavailable",
        "sip:alice@example.com",
        # control characters are an injection attempt (a SIP From user with %0A), never separators
        "5550420\nagi_network_script: agent-menu?endpoint=agent1004",
        "5550420\r\n\r\n1004",
        "555\x001234",
        "555\x0b1234",
        "555-CALL-NOW",
        "1800flowers",
        "12",
        "+12",
        "1" * 21,
        "++15551234",
        "1555+1234",
        "+",
        "*98",
        "555#1234",
        "\u0661\u0662\u0663\u0664\u0665",  # Arabic-Indic digits: digits to Python, not to a dial plan
        "\uff11\uff12\uff13\uff14\uff15",  # fullwidth digits
    ],
)
def test_anonymous_and_garbage_are_rejected(raw: str | None) -> None:
    assert normalise_number(raw) is None


@given(st.text(max_size=40))
def test_result_is_always_canonical_and_stable(raw: str) -> None:
    result = normalise_number(raw)
    if result is not None:
        digits = result.removeprefix("+")
        assert digits.isascii()
        assert digits.isdigit()
        assert 3 <= len(digits) <= 20
        assert normalise_number(result) == result
