"""A fake Asterisk for the FastAGI tests: it speaks the real protocol bytes over a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

from callcenter.agi import MEDIA_MARGIN, AGIEnv, AGISession, PlayTime, build_env, parse_header_line
from callcenter.agi.protocol import header_block

# What a test waits for at most: generous, only there so that a bug fails a test instead of hanging it.
DEADLINE = 10.0

Journal = list[tuple[str, bytes]]


def env_for(route: str = "inbound", **kwargs: Any) -> AGIEnv:
    block = header_block(route, **kwargs)
    return build_env(dict(parse_header_line(line) for line in block.split(b"\n") if line))


class FakeAsterisk:
    """Asterisk's end of one FastAGI connection, driven by the test."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, journal: Journal | None = None
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.journal = journal

    @classmethod
    async def connect(cls, port: int) -> FakeAsterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        if self.journal is not None:
            self.journal.append(("reply", data))
        self.writer.write(data)
        await self.writer.drain()

    async def start(self, route: str = "inbound", **kwargs: Any) -> None:
        await self.send(header_block(route, **kwargs))

    async def command(self) -> bytes:
        line = await self.reader.readline()
        assert line, "the server closed the connection instead of sending a command"
        return line

    async def expect(self, command: bytes, reply: bytes | None = None) -> None:
        """Read the next command, check its exact bytes, then send `reply` (if any) as Asterisk would."""
        assert await self.command() == command
        if reply is not None:
            await self.send(reply)

    async def expect_closed(self) -> bytes:
        """Read until the server closes its end; returns what came before (a reset counts as closed)."""
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := await self.reader.read(65536):
                received += chunk
        return received

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    async def __aenter__(self) -> FakeAsterisk:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class RecordingWriter(asyncio.StreamWriter):
    """A StreamWriter that notes every write in a journal shared with the fake: proves command ordering."""

    def __init__(self, writer: asyncio.StreamWriter, reader: asyncio.StreamReader, journal: Journal) -> None:
        transport = writer.transport
        super().__init__(transport, transport.get_protocol(), reader, asyncio.get_running_loop())
        self.journal = journal

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.journal.append(("sent", bytes(data)))
        super().write(data)


@contextlib.asynccontextmanager
async def session_and_fake(
    *,
    command_timeout: float = DEADLINE,
    max_line: int = 8192,
    sounds: PlayTime | None = None,
    media_margin: float = MEDIA_MARGIN,
    session_class: type[AGISession] = AGISession,
) -> AsyncIterator[tuple[AGISession, FakeAsterisk]]:
    """An AGISession and the fake Asterisk at the other end of a connected socket pair."""
    ours, theirs = socket.socketpair()
    journal: Journal = []
    reader, writer = await asyncio.open_connection(sock=ours, limit=max_line + 2)
    fake_reader, fake_writer = await asyncio.open_connection(sock=theirs)
    recording = RecordingWriter(writer, reader, journal)
    session = session_class(
        reader,
        recording,
        env_for(),
        command_timeout=command_timeout,
        max_line=max_line,
        sounds=sounds,
        media_margin=media_margin,
    )
    fake = FakeAsterisk(fake_reader, fake_writer, journal)
    try:
        async with asyncio.timeout(DEADLINE):
            yield session, fake
    finally:
        recording.close()
        with contextlib.suppress(OSError):
            await recording.wait_closed()
        await fake.close()
