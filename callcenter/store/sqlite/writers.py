"""The queue of writers across processes on one SQLite file: an advisory ``flock`` taken before ``BEGIN IMMEDIATE``.

Why: SQLite's busy handler polls. A ``BEGIN IMMEDIATE`` that finds the write lock taken sleeps 1, 2, 5, 10, 15,
20, 25 ... ms before it tries again, and nothing wakes it when the lock is released. With several service
processes on one database (``[service] workers``) the calls' write transactions collide all the time, and a loser
sleeps on after the lock is free, holding its process's only connection (and so that process's reads) meanwhile.
A lock on a side file queues the cooperating writers in the kernel instead, which wakes the next one the moment
the holder commits. Measured with ``python -m bench.cores`` (two workers, 4 and 8 callers, interleaved runs): 76-81
calls/s and 1.1 cores used without it, 82-98 calls/s and 1.25 cores with it.

SQLite's own lock stays the truth. A process that does not take this lock (the ``sqlite3`` shell, a backup) is
still kept out by ``BEGIN IMMEDIATE`` and the busy timeout, and this lock only decides the order among the
processes that do.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import threading
import time
from collections.abc import AsyncIterator
from typing import Final

import structlog

log = structlog.get_logger(__name__)

SUFFIX: Final = "-writers.lock"


class WriterQueue:
    """``async with queue.turn(timeout):`` holds the database's writer lock for one transaction."""

    def __init__(self, database_path: str) -> None:
        self.database = database_path
        self.path = database_path + SUFFIX
        self._owner_checked = False
        # waiting threads a timed-out turn left behind: while one still waits, a new turn does not start another
        # (a wedged holder would otherwise cost a thread and a descriptor per busy timeout, without end)
        self._strays = 0
        self._strays_lock = threading.Lock()
        self._warned = False

    @contextlib.asynccontextmanager
    async def turn(self, timeout: float) -> AsyncIterator[bool]:
        """Yields True once this process holds the lock; False if it was not free within ``timeout`` seconds
        (then the caller's BEGIN IMMEDIATE waits in SQLite's busy handler as it would without this queue, and
        reports a stuck writer the usual way)."""
        # A file descriptor per turn, not one per database: flock belongs to the open file description, and a
        # waiting thread left behind by a timeout must not be able to release (or re-enter) a later turn's lock.
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            # advisory only: a lock file this user cannot open (made by root, a read-only directory, no
            # descriptors left) must not fail a write that SQLite itself would take
            self._warn(exc)
            yield False
            return
        try:
            self._own(fd)
            held = _try(fd)
        except OSError as exc:
            os.close(fd)
            self._warn(exc)
            yield False
            return
        except BaseException:
            os.close(fd)
            raise
        if not held and not await self._wait(fd, timeout):
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    async def _wait(self, fd: int, timeout: float) -> bool:
        """Block in a thread until the lock is ours: True, and the caller releases it and closes ``fd``. Otherwise
        (False on a timeout, or the cancellation or error raised) ``fd`` is taken care of here: a thread still
        waiting is left to finish alone, and if it ever gets the lock it releases it at once and closes ``fd``."""
        with self._strays_lock:
            strays = self._strays
        if strays:
            # a thread left behind still waits: no second one; try again on the loop until the timeout (it lets go
            # the moment it gets the lock)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                await asyncio.sleep(0.002)
                if _try(fd):
                    return True
            os.close(fd)
            return False
        loop = asyncio.get_running_loop()
        settled: asyncio.Future[None] = loop.create_future()
        state = threading.Lock()
        outcome: list[OSError | None] = []  # the thread's result, once it is done with flock
        abandoned = False

        def wait() -> None:
            error: OSError | None = None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                error = exc
            with state:
                if abandoned:
                    if error is None:
                        fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
                    with self._strays_lock:
                        self._strays -= 1
                    return
                outcome.append(error)
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting
                loop.call_soon_threadsafe(_settle, settled)

        threading.Thread(target=wait, name="callcenter-sqlite-writers", daemon=True).start()
        try:
            await asyncio.wait_for(settled, timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            with state:
                abandoned = not outcome
                if abandoned:
                    with self._strays_lock:
                        self._strays += 1
            if abandoned:
                if isinstance(exc, asyncio.CancelledError):
                    raise
                return False
            if isinstance(exc, asyncio.CancelledError):  # the thread got there just as the wait ended
                if outcome[0] is None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                raise
        if outcome[0] is not None:
            os.close(fd)
            self._warn(outcome[0])
            return False
        return True

    def _own(self, fd: int) -> None:
        """Run as root (``db migrate``, ``agents sync`` by an operator), give the lock file the database file's
        owner, as SQLite does for its -wal and -shm files: else the service's user could not open it."""
        if self._owner_checked:
            return
        self._owner_checked = True
        if os.geteuid() != 0:
            return
        with contextlib.suppress(OSError):
            database = os.stat(self.database)
            mine = os.fstat(fd)
            if (mine.st_uid, mine.st_gid) != (database.st_uid, database.st_gid):
                os.fchown(fd, database.st_uid, database.st_gid)

    def _warn(self, exc: OSError) -> None:
        if not self._warned:  # once per database handle: every write would say it again
            self._warned = True
            log.warning("sqlite_writers_queue_unusable", path=self.path, error=str(exc))


def _try(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    return True


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
