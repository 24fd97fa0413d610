"""Ratings the store could not take when the caller gave them: kept, and written when the store is back, once.

A rating is a caller's (or an agent's) minute of attention; a database locked by another process, a full disk or
an unwritable file must not throw it away. The keys are kept on disk first (an append-only journal beside the
database, fsync'd; in memory only if even that fails), the caller hears the usual read-back at once, and a
background task writes the journal into the store every few seconds until it takes them. Exactly once: a journal
entry whose evaluation the store already holds with the same scores (the write went through, the journal was not
yet trimmed when the service died) is dropped, not written again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import structlog

from callcenter.store import Direction, Evaluation, EvaluationRefused, StoreError
from callcenter.store.api import EvaluationStore

log = structlog.get_logger(__name__)

RETRY_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class PendingRating:
    call: str
    direction: Direction
    scores: Mapping[str, int]
    actor: str
    at: str  # ISO 8601, tz-aware: when the rater gave it

    def given_at(self) -> datetime:
        return datetime.fromisoformat(self.at)


class PendingRatings:
    def __init__(
        self,
        store: EvaluationStore,
        journal: Path,
        *,
        on_stored: Callable[[Evaluation], Awaitable[None]] | None = None,
        retry: float = RETRY_SECONDS,
    ) -> None:
        self.store = store
        self.on_stored = on_stored
        self.journal = journal
        self.retry = retry
        self._pending: list[PendingRating] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.written = 0

    @property
    def count(self) -> int:
        return len(self._pending)

    def load(self) -> None:
        """Take over what a previous run kept (it died before the store was back)."""
        try:
            lines = self.journal.read_text().splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                entry = json.loads(line)
                self._pending.append(PendingRating(**entry))
            except (ValueError, TypeError):
                log.error("pending_rating_unreadable", journal=str(self.journal), line=line[:200])  # noqa: TRY400 - a bad line, no traceback to show
        if self._pending:
            log.warning("pending_ratings_loaded", count=len(self._pending), journal=str(self.journal))
            self._wake.set()

    async def keep(self, rating: PendingRating) -> None:
        """Keep ``rating`` until the store takes it (the caller's keys are safe once this returns)."""
        async with self._lock:
            self._pending.append(rating)
            try:
                await asyncio.to_thread(self._append, rating)
            except OSError as exc:
                # the disk is what failed: keep it in memory, still written when the store is back
                log.error("pending_rating_not_journaled", call=rating.call, error=str(exc))  # noqa: TRY400
        log.warning("rating_deferred", call=rating.call, direction=rating.direction, pending=len(self._pending))
        self._wake.set()

    async def run(self) -> None:
        """Write what is pending whenever there is something, every ``retry`` seconds, until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                if not await self.flush():
                    await asyncio.sleep(self.retry)

    async def flush(self) -> bool:
        """Try to write everything pending; True when nothing is left."""
        async with self._lock:
            left: list[PendingRating] = []
            for rating in self._pending:
                try:
                    await self._write(rating)
                except EvaluationRefused as exc:
                    # the rules have changed their mind (an operator removed it meanwhile): nothing to retry
                    log.warning("pending_rating_refused", call=rating.call, reason=str(exc.reason))
                except StoreError as exc:
                    left.append(rating)
                    log.info("pending_rating_retry", call=rating.call, error=str(exc))
            self._pending = left
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self._rewrite, left)
            return not left

    async def _write(self, rating: PendingRating) -> None:
        stored = await self.store.get_evaluation(rating.call, rating.direction)
        if (
            stored is not None
            and stored.deleted_at is None
            and dict(stored.scores) == dict(rating.scores)
            and stored.updated_at >= rating.given_at()
        ):
            return  # written before the journal was trimmed: not twice
        evaluation = await self.store.record_evaluation(
            rating.call, rating.direction, rating.scores, rating.actor, rating.given_at()
        )
        self.written += 1
        log.info("pending_rating_stored", call=rating.call, direction=rating.direction, evaluation=evaluation.id)
        if self.on_stored is not None:
            await self.on_stored(evaluation)

    def _append(self, rating: PendingRating) -> None:
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        with self.journal.open("a") as f:
            f.write(json.dumps(asdict(rating) | {"scores": dict(rating.scores)}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _rewrite(self, left: list[PendingRating]) -> None:
        if not left:
            self.journal.unlink(missing_ok=True)
            return
        tmp = self.journal.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(asdict(r) | {"scores": dict(r.scores)}) + "\n" for r in left))
        os.replace(tmp, self.journal)
