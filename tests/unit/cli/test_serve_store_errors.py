"""`serve` on a database it cannot open or use: one line naming the path and the cause, exit 1, no traceback (the
issue measured a 47-line one)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[3]


def serve(store: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CALLCENTER_STATE_DIR": str(tmp_path / "state"),
        "CALLCENTER_STORE_PATH": str(store),
        "CALLCENTER_AMI_SECRET": "not-used",
        "CALLCENTER_AMI_PORT": "1",
        "CALLCENTER_AGI_PORT": "0",
        "CALLCENTER_WEB_PORT": "0",
    }
    return subprocess.run(
        [sys.executable, "-m", "callcenter.cli", "--config", str(PROJECT / "callcenter/demo/callcenter.toml"), "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("make", "cause"),
    [
        (lambda p: p.mkdir(), "unable to open database file"),
        (lambda p: p.write_text("this is not SQLite"), "file is not a database"),
    ],
    ids=["a-directory", "not-a-database"],
)
def test_serve_on_an_unusable_database_says_so_in_one_line(
    tmp_path: Path, make: Callable[[Path], object], cause: str
) -> None:
    store = tmp_path / "cc.db"
    make(store)
    done = serve(store, tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(store) in lines[0]
    assert cause in lines[0]
