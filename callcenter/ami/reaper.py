"""Closing the call rows nobody else will close: calls that lasted while the service (or Asterisk) was gone.

A call row is closed by the caller's hangup handler (FastAGI route ``call-end``). If the service was down or
killed when the caller hung up, or Asterisk itself died, the row stays open forever. On start and every
``[journey] reap_interval`` seconds the reaper asks Asterisk which channels exist (AMI Status); a call
whose channel is gone in two scans in a row (so a hangup handler still running wins) is closed as
``interrupted``. What Asterisk's queue_log says of it fills in the rest: the agent who answered and when (so the
call's ratings stay owed to both sides: the caller's reminder, the agent's review list) and when it ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from callcenter.ami.link import AMIError, AMILink
from callcenter.asterisk.queue_log import QueueHistory, read_history
from callcenter.store import Call, UnknownReferenceError
from callcenter.store.api import CallStore

log = structlog.get_logger(__name__)

# A call younger than this is never a candidate: its first AGI may not even have written the channel's state yet.
MIN_AGE = timedelta(seconds=10)


class CallReaper:
    def __init__(
        self,
        store: CallStore,
        ami: AMILink,
        queue_log: Path,
        clock: Callable[[], datetime],
        *,
        interval: float,
        journaled: Callable[[str], bool] = lambda _: False,
        node: str | None = None,
    ) -> None:
        """``node``: on a cluster's node, only the calls of this Asterisk (their uniqueids start with its
        systemname): the other nodes' calls are never on this Asterisk's channel list."""
        self.node = node
        self.store = store
        # calls with writes still in the journal (callcenter/journal.py): their end is known, only not stored yet
        self.journaled = journaled
        self.ami = ami
        self.queue_log = queue_log
        self.clock = clock
        self.interval = interval
        # calls whose channel was already missing at the previous scan, and since when
        self._missing: dict[str, datetime] = {}

    async def run(self) -> None:
        """Scan now and then every ``interval`` seconds, until cancelled; a failed scan is logged and retried."""
        while True:
            try:
                await self.reap_once()
            except (AMIError, OSError) as exc:
                log.warning("reap_failed", error=str(exc))
            except Exception:
                # the reaper must outlive anything one scan runs into (a store error is the store's to report)
                log.exception("reap_failed")
            await asyncio.sleep(self.interval)

    async def reap_once(self) -> list[Call]:
        """One scan; the calls it closed."""
        if not self.ami.connected:
            return []  # without Asterisk's word nothing is known to be gone
        now = self.clock()
        candidates = [
            c
            for c in await self.store.open_calls(started_before=now - MIN_AGE, node=self.node)
            if not self.journaled(c.uniqueid)
        ]
        live = await self.live_channels() if candidates else set()
        log.debug("reap_scan", candidates=len(candidates), live=len(live), missing=len(self._missing))
        gone = {c.uniqueid: self._missing.get(c.uniqueid, now) for c in candidates if c.uniqueid not in live}
        confirmed = [c for c in candidates if c.uniqueid in self._missing and c.uniqueid in gone]
        self._missing = {uid: since for uid, since in gone.items() if uid not in {c.uniqueid for c in confirmed}}
        if not confirmed:
            return []
        history = await asyncio.to_thread(read_history, self.queue_log, [c.uniqueid for c in confirmed])
        closed: list[Call] = []
        for call in confirmed:
            try:
                closed.append(await self._close(call, history.get(call.uniqueid, QueueHistory()), gone[call.uniqueid]))
            except Exception:
                # one call the store will not close (an agent queue_log names but the roster lost) must not keep
                # the others open: logged, and tried again at the next scans
                log.exception("call_not_reaped", call=call.uniqueid)
        return closed

    async def _close(self, call: Call, history: QueueHistory, missing_since: datetime) -> Call:
        if call.answered_at is None and history.answered_by is not None and history.answered_at is not None:
            # a human answered while nobody recorded it: the call is theirs, and its ratings owed both ways
            try:
                await self.store.call_answered(call.uniqueid, history.answered_by, history.answered_at)
            except UnknownReferenceError:
                log.warning("reaped_answer_unknown_agent", call=call.uniqueid, agent=history.answered_by)
        ended = history.ended_at or missing_since
        closed = await self.store.call_ended(call.uniqueid, "interrupted", max(ended, call.started_at))
        assert closed is not None
        log.warning(
            "call_reaped",
            call=call.uniqueid,
            answered_by=closed.agent_id if closed.answered_at else None,
            ended=closed.ended_at.isoformat() if closed.ended_at else None,
            source="queue_log" if history.ended_at else "channel_gone",
        )
        return closed

    async def live_channels(self) -> set[str]:
        """The uniqueids of every channel Asterisk has now."""
        # Status, not CoreShowChannels: that one needs the "system" or "reporting" class, which the service's AMI
        # user has no business with
        listing = await self.ami.send_list({"Action": "Status"})
        return {str(m.get("Uniqueid")) for m in listing if m.get("Event") == "Status"}
