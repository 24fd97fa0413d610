"""A fake Asterisk Manager Interface for the call benchmarks: enough AMI for the service to log in and run.

It accepts any login, answers every action with ``Response: Success`` (``Ping`` with ``Pong``) and sends no
``FullyBooted``, so the service never resyncs its queue members: its offers then count every agent on duty as
free (``ami/queues.py``: ``Presence.synced`` is False), which keeps the whole roster in play for every offer
and spares a 10k-agent roster 30k ``QueueAdd`` round trips at each start. The benchmark's caller driver
``emit``s the queue events a real Asterisk would send for its calls (a caller leaving the queue when an agent
answers), so the service's own count of who waits for whom stays as it would be.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

BANNER = b"Asterisk Call Manager/9.0.0\r\n"
# actions Asterisk answers with an event list: here always an empty one (no channels, no queue entries)
LISTS = {
    "status": "StatusComplete",
    "queuestatus": "QueueStatusComplete",
    "coreshowchannels": "CoreShowChannelsComplete",
    "queuesummary": "QueueSummaryComplete",
}


def _message(fields: Mapping[str, str]) -> bytes:
    return b"".join(f"{k}: {v}\r\n".encode() for k, v in fields.items()) + b"\r\n"


class FakeAMI:
    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.actions = 0

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def emit(self, event: Mapping[str, str]) -> None:
        """Send an event to every logged-in client (the service: several, if it runs several processes)."""
        data = _message(event)
        for writer in list(self._writers):
            if not writer.is_closing():
                writer.write(data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        writer.write(BANNER)
        try:
            while True:
                action = await self._read_action(reader)
                if action is None:
                    return
                self.actions += 1
                name = action.get("action", "").lower()
                reply = {"Response": "Success"}
                if "actionid" in action:
                    reply["ActionID"] = action["actionid"]
                done: dict[str, str] | None = None
                if name == "ping":
                    reply["Ping"] = "Pong"
                elif name in LISTS:
                    reply.update({"EventList": "start", "Message": "bench: an empty list follows"})
                    done = {"Event": LISTS[name], "EventList": "Complete", "ListItems": "0"}
                    if "actionid" in action:
                        done["ActionID"] = action["actionid"]
                elif name == "logoff":
                    reply = {
                        "Response": "Goodbye",
                        **({"ActionID": action["actionid"]} if "actionid" in action else {}),
                    }
                else:
                    reply["Message"] = "bench: accepted"
                writer.write(_message(reply))
                if done is not None:
                    writer.write(_message(done))
                await writer.drain()
                if name == "logoff":
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    @staticmethod
    async def _read_action(reader: asyncio.StreamReader) -> dict[str, str] | None:
        fields: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if not line:
                return None
            text = line.decode(errors="replace").rstrip("\r\n")
            if not text:
                if fields:
                    return fields
                continue
            key, _, value = text.partition(":")
            fields[key.strip().lower()] = value.strip()
