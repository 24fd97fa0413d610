"""CPU time and peak memory of a process and all its descendants, from /proc (Linux).

The service may run as several processes (issue 13, item 2): what it costs is the sum over its whole tree,
including children that already exited and were waited for (``cutime``/``cstime`` of their parent).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # fields after "(comm)": comm may hold spaces and parentheses
    return text[text.rindex(")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (by walking /proc/*/stat's parent ids)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of the tree: live processes' own, plus their waited-for children's."""
    total = 0
    for p in descendants(pid):
        fields = _stat(p)
        if fields is not None:
            # utime stime cutime cstime: fields 14-17 of stat, 11-14 here
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / _TICK


def _status_kb(pid: int, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_peaks(pid: int) -> None:
    """Start a new peak-RSS window for the tree (writing 5 to clear_refs resets VmHWM; root or the owner)."""
    for p in descendants(pid):
        with contextlib.suppress(OSError):
            Path(f"/proc/{p}/clear_refs").write_text("5")


def tree_peak_rss_mb(pid: int) -> float:
    """The sum of each process's peak RSS (VmHWM) since ``reset_peaks``: an upper bound of the tree's peak."""
    return sum(_status_kb(p, "VmHWM") for p in descendants(pid)) / 1024


@dataclass
class Window:
    """CPU seconds and peak memory of one process tree over a measured window."""

    pid: int
    cpu_start: float = 0.0
    cpu: float = 0.0
    peak_mb: float = 0.0

    def begin(self) -> None:
        reset_peaks(self.pid)
        self.cpu_start = tree_cpu(self.pid)

    def end(self) -> None:
        self.cpu = tree_cpu(self.pid) - self.cpu_start
        self.peak_mb = tree_peak_rss_mb(self.pid)
