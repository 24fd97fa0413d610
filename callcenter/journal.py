"""Call records and ratings the store could not take when they happened: kept, and written when it is back, once.

A rating is a caller's (or an agent's) minute of attention, a call row the only record that a call happened; a
database locked by another process, a full disk or an unwritable file must throw neither away, nor hold the
caller in silence. The IVR routes (and the rating use case, for them) write calls and ratings through
``Recorder``: each write goes to the store (which waits ``[store] busy_timeout`` for a lock), and if the store
fails it is appended to a journal beside the database (fsync'd; in memory only if even that fails) and the call
goes on. A background task replays the journal
in order every few seconds until the store takes it. Once a call has a write in the journal, its later writes
queue behind it, so they land in the order they happened. Exactly once: every replayed write is one the store
ignores when it already happened (a known uniqueid, a call already answered or ended, a rating already stored
with the same scores), so a journal not yet trimmed when the service died does no harm.

Several workers (callcenter/workers/) share one store, and each keeps a journal of its own (``Journals``: worker 0's
is the single process's file, worker i's ``<stem>.w<i><suffix>``); a call's routes may run in different workers.
What another worker holds is read from its file (``PeerJournals``: it is fsync'd before the write is reported
journaled, so the file is never behind): a call with a write waiting in any journal queues its later writes behind
it in this one too, the replay writes a call's entries across all journals in the order they happened (then by
worker index), and the reaper leaves such a call open. At start each worker takes over its own file, and worker 0
also the files of workers that no longer exist (a run with more workers), so every file is replayed by exactly
one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, cast

import structlog

from callcenter.store import (
    Call,
    CallOutcome,
    Client,
    Direction,
    Evaluation,
    EvaluationRefused,
    StoreBusyError,
    StoreUnavailableError,
)
from callcenter.store.api import CallStore, EvaluationStore

log = structlog.get_logger(__name__)

RETRY_SECONDS = 2.0
# what the store says when it cannot take a write now but will later: only these are journaled; any other error
# is about the write itself (an unknown agent, a bad score) and would block the journal forever
TRANSIENT = (StoreBusyError, StoreUnavailableError)

Kind = Literal["start", "service", "queued", "answered", "ended", "rating", "unrate"]
KINDS: frozenset[str] = frozenset({"start", "service", "queued", "answered", "ended", "rating", "unrate"})


class RecorderStore(CallStore, EvaluationStore, Protocol):
    """What the recorder writes to."""


@dataclass(frozen=True, slots=True)
class Pending:
    """One write the store did not take: its kind, the call it belongs to, its arguments (JSON-able)."""

    kind: Kind
    call: str
    args: Mapping[str, Any]
    at: str  # ISO 8601, tz-aware: when it happened

    def when(self) -> datetime:
        return datetime.fromisoformat(self.at)

    def line(self) -> str:
        return json.dumps({"kind": self.kind, "call": self.call, "args": dict(self.args), "at": self.at}) + "\n"


@dataclass(frozen=True, slots=True)
class Journals:
    """The journal files of the workers sharing one store: worker 0's is ``base`` itself (what a single process has
    always used), worker i's ``<stem>.w<i><suffix>`` beside it (``callcenter.pending.w1.jsonl``)."""

    base: Path

    def of(self, index: int) -> Path:
        if index == 0:
            return self.base
        return self.base.with_name(f"{self.base.stem}.w{index}{self.base.suffix}")

    def existing(self) -> dict[int, Path]:
        """Every worker's journal file there is now, by worker index (0 first)."""
        pattern = re.compile(rf"{re.escape(self.base.stem)}\.w([1-9][0-9]*){re.escape(self.base.suffix)}")
        found = {0: self.base} if self.base.is_file() else {}
        with contextlib.suppress(OSError):
            for path in self.base.parent.iterdir():
                if (m := pattern.fullmatch(path.name)) is not None and path.is_file():
                    found[int(m[1])] = path
        return dict(sorted(found.items()))


def take_over(journals: Journals, index: int, workers: int) -> list[Pending]:
    """What worker ``index`` of ``workers`` replays at start: its own journal, and for worker 0 also the journals of
    workers that no longer exist (index >= workers), moved into its own file first (written and fsync'd before the
    old files go: a crash in between leaves an entry in two files, and the replay writes each once anyway)."""
    own = journals.of(index)
    pending = load_journal(own)
    if index != 0:
        return pending
    orphans = {i: path for i, path in journals.existing().items() if i >= workers}
    if not orphans:
        return pending
    for path in orphans.values():
        pending.extend(load_journal(path))
    # each file is in time order; merged, a call's entries must stay in the order they happened
    pending.sort(key=Pending.when)
    _write_lines(own, pending)
    for i, path in orphans.items():
        path.unlink(missing_ok=True)
        log.warning("journal_taken_over", worker=i, journal=str(path), into=str(own))
    return pending


