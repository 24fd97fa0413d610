"""Where the CLI finds its config: --config, $CALLCENTER_CONFIG, /etc/callcenter/callcenter.toml, else one line
(exit 2), never the built-in defaults that once deactivated every agent (issue #9)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from callcenter.cli import service
from callcenter.config import ConfigError, ConfigSource, find_config
from tests.unit.cli.support import DEMO_CONFIG, dump, err_lines, run

NEEDS_CONFIG = [
    ("serve",),
    ("run", "--no-demo"),
    ("demo",),
    ("ratings", "show", "--agent", "1001"),
    ("policy", "explain", "--client", "5551001"),
    ("calls", "list"),
    ("evaluations", "list"),
    ("evaluations", "history"),
    ("evaluations", "remove", "--call", "x", "--direction", "caller-to-agent", "--reason", "r"),
    ("agents", "list"),
    ("agents", "sync"),
    ("clients", "reset-pin", "5551001"),
    ("db", "migrate"),
    ("db", "check"),
    ("asterisk", "render"),
    ("asterisk", "start"),
    ("asterisk", "stop"),
    ("asterisk", "cli", "core", "show", "version"),
]


@pytest.mark.parametrize("command", NEEDS_CONFIG, ids=" ".join)
def test_no_config_anywhere_is_one_line_saying_where_it_looked(
    populated: Path, no_installed_config: Path, capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    before = dump(populated)
    result = run(capsys, *command)
    assert result.code == 2
    assert err_lines(result) == [
        "callcenter: configuration error: no config file: no --config, no $CALLCENTER_CONFIG, and no "
        f"{no_installed_config}; give one with --config FILE or CALLCENTER_CONFIG=FILE (the demo's, from the "
        "repository root: --config callcenter/demo/callcenter.toml)"
    ]
    assert result.out == ""
    assert dump(populated) == before


def installed(where: Path) -> Path:
    """The demo config and roster copied to ``where`` (the roster is relative to the config)."""
    where.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEMO_CONFIG, where)
    shutil.copyfile(DEMO_CONFIG.parent / "agents.toml", where.parent / "agents.toml")
    return where


def test_the_default_location_is_used_and_named(
    populated: Path, no_installed_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    installed(no_installed_config)
    result = run(capsys, "agents", "list", "--json")
    assert result.code == 0, result.err
    (line,) = err_lines(result)
    assert f"{no_installed_config} (the default location)" in line


def test_the_environment_comes_before_the_default_location(
    populated: Path, no_installed_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (no_installed_config.parent).mkdir(parents=True)
    no_installed_config.write_text("this is not TOML =")
    monkeypatch.setenv("CALLCENTER_CONFIG", str(DEMO_CONFIG))
    result = run(capsys, "calls", "list", "--limit", "1")
    assert result.code == 0, result.err
    assert f"{DEMO_CONFIG} ($CALLCENTER_CONFIG)" in result.err


def test_config_option_comes_before_the_environment(
    populated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLCENTER_CONFIG", str(tmp_path / "nope.toml"))
    result = run(capsys, "--config", str(DEMO_CONFIG), "calls", "list", "--limit", "1")
    assert result.code == 0, result.err
    assert f"{DEMO_CONFIG} (--config)" in result.err


@pytest.mark.parametrize("given_by", ["--config", "$CALLCENTER_CONFIG"])
def test_a_named_config_that_does_not_exist_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, given_by: str
) -> None:
    missing = tmp_path / "missing.toml"
    installed(tmp_path / "etc" / "callcenter.toml")  # never a fallback for a named file
    if given_by == "--config":
        result = run(capsys, "--config", str(missing), "calls", "list")
    else:
        monkeypatch.setenv("CALLCENTER_CONFIG", str(missing))
        result = run(capsys, "calls", "list")
    assert result.code == 2
    assert err_lines(result) == [
        f"callcenter: configuration error: config file {missing} (given by {given_by}) does not exist"
    ]


def test_build_root_and_help_need_no_config(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Path] = []

    async def fake_root(root: Path) -> str:
        built.append(root)
        return "Asterisk 22.0.0"

    monkeypatch.setattr(service, "ensure_root", fake_root)
    monkeypatch.setenv("CALLCENTER_ASTERISK_ROOT", "/tmp/somewhere")
    result = run(capsys, "asterisk", "build-root")
    assert (result.code, result.out) == (0, "Asterisk 22.0.0\n")
    assert built == [Path("/tmp/somewhere")]
    with pytest.raises(SystemExit) as helped:
        run(capsys, "--help")
    assert helped.value.code == 0
    assert "$CALLCENTER_CONFIG" in capsys.readouterr().out


def test_find_config_order(tmp_path: Path) -> None:
    a, b, default = tmp_path / "a.toml", tmp_path / "b.toml", tmp_path / "default.toml"
    for p in (a, b, default):
        p.write_text("")
    env = {"CALLCENTER_CONFIG": str(b)}
    assert find_config(a, env, default) == ConfigSource(a, "--config")
    assert find_config(None, env, default) == ConfigSource(b, "$CALLCENTER_CONFIG")
    assert find_config(None, {"CALLCENTER_CONFIG": ""}, default) == ConfigSource(default, "the default location")
    default.unlink()
    assert find_config(None, {}, default) is None
    with pytest.raises(ConfigError, match="given by --config"):
        find_config(tmp_path / "nope", env, default)
