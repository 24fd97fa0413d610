"""The commands the README prints are typed as printed, from the repository root, after `make run`: so each must
name the CLI where `make` put it and parse as a real command line."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from callcenter.cli import Invocation, build_parser, command_hint, run_hint
from callcenter.config import ConfigSource, load_config
from tests.unit.cli.support import DEMO_CONFIG, PROJECT

README = (PROJECT / "README.md").read_text()
PROG = ".venv/bin/callcenter"


def code_spans(text: str) -> list[str]:
    """Inline `code` (outside fenced blocks) and every line of ```sh blocks."""
    found: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        found += [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    found += [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]
    return found


EXAMPLES = [span for span in code_spans(README) if span.startswith(PROG + " ")]


def test_the_readme_shows_the_commands_people_need() -> None:
    words = {tuple(shlex.split(e)[1:]) for e in EXAMPLES}
    assert ("--config", "callcenter/demo/callcenter.toml", "ratings", "show", "--agent", "1001") in words
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_printed_command_parses(example: str) -> None:
    args = build_parser().parse_args(shlex.split(example)[1:])
    assert hasattr(args, "handler"), example
    if args.config is not None:
        assert (PROJECT / args.config).is_file(), f"{example}: no such config from the repository root"


def test_no_printed_command_relies_on_callcenter_being_on_path() -> None:
    bare = [span for span in code_spans(README) if span.startswith("callcenter ")]
    assert bare == []


def leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += leaf_commands(sub, (*prefix, name)) or [(*prefix, name)]
    return found


def test_the_command_line_section_lists_every_command_and_option() -> None:
    section = README.split("## Command line", 1)[1].split("\n## ", 1)[0]
    synopsis = section.split("```", 2)[1]
    for path in leaf_commands(build_parser()):
        group, *leaf = path
        assert re.search(rf"^{group}\b.*\b{leaf[-1] if leaf else ''}", synopsis, flags=re.MULTILINE), path
    for flag in ("--force", "--call", "--limit", "--deleted", "--json", "--operator", "--no-demo"):
        assert flag in synopsis, flag
    assert "/etc/callcenter/callcenter.toml" in section
    assert "$CALLCENTER_CONFIG" in section


def test_the_hint_at_the_end_of_run_is_a_command_that_works_as_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT)
    run = Invocation(
        argparse.Namespace(),
        load_config(DEMO_CONFIG, {}),
        (),
        ConfigSource(Path("callcenter/demo/callcenter.toml"), "--config"),
    )
    monkeypatch.setattr("sys.argv", [".venv/bin/callcenter", "--config", "callcenter/demo/callcenter.toml", "run"])
    hint = command_hint(run, "ratings", "show", "--agent", "1001")
    assert hint == f"{PROG} --config callcenter/demo/callcenter.toml ratings show --agent 1001"
    assert f"`{hint}`" in run_hint(run)
    assert "call 800 from a softphone" in run_hint(run)
    build_parser().parse_args(shlex.split(hint)[1:])
    # found another way, the config is found again the same way: no --config to repeat
    other = Invocation(run.args, run.config, (), ConfigSource(Path("/etc/callcenter/callcenter.toml"), "x"))
    assert command_hint(other, "db", "check", argv0="callcenter") == "callcenter db check"
    assert command_hint(other, "db", "check", argv0="/opt/cc/bin/callcenter") == "/opt/cc/bin/callcenter db check"
