"""The printed output: a header saying what was measured where, then one table per IVR step."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.timing import Stats, format_duration, format_rate

_COLUMNS = ("step", "sizes", "ops", "mean", "median", "p95", "ops/s")


@dataclass(frozen=True, slots=True)
class Row:
    step: str
    sizes: str
    stats: Stats


@dataclass(slots=True)
class Section:
    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, step: str, sizes: str, stats: Stats) -> None:
        row = Row(step, sizes, stats)
        self.rows.append(row)
        # printed as measured, so a slow machine shows progress (and a cut-short run still shows something)
        print(_format_cells(_cells(row)), flush=True)

    def begin(self, *, columns: bool = True) -> None:
        print(f"\n== {self.title}", flush=True)
        if columns:
            print(_format_cells(_COLUMNS), flush=True)

    def end(self) -> None:
        for note in self.notes:
            print(f"   note: {note}")
        sys.stdout.flush()


def _cells(row: Row) -> tuple[str, ...]:
    s = row.stats
    return (
        row.step,
        row.sizes,
        str(s.ops),
        format_duration(s.mean_ns),
        format_duration(s.median_ns),
        format_duration(s.p95_ns),
        format_rate(s.ops_per_s),
    )


# Fixed widths: rows are printed as they are measured, before the longest one is known.
_WIDTHS = (38, 28, 6, 10, 10, 10, 10)


def _format_cells(cells: Sequence[str]) -> str:
    left = [f"{cell:<{width}}" for cell, width in zip(cells[:2], _WIDTHS[:2], strict=True)]
    right = [f"{cell:>{width}}" for cell, width in zip(cells[2:], _WIDTHS[2:], strict=True)]
    return "  ".join([*left, *right]).rstrip()


def filesystem_of(path: Path) -> str:
    """The filesystem type holding ``path`` (ext4, tmpfs, ...) from /proc/self/mounts; "unknown" elsewhere."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return "unknown"
    target = str(path.resolve())
    best, kind = "", "unknown"
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount = parts[1].replace("\\040", " ")
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) > len(best):
            best, kind = mount, parts[2]
    return kind


def print_header(directory: Path, *, quick: bool) -> None:
    total = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else total
    print("callcenter benchmark: cost of each IVR step, and how it grows with agents, callers and ratings")
    print(f"  python  {platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    print(f"  sqlite  {sqlite3.sqlite_version} (aiosqlite: one connection, one worker thread, writes behind a lock)")
    print(
        f"  machine {platform.machine()}, {usable} core(s) usable of {total}, {platform.system()} {platform.release()}"
    )
    print(
        f"  store   temp on-disk SQLite database, WAL journal, synchronous=NORMAL, in {directory} "
        f"({filesystem_of(directory)}); deleted at the end"
    )
    print("  seed    roster via sync_roster; clients, calls, evaluations bulk-inserted with their audit rows and")
    print("          running totals, then proved consistent by check_invariants() before anything is measured;")
    print("          measured steps add rows as they go (a few thousand at most): sizes are the seeded counts")
    print("  clock   time.perf_counter_ns per operation, after warm-up; mean / median / p95 (nearest rank)")
    print("  logs    production structlog JSON at level info, written to /dev/null (formatting cost included)")
    print(
        f"  mode    {'--quick: smaller sizes, short budgets (a smoke run, not numbers to quote)' if quick else 'full'}"
    )
    print("  sizes   agents = roster, all serving the offered service; clients = known caller numbers;")
    print("          ratings = stored evaluations (half callers rating agents, half agents rating callers)")
