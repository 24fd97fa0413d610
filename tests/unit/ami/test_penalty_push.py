"""A rating's penalty push never holds the caller: the AMI link may be open but silent (Asterisk stalled), and the
caller's read-back must not wait for it (the issue measured 10 s of dead air)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from callcenter.ami.queues import QueueSync
from callcenter.domain.agents import AgentSpec, Duty


async def no_talk_times(ids: Sequence[str]) -> dict[str, list[float]]:
    """No stored calls: every agent starts with the configured handle time."""
    return {}


class SilentLink:
    """An AMI link that takes every action and never answers it."""

    def __init__(self) -> None:
        self.sent: list[Mapping[str, Any]] = []
        self.stalled = asyncio.Event()

    def on_resync(self, _: object) -> None: ...

    def on_event(self, _: str, __: object) -> None: ...

    async def send(self, action: Mapping[str, Any], *, timeout: float | None = None) -> None:
        self.sent.append(action)
        self.stalled.set()
        await asyncio.Event().wait()  # never answered


def agent(agent_id: str) -> AgentSpec:
    return AgentSpec(agent_id, f"agent {agent_id}", ("support",), "dial", f"Local/{agent_id}@phones/n", None)


async def test_a_rating_returns_at_once_while_the_push_waits_on_a_silent_link() -> None:
    link = SilentLink()

    async def penalties(ids: Sequence[str]) -> dict[str, int]:
        return dict.fromkeys(ids, 3)

    async def duties(ids: Sequence[str]) -> dict[str, Duty]:
        return {i: Duty(logged_in=True) for i in ids}

    sync = QueueSync(link, [agent("1001")], penalties, duties, talk_times=no_talk_times, handle_seconds=180)  # type: ignore[arg-type]
    async with asyncio.timeout(1):
        await sync.agent_rated("1001")  # returns before Asterisk answers anything
    await asyncio.wait_for(link.stalled.wait(), 1)
    assert [a["Action"] for a in link.sent] == ["QueuePenalty"]
    # rated again while the first push hangs: coalesced, still no wait
    async with asyncio.timeout(1):
        await sync.agent_rated("1001")
    await sync.close()
