"""`evaluations history`: the audit trail as operators read it, and `evaluations list` naming callers by number."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callcenter.store import SqliteStore
from tests.unit.cli.support import DEMO_CONFIG, err_lines, run

CALL = "seed-1001-0"  # Alice's first demo call, from 5551001
CONFIG = ("--config", str(DEMO_CONFIG))


async def caller_edits_by_phone(path: Path) -> None:
    """What the phone menus do (actor client:<internal id>): change, delete, rate again."""
    now = datetime.now(UTC)
    async with await SqliteStore.open(path) as store:
        client = await store.client_for_number("5551001")
        assert client is not None
        actor = f"client:{client.id}"
        new = {"attitude": 2, "knowledge": 2, "availability": 2, "other": 2}
        await store.record_evaluation(CALL, "client_to_agent", new, actor, now - timedelta(minutes=3))
        await store.delete_evaluation(
            CALL, "client_to_agent", actor, "deleted by the rater by phone", now - timedelta(minutes=2)
        )
        again = {"attitude": 1, "knowledge": 1, "availability": 1, "other": 1}
        await store.record_evaluation(CALL, "client_to_agent", again, actor, now - timedelta(minutes=1))


@pytest.fixture
def edited(populated: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    asyncio.run(caller_edits_by_phone(populated))
    removed = run(
        capsys, *CONFIG, "evaluations", "remove", "--call", CALL, "--direction", "caller-to-agent",
        "--reason", "abusive", "--operator", "ops",
    )  # fmt: skip
    assert removed.code == 0, removed.err
    return populated


def test_history_of_a_call_as_json_newest_first(edited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, *CONFIG, "evaluations", "history", "--call", CALL, "--json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert [(r["direction"], r["action"], r["by"], r["reason"]) for r in rows] == [
        ("client_to_agent", "removed by an operator", {"kind": "operator", "name": "ops"}, "abusive"),
        ("client_to_agent", "rated again", {"kind": "caller", "number": "5551001"}, None),
        (
            "client_to_agent",
            "deleted by the rater",
            {"kind": "caller", "number": "5551001"},
            "deleted by the rater by phone",
        ),
        ("client_to_agent", "changed", {"kind": "caller", "number": "5551001"}, None),
        ("agent_to_client", "created", {"kind": "agent", "id": "1001", "name": "Alice"}, None),
        ("client_to_agent", "created", {"kind": "caller", "number": "5551001"}, None),
    ]
    ones = {"attitude": 1, "knowledge": 1, "availability": 1, "other": 1}
    twos = {"attitude": 2, "knowledge": 2, "availability": 2, "other": 2}
    first = {"attitude": 5, "knowledge": 4, "availability": 5, "other": 4}  # DEMO_HISTORY["1001"][0]
    assert [(r["old_scores"], r["new_scores"]) for r in rows] == [
        (ones, None),
        (None, ones),
        (twos, None),
        (first, twos),
        (None, {"attitude": 4, "knowledge": 4, "availability": 4, "other": 4}),
        (None, first),
    ]
    for r in rows:
        assert (r["call"], r["agent"], r["caller"]) == (CALL, {"id": "1001", "name": "Alice"}, "5551001")
    times = [datetime.fromisoformat(r["at"]) for r in rows]
    assert times == sorted(times, reverse=True)
    assert "client:" not in result.out  # no actor as stored
    assert all(set(r) == {"at", "call", "direction", "agent", "caller", "action", "by", "old_scores", "new_scores",
                          "reason"} for r in rows)  # fmt: skip


def test_history_as_text(edited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, *CONFIG, "evaluations", "history", "--call", CALL)
    assert result.code == 0, result.err
    header, *lines = result.out.splitlines()
    assert header.split("  ")[0] == "WHEN (UTC)"
    for column in ("CALL", "RATING", "ACTION", "BY", "OLD SCORES", "NEW SCORES", "REASON"):
        assert column in header
    assert len(lines) == 6
    assert "caller 5551001 rated agent 1001 Alice" in lines[0]
    assert "removed by an operator" in lines[0]
    assert "operator ops" in lines[0]
    assert "attitude=1 availability=1 knowledge=1 other=1" in lines[0]
    assert lines[0].rstrip().endswith("abusive")
    assert "deleted by the rater" in lines[2]
    assert "agent 1001 Alice rated caller 5551001" in lines[4]
    assert "client:" not in result.out


def test_history_filters_by_agent_caller_and_limit(edited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    by_agent = json.loads(run(capsys, *CONFIG, "evaluations", "history", "--agent", "1002", "--json").out)
    assert len(by_agent) == 8  # 4 demo calls, rated both ways
    assert {r["agent"]["id"] for r in by_agent} == {"1002"}
    by_caller = json.loads(run(capsys, *CONFIG, "evaluations", "history", "--client", "555-1002", "--json").out)
    assert {r["caller"] for r in by_caller} == {"5551002"}
    assert len(by_caller) == 6  # 5551002 called 1001, 1002 and 1003 once each
    assert len(json.loads(run(capsys, *CONFIG, "evaluations", "history", "--limit", "2", "--json").out)) == 2
    everything = json.loads(run(capsys, *CONFIG, "evaluations", "history", "--limit", "100", "--json").out)
    assert len(everything) == 24 + 4  # 12 demo calls both ways, then 4 changes of one


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (("--agent", "9999"), "no agent '9999' (see `callcenter agents list`)"),
        (("--client", "5559999"), "no calls from 5559999 on record"),
        (("--call", "nope"), "no call 'nope' on record (see `callcenter calls list`)"),
    ],
)
def test_history_of_something_unknown_is_one_line(
    populated: Path, capsys: pytest.CaptureFixture[str], option: tuple[str, str], message: str
) -> None:
    result = run(capsys, *CONFIG, "evaluations", "history", *option)
    assert result.code == 1
    opened, error = err_lines(result)  # which store it looked in, then what it did not find there
    assert "store_opened" in opened
    assert error == f"callcenter: error: {message}"


def test_evaluations_list_names_callers_by_number(edited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = run(capsys, *CONFIG, "evaluations", "list", "--agent", "1001", "--deleted")
    header, *lines = text.out.splitlines()
    assert header.split() == ["CALL", "DIRECTION", "AGENT", "CALLER", "UPDATED", "(UTC)", "STATUS", "SCORES"]
    removed = next(line for line in lines if line.startswith(CALL) and "caller-to-agent" in line)
    assert removed.split()[:4] == [CALL, "caller-to-agent", "1001", "5551001"]
    assert "deleted" in removed
    listed = json.loads(run(capsys, *CONFIG, "evaluations", "list", "--client", "5551001", "--json").out)
    assert {e["caller"] for e in listed} == {"5551001"}
    assert all("client" not in e for e in listed)
