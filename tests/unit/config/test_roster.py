from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.config import ConfigError
from callcenter.config.roster import load_roster
from callcenter.domain.pins import hash_agent_pin

PROJECT = Path(__file__).resolve().parents[3]


def roster(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agents.toml"
    path.write_text(text)
    return path


def test_demo_roster_loads() -> None:
    agents = load_roster(PROJECT / "callcenter/demo/agents.toml", {"support", "sales"})
    assert [a.id for a in agents] == ["1001", "1002", "1003", "1004", "1005"]
    dave = agents[3]
    assert dave.kind == "sip"
    assert dave.interface == "PJSIP/agent1004"
    assert dave.own_queue == "agent-1004"
    assert dave.pin_hash == hash_agent_pin("1004", "4444")
    assert "4444" not in (dave.pin_hash or "")
    erin = agents[4]
    assert (erin.kind, erin.interface) == ("external", "Local/+15550001005@cc-outbound")


def test_outside_phone_is_dialled_through_the_outbound_context(tmp_path: Path) -> None:
    path = roster(
        tmp_path, '[[agent]]\nid = "20"\nname = "Eve"\nservices = ["s"]\nphone = "+15551234567"\npin = "2020"\n'
    )
    (eve,) = load_roster(path, {"s"})
    assert eve.kind == "external"
    assert eve.interface == "Local/+15551234567@cc-outbound"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('id = "1"\nname = "A"\nservices = ["s"]\nsip = true', "id must be 2-8 digits"),
        ('id = "10"\nname = "A"\nservices = ["x"]\nsip = true', r"unknown service\(s\) x"),
        ('id = "10"\nname = "A"\nservices = ["s"]', "exactly one of"),
        ('id = "10"\nname = "A"\nservices = ["s"]\nphone = "+15550000010"', "needs a pin"),
        ('id = "10"\nname = "A"\nservices = ["s"]\nsip = true\nphone = "123"', "exactly one of"),
        (
            'id = "10"\nname = "A"\nservices = ["s"]\ndial = "Local/1;Hangup"',
            "not a plain Asterisk dial string",
        ),
        ('id = "10"\nname = "A"\nservices = ["s"]\nsip = true\npin = "12"', "pin must be 4-8 digits"),
        ('id = "10"\nname = "A"\nservices = ["s"]\nsip = true\ncolour = "red"', r"unknown key\(s\) colour"),
    ],
)
def test_bad_agent_entries_are_refused(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_roster(roster(tmp_path, f"[[agent]]\n{body}\n"), {"s"})


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    entry = '[[agent]]\nid = "10"\nname = "A"\nservices = ["s"]\nsip = true\n'
    with pytest.raises(ConfigError, match="appears twice"):
        load_roster(roster(tmp_path, entry + entry), {"s"})
