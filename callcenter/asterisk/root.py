"""The private Asterisk 22 root: Debian sid's packages unpacked by mmdebstrap, built once and cached.

Debian 12 has no asterisk package; sid has 22.x. The root is built outside the git tree (default
/var/cache/callcenter/asterisk-root) and shared by `make run`, the tests and CI on the same machine.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

PACKAGES = ("asterisk", "asterisk-modules", "asterisk-core-sounds-en-gsm", "asterisk-moh-opsound-gsm")
ASTERISK_BIN = "/usr/sbin/asterisk"
BUILD_TIMEOUT = 900.0


class RootError(Exception):
    """The Asterisk root is missing or unusable; the message says how to fix it."""


STAMP = ".callcenter-packages"


async def ensure_root(root: Path) -> str:
    """Return the Asterisk version in ``root``, (re)building the root if it is missing or has other packages."""
    stamp = root / STAMP
    if not stamp.exists() or stamp.read_text().split() != list(PACKAGES):
        if root.exists():
            log.info("asterisk_root_stale", root=str(root), wanted=PACKAGES)
            shutil.rmtree(root)
        await build_root(root)
    refresh_hosts(root)
    version = await asterisk_version(root)
    if not version.startswith("Asterisk 22"):
        raise RootError(f"{root} holds {version!r}, callcenter needs Asterisk 22: delete the root to rebuild it")
    return version


async def build_root(root: Path) -> None:
    if shutil.which("mmdebstrap") is None:
        raise RootError("mmdebstrap is not installed: `apt-get install mmdebstrap` (see .ci/run)")
    tmp = root.with_name(root.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    root.parent.mkdir(parents=True, exist_ok=True)
    log.info("asterisk_root_build", root=str(root), packages=PACKAGES)
    proc = await asyncio.create_subprocess_exec(
        "mmdebstrap",
        "--variant=apt",
        # the package mirror serves a snapshot whose sid Release file has expired
        '--aptopt=Acquire::Check-Valid-Until "false"',
        f"--include={','.join(PACKAGES)}",
        "sid",
        str(tmp),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(BUILD_TIMEOUT):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RootError(f"mmdebstrap did not finish in {BUILD_TIMEOUT:.0f} s") from None
    if proc.returncode != 0:
        tail = out.decode(errors="replace").strip().splitlines()[-15:]
        raise RootError("mmdebstrap failed:\n" + "\n".join(tail))
    (tmp / STAMP).write_text("\n".join(PACKAGES) + "\n")
    # rename last, so an interrupted build is never taken for a usable root
    tmp.rename(root)
    log.info("asterisk_root_built", root=str(root))


def refresh_hosts(root: Path) -> None:
    # without the host's /etc/hosts, Asterisk's own-address lookup goes to DNS for the hostname and stalls
    hosts = Path("/etc/hosts")
    if hosts.exists():
        shutil.copyfile(hosts, root / "etc/hosts")


async def asterisk_version(root: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        "chroot",
        str(root),
        ASTERISK_BIN,
        "-V",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RootError(f"cannot run Asterisk in {root}: {err.decode(errors='replace').strip()} (are you root?)")
    return out.decode().strip()
