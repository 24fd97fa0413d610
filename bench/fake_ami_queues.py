"""A fake Asterisk manager interface that knows the queues: enough AMI for the service to start, resync and stay
up, with no Asterisk (bench/fake_ami.py, the call benchmarks' own, lists no queue member).

It accepts any login, answers ``Ping``, lists every roster agent as a free member of each of their queues in
``QueueStatus`` (so offers have agents to offer), lists no channel in ``Status`` (the reaper then finds nothing
to do: it only closes calls missing in two scans, older than 10 s), and answers every other action with
``Response: Success``. ``broadcast`` sends raw event bytes to every logged-in connection, as Asterisk sends each
event to every manager session: with N workers each receives every event, which is part of what N costs.
Used by the cores benchmark (``bench/cores.py``) and the workers' tests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence

from callcenter.domain import naming
from callcenter.domain.agents import AgentSpec

GREETING = b"Asterisk Call Manager/9.0.0\r\n"


def member_lines(agents: Iterable[AgentSpec]) -> list[tuple[str, str]]:
    """(queue, member interface) for every queue of every agent."""
    return [(queue, naming.member_interface(a.id)) for a in agents for queue in a.queues]


class FakeAMI:
    def __init__(self, agents: Sequence[AgentSpec]) -> None:
        self.members = member_lines(agents)
        self.actions: list[dict[str, str]] = []  # every action received, for tests
        self.by_session: list[list[dict[str, str]]] = []  # the same, per manager session (one per worker)
        self.logins = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connections(self) -> int:
        return len(self._writers)

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._sessions):
            task.cancel()
        await asyncio.gather(*self._sessions, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()

    def broadcast(self, data: bytes) -> None:
        for writer in self._writers:
            if not writer.is_closing():
                writer.write(data)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer))
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(GREETING)
        mine: list[dict[str, str]] = []
        self.by_session.append(mine)
        try:
            while True:
                action = await _read_message(reader)
                if action is None:
                    return
                self.actions.append(action)
                mine.append(action)
                writer.write(self._answer(action))
                if action.get("Action", "").lower() == "login":
                    self.logins += 1
                    self._writers.add(writer)
                    writer.write(b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    def _answer(self, action: dict[str, str]) -> bytes:
        name = action.get("Action", "").lower()
        aid = action.get("ActionID", "")
        head = f"Response: Success\r\nActionID: {aid}\r\n"
        if name == "ping":
            return (head + "Ping: Pong\r\n\r\n").encode()
        if name == "queuestatus":
            out = [head + "EventList: start\r\nMessage: Queue status will follow\r\n\r\n"]
            for queue, interface in self.members:
                out.append(
                    f"Event: QueueMember\r\nActionID: {aid}\r\nQueue: {queue}\r\nName: {interface}\r\n"
                    f"Location: {interface}\r\nMembership: dynamic\r\nPenalty: 0\r\nStatus: 1\r\nPaused: 0\r\n\r\n"
                )
            out.append(
                f"Event: QueueStatusComplete\r\nActionID: {aid}\r\nEventList: Complete\r\n"
                f"ListItems: {len(self.members)}\r\n\r\n"
            )
            return "".join(out).encode()
        if name == "queuesummary":
            # every queue empty (the wallboard asks after each login who waits where)
            queues = sorted({queue for queue, _ in self.members})
            out = [head + "EventList: start\r\nMessage: Queue summary will follow\r\n\r\n"]
            out += [
                f"Event: QueueSummary\r\nActionID: {aid}\r\nQueue: {q}\r\nLoggedIn: 1\r\nAvailable: 1\r\n"
                f"Callers: 0\r\nHoldTime: 0\r\nTalkTime: 0\r\nLongestHoldTime: 0\r\n\r\n"
                for q in queues
            ]
            out.append(
                f"Event: QueueSummaryComplete\r\nActionID: {aid}\r\nEventList: Complete\r\n"
                f"ListItems: {len(queues)}\r\n\r\n"
            )
            return "".join(out).encode()
        if name == "status":
            return (
                head + "EventList: start\r\nMessage: Channel status will follow\r\n\r\n"
                f"Event: StatusComplete\r\nActionID: {aid}\r\nEventList: Complete\r\nListItems: 0\r\nItems: 0\r\n\r\n"
            ).encode()
        if name == "logoff":
            return (head.replace("Success", "Goodbye") + "Message: Thanks for all the fish.\r\n\r\n").encode()
        return (head + "Message: ok\r\n\r\n").encode()


async def _read_message(reader: asyncio.StreamReader) -> dict[str, str] | None:
    """One AMI message (key: value lines up to a blank line); None at EOF."""
    message: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if not line:
            return None
        text = line.decode(errors="replace").rstrip("\r\n")
        if not text:
            if message:
                return message
            continue
        key, _, value = text.partition(":")
        message[key.strip()] = value.strip()