# (when, worker index): the order in which a call's journaled writes are replayed, whichever worker holds them
Turn = tuple[datetime, int]


class PeerJournals:
    """What the other workers' journals hold, per call: read from their files when they exist (one ``stat`` per
    worker otherwise), parsed again only when a file changed."""

    def __init__(self, journals: Journals, index: int, workers: int) -> None:
        self.index = index
        self._paths = {i: journals.of(i) for i in range(workers) if i != index}
        self._seen: dict[int, tuple[tuple[int, int, int], dict[str, tuple[Turn, frozenset[str]]]]] = {}

    def _calls(self) -> dict[str, tuple[Turn, frozenset[str]]]:
        held: dict[str, tuple[Turn, frozenset[str]]] = {}
        for i, path in self._paths.items():
            try:
                st = path.stat()
            except OSError:
                self._seen.pop(i, None)
                continue
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            cached = self._seen.get(i)
            if cached is None or cached[0] != stamp:
                cached = (stamp, _by_call(_read_quietly(path), i))
                self._seen[i] = cached
            for call, (turn, kinds) in cached[1].items():
                known = held.get(call)
                held[call] = (turn, kinds) if known is None else (min(known[0], turn), known[1] | kinds)
        return held

    def holds(self, call: str, kind: Kind | None = None) -> bool:
        found = self._calls().get(call)
        return found is not None and (kind is None or kind in found[1])

    def first_turn(self, call: str) -> Turn | None:
        """When the earliest write of ``call`` waiting in another worker's journal happened (and that worker)."""
        found = self._calls().get(call)
        return None if found is None else found[0]


