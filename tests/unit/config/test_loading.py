from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.config import ConfigError, ensure_secret, load_config, require_ami_secret


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cc.toml"
    path.write_text(text)
    return path


def test_defaults_need_no_file() -> None:
    config = load_config(None, {})
    assert config.ami.host == "127.0.0.1"
    assert config.agi.host == "127.0.0.1"
    assert [c.id for c in config.categories] == ["attitude", "knowledge", "availability", "other"]


def test_file_then_environment_override(tmp_path: Path) -> None:
    path = write(tmp_path, '[ami]\nport = 6000\n[agi]\nport = 7000\n[asterisk]\nservice_number = "900"\n')
    config = load_config(path, {"CALLCENTER_AMI_PORT": "6001", "CALLCENTER_ASTERISK_SIP_PORT": "5070"})
    assert config.ami.port == 6001
    assert config.agi.port == 7000
    assert config.asterisk.sip_port == 5070
    assert config.asterisk.service_number == "900"


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'state_dir = "state"\nroster = "agents.toml"\n')
    config = load_config(path, {})
    assert config.state_dir == tmp_path / "state"
    assert config.roster == tmp_path / "agents.toml"
    assert config.store.path == tmp_path / "state" / "callcenter.db"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[ami]\nprot = 1\n", {}, r"ami\.: unknown key\(s\) prot"),
        ("[ami]\nport = 70000\n", {}, r"ami\.port: 70000 is not a TCP/UDP port"),
        ("", {"CALLCENTER_AGI_PORT": "http"}, r"agi\.port: 'http' is not a number"),
        ('[log]\nformat = "xml"\n', {}, r"log\.format: 'xml' is not one of"),
        ("[ami\n", {}, r"is not valid TOML"),
    ],
)
def test_bad_config_says_what_is_wrong(tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), env)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", {})


def test_secret_from_environment_wins_over_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'state_dir = "s"\n')
    ensure_secret(tmp_path / "s" / "secrets" / "ami-callcenter.secret")
    assert load_config(path, {"CALLCENTER_AMI_SECRET": "from-env"}).ami.secret == "from-env"
    from_file = load_config(path, {}).ami.secret
    assert from_file
    assert from_file != "from-env"


def test_missing_secret_says_how_to_fix(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, 'state_dir = "s"\n'), {})
    with pytest.raises(ConfigError, match="CALLCENTER_AMI_SECRET"):
        require_ami_secret(config)


def test_generated_secret_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "x.secret"
    first = ensure_secret(path)
    assert ensure_secret(path) == first
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(first) >= 24


def test_policy_knobs_come_from_the_file_and_are_validated(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[policy]\nprior_weight = 5\nmin_ratings = 1\n"), {})
    assert (config.policy.prior_weight, config.policy.min_ratings) == (5.0, 1)
    with pytest.raises(ConfigError, match="priority_neutral"):
        load_config(write(tmp_path, "[policy]\npriority_neutral = 42\n"), {})


def test_journey_queue_limits_and_waits_come_from_the_file_and_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[journey]\nmax_waiting = 3\nhandle_seconds = 240\n")
    config = load_config(
        path, {"CALLCENTER_JOURNEY_MAX_WAIT_SECONDS": "900", "CALLCENTER_JOURNEY_REPROMPT_TIMEOUT": "2"}
    )
    journey = config.journey
    assert (journey.max_waiting, journey.max_wait_seconds, journey.handle_seconds) == (3, 900.0, 240.0)
    assert journey.reprompt_timeout == 2.0
    assert (journey.limits.max_waiting, journey.limits.max_wait_seconds) == (3, 900.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[journey]\noffer_count = 7\n", "offer_count 7: offer 1 to 6"),
        ("[journey]\noffer_count = 0\n", "offer_count 0"),
        ("[journey]\nmax_waiting = -1\n", "must not be negative"),
        ("[journey]\nmax_wait_seconds = -5\n", "must not be negative"),
        ("[journey]\nreprompt_timeout = 0\n", "reprompt_timeout must be a positive"),
        ("[journey]\nhandle_seconds = 0\n", "handle_seconds must be a positive"),
        ("[journey]\nattempts = 0\n", "attempts must be at least 1"),
    ],
)
def test_journey_values_that_cannot_work_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), {})
