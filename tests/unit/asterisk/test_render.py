from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.asterisk.render import InstanceLayout, RenderError, render_instance, render_template
from callcenter.config import load_config
from callcenter.config.roster import load_roster

PROJECT = Path(__file__).resolve().parents[3]


def test_unknown_placeholder_names_file_and_key() -> None:
    with pytest.raises(RenderError, match=r"x\.conf: unknown placeholder \{\{nope\}\}"):
        render_template("a {{nope}} b", {"ok": "1"}, "x.conf")


def test_asterisk_variables_are_left_alone() -> None:
    assert render_template("Set(A=${B}) {{ port }}", {"port": "5"}, "t") == "Set(A=${B}) 5"


def test_render_writes_every_file_with_ports_secrets_and_generated_parts(tmp_path: Path) -> None:
    env = {
        "CALLCENTER_STATE_DIR": str(tmp_path / "state"),
        "CALLCENTER_AMI_PORT": "15038",
        "CALLCENTER_AGI_PORT": "14573",
        "CALLCENTER_ASTERISK_SIP_PORT": "15060",
        "CALLCENTER_AMI_SECRET": "s3cret",
    }
    config = load_config(PROJECT / "callcenter/demo/callcenter.toml", env)
    agents = load_roster(PROJECT / "callcenter/demo/agents.toml", {s.id for s in config.services})
    layout = render_instance(config, PROJECT, agents, "drv", InstanceLayout(tmp_path / "root", "t1"))
    etc = layout.etc
    manager = (etc / "manager.conf").read_text()
    assert "port = 15038" in manager
    assert "bindaddr = 127.0.0.1" in manager
    assert "secret = s3cret" in manager
    assert "{{" not in manager
    assert "bind = 127.0.0.1:15060" in (etc / "pjsip.conf").read_text()
    assert "CC_AGI=agi://127.0.0.1:14573" in (etc / "callcenter-globals-generated.conf").read_text()
    queues = (etc / "queues-generated.conf").read_text()
    for queue in ("[service-support](cc-shared-queue)", "[service-sales](cc-shared-queue)", "[agent-1001](cc-queue)"):
        assert queue in queues
    agents_conf = (etc / "pjsip-agents-generated.conf").read_text()
    assert "[agent1004]" in agents_conf
    assert "[agent1001]" not in agents_conf  # scripted demo agents have no SIP endpoint
    assert (tmp_path / "state/secrets/sip-agent1004.secret").exists()
    assert "exten => 800,1" in (etc / "cc-inbound.conf").read_text()
    assert layout.conf_file == "/cc/t1/etc/asterisk.conf"