def _read_quietly(path: Path) -> list[Pending]:
    """Another worker's journal as it is now; a line being written or unreadable is skipped (its owner sets it
    aside, not us)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    entries = []
    for line in lines:
        with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
            entries.append(_parse(line))
    return entries


def _by_call(entries: Sequence[Pending], index: int) -> dict[str, tuple[Turn, frozenset[str]]]:
    held: dict[str, tuple[Turn, frozenset[str]]] = {}
    for e in entries:
        known = held.get(e.call)
        turn = (e.when(), index)
        held[e.call] = (turn, frozenset({e.kind})) if known is None else (min(known[0], turn), known[1] | {e.kind})
    return held


class Recorder:
    def __init__(
        self,
        store: RecorderStore,
        journal: Path | None,
        *,
        on_stored: Callable[[Evaluation], Awaitable[None]] | None = None,
        retry: float = RETRY_SECONDS,
        pending: Sequence[Pending] = (),
        peers: PeerJournals | None = None,
    ) -> None:
        """``pending``: what a previous run left in ``journal`` (``take_over``), replayed first. ``peers``: the
        other workers' journals, when several share the store."""
        self.store = store
        self.journal = journal
        self.on_stored = on_stored
        self.retry = retry
        self.peers = peers
        self.index = 0 if peers is None else peers.index
        self._pending: list[Pending] = list(pending)
        self._wake = asyncio.Event()
        if self._pending:
            self._wake.set()
        self._lock = asyncio.Lock()

    @property
    def count(self) -> int:
        return len(self._pending)

    def waiting(self, call: str, kind: Kind | None = None) -> bool:
        """Whether ``call`` has a write (of ``kind``) in the journal, this worker's or another's."""
        if any(p.call == call and kind in (None, p.kind) for p in self._pending):
            return True
        return self.peers is not None and self.peers.holds(call, kind)

    def _behind_peer(self, entry: Pending) -> bool:
        """Whether an earlier write of the entry's call waits in another worker's journal (it goes first)."""
        if self.peers is None:
            return False
        first = self.peers.first_turn(entry.call)
        return first is not None and first < (entry.when(), self.index)

    # ---- the writes the IVR makes -- ---------------------------------------------------------------------------

    async def start_call(
        self, uniqueid: str, linkedid: str, number: str | None, now: datetime
    ) -> tuple[Client | None, Call | None]:
        """The caller's client (None: withheld, or the store is down) and the new call row (None: journaled)."""
        if not self.waiting(uniqueid):
            try:
                client = await self.store.client_for_number(number, now)
                call = await self.store.start_call(uniqueid, linkedid, client.id if client else None, None, now)
            except TRANSIENT as exc:
                log.warning("call_start_deferred", error=str(exc))
            else:
                return client, call
        # the caller is served as a stranger this once (no reputation, reminder or ratings menu without the store)
        self._keep(Pending("start", uniqueid, {"linkedid": linkedid, "number": number}, now.isoformat()))
        return None, None

    async def set_call_service(self, uniqueid: str, service: str, now: datetime) -> None:
        await self._write("service", uniqueid, {"service": service}, now)

    async def call_queued(self, uniqueid: str, queue: str, now: datetime) -> None:
        await self._write("queued", uniqueid, {"queue": queue}, now)

    async def call_answered(self, uniqueid: str, agent: str, now: datetime) -> Call | None:
        return cast("Call | None", await self._write("answered", uniqueid, {"agent": agent}, now))

    async def call_ended(self, uniqueid: str, outcome: CallOutcome, now: datetime) -> Call | None:
        return cast("Call | None", await self._write("ended", uniqueid, {"outcome": outcome}, now))

    async def record_evaluation(
        self, call: str, direction: Direction, scores: Mapping[str, int], actor: str, now: datetime
    ) -> Evaluation | None:
        """The stored evaluation, or None when it was journaled (EvaluationRefused propagates: the rules said no)."""
        args = {"direction": direction, "scores": dict(scores), "actor": actor}
        return cast("Evaluation | None", await self._write("rating", call, args, now))

    async def delete_evaluation(
        self, call: str, direction: Direction, actor: str, reason: str, now: datetime
    ) -> Evaluation | None:
        """The deleted evaluation, or None (nothing to delete, or journaled: ``waiting(call, "unrate")`` tells).

        Journaled like a rating, and behind it: a rater who deletes a rating still in the journal must not see it
        come back when the journal is replayed."""
        args = {"direction": direction, "actor": actor, "reason": reason}
        return cast("Evaluation | None", await self._write("unrate", call, args, now))

    async def _write(self, kind: Kind, call: str, args: Mapping[str, Any], now: datetime) -> Any:
        entry = Pending(kind, call, args, now.isoformat())
        if not self.waiting(call):
            try:
                return await self._apply(entry)
            except TRANSIENT as exc:
                log.warning("store_write_deferred", kind=kind, call=call, error=str(exc))
        self._keep(entry)
        return None

    async def _apply(self, entry: Pending) -> Any:
        if entry.kind in {"rating", "unrate"}:
            return await self._evaluation(entry)
        return await self._call_row(entry)

    async def _call_row(self, entry: Pending) -> Call | None:
        s, a, when, call = self.store, entry.args, entry.when(), entry.call
        if entry.kind == "start":
            client = await s.client_for_number(a["number"], when)
            return await s.start_call(call, a["linkedid"], client.id if client else None, None, when)
        if entry.kind == "service":
            return await s.set_call_service(call, a["service"])
        if entry.kind == "queued":
            return await s.call_queued(call, a["queue"], when)
        if entry.kind == "answered":
            return await s.call_answered(call, a["agent"], when)
        return await s.call_ended(call, a["outcome"], when)

    async def _evaluation(self, entry: Pending) -> Evaluation | None:
        a, when, call = entry.args, entry.when(), entry.call
        if entry.kind == "unrate":
            return await self.store.delete_evaluation(call, a["direction"], a["actor"], a["reason"], when)
        return await self._rate(call, a, when)

    async def _rate(self, call: str, a: Mapping[str, Any], when: datetime) -> Evaluation:
        stored = await self.store.get_evaluation(call, a["direction"])
        if (
            stored is not None
            and stored.deleted_at is None
            and dict(stored.scores) == a["scores"]
            and stored.updated_at >= when
        ):
            return stored  # written before the journal was trimmed: not twice
        return await self.store.record_evaluation(call, a["direction"], a["scores"], a["actor"], when)

    # ---- the journal ---------------------------------------------------------------------------------------

    def load(self) -> None:
        """Take over what a previous run kept (it died before the store was back)."""
        self._pending.extend(load_journal(self.journal))
        if self._pending:
            self._wake.set()

    def _keep(self, entry: Pending) -> None:
        # in the list before any await: a later write of the same call, even from another leg, queues behind it
        self._pending.append(entry)
        try:
            # a few hundred bytes and an fsync on the event loop: rare (the store failed), and keeping the order
            # of the file equal to the list's matters more than a millisecond
            self._append(entry)
        except OSError as exc:
            # the disk is what failed: kept in memory, still written when the store is back
            log.error("journal_not_written", kind=entry.kind, call=entry.call, error=str(exc))  # noqa: TRY400
        log.warning("write_journaled", kind=entry.kind, call=entry.call, pending=len(self._pending))
        self._wake.set()

    def _reject(self, line: str, why: str) -> None:
        _set_aside(self.journal, line, why)

    async def run(self) -> None:
        """Replay the journal whenever it has something, every ``retry`` seconds, until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                try:
                    if await self.flush():
                        break
                except Exception:
                    # nothing may stop the replay for good: log it, try again in a while
                    log.exception("journal_replay_failed")
                await asyncio.sleep(self.retry)

    async def flush(self) -> bool:
        """Replay what is pending, in order; True when nothing is left."""
        async with self._lock:
            kept: list[Pending] = []  # still to write, in order
            # calls with an entry still waiting: their later entries wait too (a call's writes stay in order), but
            # another call's go on (a worker that cannot restart must not hold back every other call's writes)
            waiting: set[str] = set()
            changed = False
            for index, entry in enumerate(self._pending):
                if entry.call in waiting or self._behind_peer(entry):
                    log.info("journal_replay_waits", kind=entry.kind, call=entry.call, error="another worker first")
                    waiting.add(entry.call)
                    kept.append(entry)
                    continue
                try:
                    result = await self._apply(entry)
                except EvaluationRefused as exc:
                    # the rules have changed their mind (an operator removed it meanwhile): nothing to retry
                    log.warning("journaled_rating_refused", call=entry.call, reason=str(exc.reason))
                except TRANSIENT as exc:
                    # the store cannot take writes now: nothing further is tried until the next round
                    log.info("journal_replay_waits", kind=entry.kind, call=entry.call, error=str(exc))
                    kept.extend(self._pending[index:])
                    break
                except Exception as exc:
                    # about the write itself (an agent the roster lost, a bad argument): it never will be written
                    self._reject(entry.line().rstrip("\n"), repr(exc))
                else:
                    log.info("journaled_write_stored", kind=entry.kind, call=entry.call)
                    # a rating, or its deletion, the store took late moves the agent's penalty like any other
                    if entry.kind in {"rating", "unrate"} and isinstance(result, Evaluation) and self.on_stored:
                        await self.on_stored(result)
                changed = True
            self._pending = kept
            if changed:
                with contextlib.suppress(OSError):
                    self._rewrite(self._pending)
            return not self._pending

    def _append(self, entry: Pending) -> None:
        if self.journal is None:  # memory only
            return
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        with self.journal.open("a") as f:
            f.write(entry.line())
            f.flush()
            os.fsync(f.fileno())

    def _rewrite(self, left: list[Pending]) -> None:
        if self.journal is None:
            return
        if not left:
            self.journal.unlink(missing_ok=True)
            return
        _write_lines(self.journal, left)


def _write_lines(journal: Path, entries: Sequence[Pending]) -> None:
    """Replace ``journal`` with ``entries``, atomically (written beside it, fsync'd, renamed over it)."""
    journal.parent.mkdir(parents=True, exist_ok=True)
    tmp = journal.with_name(journal.name + ".tmp")
    with tmp.open("w") as f:
        f.write("".join(e.line() for e in entries))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, journal)


