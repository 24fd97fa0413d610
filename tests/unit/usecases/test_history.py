"""Who made a change, as operators name them: never the store's internal client ids."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from callcenter.cli.evaluations import history_data as to_data
from callcenter.cli.evaluations import history_text as render
from callcenter.store import AuditEntry, EvaluationChange
from callcenter.usecases.history import HistoryRow, Who, who

T = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
NAMES = {"1001": "Alice"}
NUMBERS = {7: "5551001", 8: "5551002"}


def change(actor: str, client_id: int = 7) -> EvaluationChange:
    entry = AuditEntry(1, 1, T, actor, "create", None, {"attitude": 5}, None)
    return EvaluationChange(entry, "u1", "client_to_agent", "1001", client_id)


@pytest.mark.parametrize(
    ("actor", "expected", "shown"),
    [
        ("client:7", Who("caller", number="5551001"), "caller 5551001"),  # the phone menus: the internal id
        ("client:5551001", Who("caller", number="5551001"), "caller 5551001"),  # the demo seed: the number
        ("client:8", Who("caller", number="5551002"), "caller 5551002"),  # another known client
        ("agent:1001", Who("agent", id="1001", name="Alice"), "agent 1001 Alice"),
        ("agent:1099", Who("agent", id="1099"), "agent 1099"),  # no longer on any roster
        ("operator:ops", Who("operator", name="ops"), "operator ops"),
        ("ivr", Who("system", name="ivr"), "ivr"),
        ("robot:x", Who("system", name="robot:x"), "robot:x"),
    ],
)
def test_actors_are_named_as_operators_know_them(actor: str, expected: Who, shown: str) -> None:
    found = who(actor, change(actor), NAMES, NUMBERS)
    assert found == expected
    assert str(found) == shown


def test_render_and_json_of_no_changes_and_one() -> None:
    assert render([]) == "no changes"
    assert to_data([]) == []
    row = HistoryRow(
        at=T,
        call="u1",
        direction="agent_to_client",
        action="changed",
        who=Who("agent", id="1001", name="Alice"),
        agent_id="1001",
        agent_name="Alice",
        caller=None,
        old={"attitude": 3},
        new={"attitude": 4},
        reason=None,
    )
    _, line = render([row]).splitlines()
    assert re.split(r"\s{2,}", line)[:3] == ["2025-03-01 09:00:00", "u1", "agent 1001 Alice rated caller -"]
    assert "attitude=3" in line
    assert "attitude=4" in line
    assert to_data([row])[0]["by"] == {"kind": "agent", "id": "1001", "name": "Alice"}
