"""placeholder"""

from __future__ import annotations

from pathlib import Path

from bench.figures import Targets


async def classic(directory: Path, *, targets: Targets) -> None:
    raise NotImplementedError


async def asterisk_load(directory: Path, *, targets: Targets) -> None:
    raise NotImplementedError