def load_journal(journal: Path | None) -> list[Pending]:
    """What a previous run kept in ``journal`` (it died before the store was back), in order; a line that cannot
    be read is set aside (``.rejected``)."""
    if journal is None:
        return []
    try:
        lines = journal.read_text().splitlines()
    except FileNotFoundError:
        return []
    pending = []
    for line in lines:
        try:
            entry = _parse(line)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            _set_aside(journal, line.rstrip("\n"), f"unreadable: {exc}")
            continue
        pending.append(entry)
    if pending:
        log.warning("journal_loaded", count=len(pending), journal=str(journal))
    return pending


def _set_aside(journal: Path | None, line: str, why: str) -> None:
    """Set aside a journal line that can never be written (kept for an operator, out of the replay's way)."""
    log.error("journal_entry_rejected", why=why, line=line[:300])
    if journal is None:
        return
    with contextlib.suppress(OSError), journal.with_name(journal.name + ".rejected").open("a") as f:
        f.write(line + "\n")


def _parse(line: str) -> Pending:
    """One journal line; ValueError (or KeyError, TypeError) for anything a replay could not write."""
    raw = json.loads(line)
    entry = Pending(raw["kind"], str(raw["call"]), dict(raw["args"]), str(raw["at"]))
    if entry.kind not in KINDS:
        raise ValueError(f"unknown kind {entry.kind!r}")
    entry.when()
    return entry
