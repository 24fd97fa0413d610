"""The test's own hands on Asterisk: a driver AMI session that places calls and records every event."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from typing import Any

from panoramisk.message import Message

from callcenter.ami.link import AMILink

Predicate = Callable[[Message], bool]


class EventLog:
    """Every event seen since the driver logged in; tests await the one they expect instead of sleeping."""

    def __init__(self) -> None:
        self.events: list[Message] = []
        self._changed = asyncio.Condition()

    async def record(self, event: Message) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    async def wait_for(self, predicate: Predicate, timeout: float = 15.0, since: int = 0) -> Message:
        async with asyncio.timeout(timeout), self._changed:
            while True:
                for event in self.events[since:]:
                    if predicate(event):
                        return event
                await self._changed.wait()

    def mark(self) -> int:
        return len(self.events)


def event(name: str, **fields: str) -> Predicate:
    def match(e: Message) -> bool:
        return bool(e.get("Event") == name and all(e.get(k) == v for k, v in fields.items()))

    return match


class Driver:
    def __init__(self, link: AMILink) -> None:
        self.link = link
        self.log = EventLog()
        self._ids = itertools.count(1)
        link.on_event("*", self.log.record)

    async def originate(
        self,
        channel: str,
        context: str,
        exten: str,
        variables: Mapping[str, str] | None = None,
        callerid: str | None = None,
    ) -> Message:
        action: dict[str, Any] = {
            "Action": "Originate",
            "Channel": channel,
            "Context": context,
            "Exten": exten,
            "Priority": "1",
            "Async": "true",
            "Timeout": "10000",
        }
        if callerid:
            action["CallerID"] = callerid
        if variables:
            action["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        return await self.link.send(action)

    def token(self) -> str:
        return f"{next(self._ids):04d}"
