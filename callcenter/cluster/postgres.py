"""A throwaway PostgreSQL cluster on loopback: the tests' (``tests/postgres.py``) and ``callcenter cluster run``'s.

It lives in a directory of its own, listens on a loopback port and on a socket in that directory, trusts local
connections (loopback only), and runs with durability off (fsync, synchronous_commit, full_page_writes): a demo and a
test need a real server, not a durable one. As root, its files and processes belong to the ``postgres`` user
(initdb refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

USER: Final = "callcenter"
# Debian keeps initdb and pg_ctl out of PATH, in one directory per major version
DEBIAN_BINARIES: Final = "/usr/lib/postgresql/*/bin"
START_TIMEOUT: Final = 60


class PostgresUnavailable(RuntimeError):
    """PostgreSQL could not be found or started: the tests that need it fail with this."""


def find_binary(name: str) -> str:
    """``name`` (initdb, pg_ctl) on PATH, else in the newest /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"{DEBIAN_BINARIES}/{name}"), key=lambda p: int(Path(p).parts[-3].split(".")[0]), reverse=True
    )
    if candidates:
        return candidates[0]
    raise PostgresUnavailable(
        f"PostgreSQL's {name} is neither on PATH nor in {DEBIAN_BINARIES}: install PostgreSQL "
        "(Debian: apt-get install postgresql)"
    )


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A free loopback port (TCP, or ``kind``)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A throwaway cluster under ``root``; as root, its files and processes belong to the ``postgres`` user
    (initdb refuses to run as root)."""

    root: Path
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            initdb, "-D", str(self.data), "-U", USER, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"
        )
        options = " ".join(
            (
                "-c listen_addresses=127.0.0.1",
                f"-p {self.port}",
                f"-k {self.root}",
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                "-c max_connections=300",
            )
        )
        log = self.root / "postgres.log"
        try:
            self._run(
                pg_ctl, "-D", str(self.data), "-o", options, "-l", str(log), "-w", "-t", str(START_TIMEOUT), "start"
            )
        except PostgresUnavailable as exc:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(f"{exc}\n{tail}") from None

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(find_binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def _run(self, *argv: str) -> None:
        command = [_runuser(), "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT + 30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresUnavailable(f"{' '.join(command)}: {exc}") from exc
        if done.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")


def _runuser() -> str:
    # util-linux puts it in /usr/sbin, which a root shell has on PATH but a minimal environment may not
    for candidate in (shutil.which("runuser"), "/usr/sbin/runuser", "/sbin/runuser"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise PostgresUnavailable("runuser (util-linux) not found: needed to run initdb and pg_ctl as postgres")
