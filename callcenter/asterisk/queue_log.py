"""Asterisk's queue_log as evidence of what happened to a call while nobody else was recording it.

app_queue writes one line per event, ``epoch|uniqueid|queue|agent|EVENT|data1|data2|...``, whatever the service
is doing (reporting tools such as Asternic and QueueMetrics read the same file). With ``log_membername_as_agent``
(queues.conf) the agent field is the member name, our agent id. The reaper reads it for calls the service lost
track of: who answered (CONNECT) and when the call ended (COMPLETECALLER / COMPLETEAGENT / ABANDON / EXIT...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# What a reaper needs at most: the file grows forever, the calls in question are recent.
TAIL_BYTES = 16 * 1024 * 1024
# the call itself ended: after a bridge (COMPLETE*) or while waiting (ABANDON). EXITWITHTIMEOUT, EXITEMPTY and
# EXITWITHKEY are not: the caller left that queue and the call went on (another agent, another queue)
ENDS = frozenset({"COMPLETECALLER", "COMPLETEAGENT", "ABANDON"})
# epochs from before Asterisk 22 existed or far ahead: a damaged line, not a time
SANE_EPOCHS = range(1_500_000_000, 4_000_000_000)


@dataclass(frozen=True, slots=True)
class QueueHistory:
    """What queue_log says of one call (its caller's uniqueid)."""

    answered_by: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None


def parse(lines: Iterable[str], uniqueids: Iterable[str]) -> dict[str, QueueHistory]:
    """The history of each of ``uniqueids`` found in ``lines``; malformed lines are skipped."""
    wanted = set(uniqueids)
    found: dict[str, QueueHistory] = {}
    for line in lines:
        fields = line.rstrip("\n").split("|")
        if len(fields) < 5 or fields[1] not in wanted:
            continue
        try:
            epoch = int(fields[0])
        except ValueError:
            continue
        if epoch not in SANE_EPOCHS:
            continue
        at = datetime.fromtimestamp(epoch, UTC)
        uid, agent, name = fields[1], fields[3], fields[4]
        seen = found.get(uid, QueueHistory())
        if name == "CONNECT" and agent.isdigit() and seen.answered_at is None:
            found[uid] = QueueHistory(agent, at, seen.ended_at)
        elif name in ENDS:
            found[uid] = QueueHistory(seen.answered_by, seen.answered_at, at)
    return found


def read_history(path: Path, uniqueids: Iterable[str]) -> Mapping[str, QueueHistory]:
    """``parse`` over the last TAIL_BYTES of the file at ``path``; nothing if there is no such file."""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - TAIL_BYTES))
            data = f.read()
    except OSError:
        return {}
    text = data.decode("utf-8", errors="replace")
    if size > TAIL_BYTES:
        text = text.partition("\n")[2]  # the first line was cut in the middle
    return parse(text.splitlines(), uniqueids)
