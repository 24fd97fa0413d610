"""``python -m bench --only wallboard``: what the supervisors' wallboard costs the service's loop.

The board (``callcenter/web/board.py``) rebuilds after events, at most five times a second. Measured here on its
own, with rosters of 100 and 10,000 agents all on duty, against a stub store (no counts) and the queue sync's own
presence map: a full rebuild (after a resync, or every 10 s), a rebuild with one agent touched (one event: a ring,
a join, a rating), and the snapshot's JSON (serialised once per snapshot, sent to every open wallboard).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any, cast

from bench.report import Section
from bench.timing import Budget, measure
from callcenter.ami.link import AMILink
from callcenter.ami.queues import QueueSync
from callcenter.domain.agents import AgentSpec, Duty
from callcenter.domain.policy import Policy, Score
from callcenter.store import Store
from callcenter.store.models import QueueDay
from callcenter.usecases.ports import utcnow
from callcenter.web.board import Board

SIZES = (100, 10_000)


class _Link:
    connected = True

    def on_event(self, *_: object) -> None: ...
    def on_resync(self, *_: object) -> None: ...


class _Store:
    async def queue_days(self, since: datetime, within_seconds: int) -> dict[str, QueueDay]:
        return {}

    async def agent_days(self, since: datetime) -> dict[str, dict[str, int]]:
        return {}

    async def evaluation_changes(self, **_: Any) -> list[Any]:
        return []


def board_of(agents: int) -> Board:
    specs = [
        AgentSpec(f"{10_000 + i}", f"agent {i}", ("support",), "dial", f"Local/{10_000 + i}@x/n", None)
        for i in range(agents)
    ]
    link = _Link()

    async def none(ids: Any) -> dict[str, Any]:
        return {}

    queues = QueueSync(cast(AMILink, link), specs, none, none, talk_times=none, handle_seconds=180)
    queues.presence.duty = {s.id: Duty(logged_in=True) for s in specs}
    scores = {s.id: Score(3 + (i % 20) / 10, {}, 10, False) for i, s in enumerate(specs)}
    return Board(
        store=cast(Store, _Store()),
        ami=cast(AMILink, link),
        queues=queues,
        agents=specs,
        services=[("support", "technical support")],
        policy=Policy(),
        initial="available",
        score_of=scores.get,
        clock=utcnow,
    )


async def wallboard(section: Section, *, quick: bool) -> None:
    budget = Budget(min_ops=5, max_ops=50 if quick else 300, seconds=0.2 if quick else 1.0, warmup=2)
    for agents in SIZES:
        await _size(section, board_of(agents), agents, budget)
    await asyncio.sleep(0)


async def _size(section: Section, board: Board, agents: int, budget: Budget) -> None:
    await board.rebuild()
    ids = list(board.rows())

    async def full(_: int) -> None:
        board.changed()
        board.build()

    async def one(i: int) -> None:
        board.changed(ids[i % len(ids)])
        board.build()

    async def serialise(_: int) -> None:
        json.dumps(board.snapshot.data, ensure_ascii=False)

    size = f"{agents} agents"
    section.add("full rebuild (every agent)", size, await measure(full, budget))
    section.add("rebuild, one agent touched", size, await measure(one, budget))
    section.add("snapshot JSON", f"{size}, {len(board.snapshot.json) // 1024} KB", await measure(serialise, budget))
