"""Running `callcenter` in-process against a populated demo database, and proving what it did to the file."""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog

from callcenter.cli import main

PROJECT = Path(__file__).resolve().parents[3]
DEMO_CONFIG = PROJECT / "callcenter/demo/callcenter.toml"

Dump = dict[str, list[tuple[object, ...]]]


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def fresh_loggers() -> None:
    """Module loggers as if this process had just started. structlog caches a logger, with the level filter of the
    configuration of the day, on its first use; a real `callcenter` configures once, these tests many times."""
    proxy = type(structlog.get_logger())
    for name, module in list(sys.modules.items()):
        if name.startswith("callcenter") and isinstance(getattr(module, "log", None), proxy):
            setattr(module, "log", structlog.get_logger(name))  # noqa: B010 - any module, not one mypy knows


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    """`callcenter ARGV...` in this process; what it printed, split by stream."""
    capsys.readouterr()
    fresh_loggers()
    code = main(["--log-format", "console", *argv])
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def dump(path: Path) -> Dump:
    """Every row of every table (and the schema version), read without any chance of writing."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        found: Dump = {name: sorted(conn.execute(f"SELECT * FROM {name}"), key=repr) for name in tables}
        found["PRAGMA user_version"] = list(conn.execute("PRAGMA user_version"))
        return found
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def err_lines(result: Result) -> list[str]:
    return [line for line in result.err.splitlines() if line.strip()]


def argv_config(config: Path = DEMO_CONFIG) -> Sequence[str]:
    return ("--config", str(config))
