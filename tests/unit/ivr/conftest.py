"""IVR routes against a fake Asterisk that answers their commands as Asterisk would, over a real store."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import pytest

from callcenter.agi import AGISession
from callcenter.config import SelfServiceConfig
from callcenter.domain.agents import Duty
from callcenter.domain.naming import DIGITS
from callcenter.domain.pins import hash_agent_pin
from callcenter.domain.rules import RatingRules
from callcenter.ivr.agent_menu import AgentMenuFlow
from callcenter.ivr.ask import Asking
from callcenter.ivr.pin_entry import PinEntry
from callcenter.ivr.rating import RatingDialogue
from callcenter.ivr.review import Review
from callcenter.journal import Recorder
from callcenter.store.sqlite import SqliteStore
from callcenter.usecases.duty import AgentDuty, DutyBook
from callcenter.usecases.ratings import Ratings
from tests.unit.agi.fake_asterisk import DEADLINE, FakeAsterisk, env_for
from tests.unit.store.helpers import AGENTS, T0, seed

AGENT_PIN = "1234"
_GET_DATA = re.compile(rb"GET DATA (\S+) ")
_READ = re.compile(rb"EXEC Read \"?CC_DIGITS,([^,]*),")
_STREAM = re.compile(rb"^STREAM FILE (\S+) ")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """The store tests' roster, agent 1001 with the PIN 1234."""
    async with await SqliteStore.open(tmp_path / "cc.db") as opened:
        await seed(opened)
        await opened.sync_roster(
            [dataclasses.replace(AGENTS[0], pin_hash=hash_agent_pin("1001", AGENT_PIN)), *AGENTS[1:]], now=T0
        )
        yield opened


class NoPush:
    """Asterisk's side, for routes run without one: penalties and presence go nowhere."""

    async def agent_rated(self, agent_id: str) -> None:
        return None

    async def apply(self, agent_id: str, duty: Duty) -> None:
        return None


def agent_menu(store: SqliteStore, *, attempts: int = 3, pin_max_failures: int = 10) -> AgentMenuFlow:
    """The agent-menu route wired as the composition root wires it, on ``store``, with nothing behind AMI."""
    asking = Asking(timeout=0.5, attempts=attempts)
    selfservice = SelfServiceConfig(pin_max_failures=pin_max_failures)
    rules = RatingRules()
    ratings = Ratings(store, Recorder(store, None), NoPush(), rules, lambda: T0)
    dialogue = RatingDialogue(ratings, asking, ("attitude", "knowledge", "availability"))
    return AgentMenuFlow(
        store=store,
        duty=AgentDuty(DutyBook(store, "available"), NoPush(), lambda: T0),
        pins=pin_entry(store, attempts=attempts, pin_max_failures=pin_max_failures),
        review=Review(
            evaluations=store, dialogue=dialogue, asking=asking, selfservice=selfservice, rules=rules, clock=lambda: T0
        ),
        asking=asking,
        pause_reasons=("break", "lunch"),
    )


def pin_entry(store: SqliteStore, *, attempts: int = 3, pin_max_failures: int = 10) -> PinEntry:
    return PinEntry(
        store, Asking(timeout=0.5, attempts=attempts), SelfServiceConfig(pin_max_failures=pin_max_failures), lambda: T0
    )


@dataclasses.dataclass
class Transcript:
    commands: list[bytes] = dataclasses.field(default_factory=list)

    def prompts(self) -> list[str]:
        """Every sound file a GET DATA or Read played, in order."""
        played: list[str] = []
        for line in self.commands:
            if (data := _GET_DATA.match(line)) is not None:
                played.append(data.group(1).decode())
            elif (read := _READ.match(line)) is not None:
                played += read.group(1).decode().split("&")
            elif (stream := _STREAM.match(line)) is not None:
                played.append(stream.group(1).decode())
        return played


async def _answer(
    fake: FakeAsterisk,
    keys: Mapping[str, str],
    transcript: Transcript,
    variables: Mapping[str, str],
    reads: Sequence[str] = (),
) -> None:
    """Reply to each command: GET DATA gets the digits ``keys`` has for its prompt; each Read hears the next of
    ``reads`` (then nothing); GET VARIABLE answers from ``variables``."""
    pressed = list(reads)
    heard = ""
    while line := await fake.reader.readline():
        transcript.commands.append(line)
        if _READ.match(line) is not None:
            heard = pressed.pop(0) if pressed else ""
        if line.startswith(f"GET VARIABLE {DIGITS}".encode()) and heard:
            reply = f"200 result=1 ({heard})\n"
        elif (data := _GET_DATA.match(line)) is not None:
            digits = keys.get(data.group(1).decode(), "")
            reply = f"200 result={digits}\n" if digits else "200 result= (timeout)\n"
        elif line.startswith(b"GET VARIABLE READSTATUS"):
            reply = "200 result=1 (TIMEOUT)\n"
        elif line.startswith(b"GET VARIABLE"):
            name = line.decode().split(maxsplit=2)[2].strip().strip('"')
            reply = f"200 result=1 ({variables[name]})\n" if name in variables else "200 result=0\n"
        elif line.startswith(b"STREAM FILE"):
            reply = "200 result=0 endpos=8000\n"  # played through, no key
        else:
            reply = "200 result=0\n" if line.startswith(b"EXEC") else "200 result=1\n"
        await fake.send(reply.encode())


@contextlib.asynccontextmanager
async def phone_call(
    keys: Mapping[str, str],
    *,
    route: str = "agent-menu",
    query: str = "",
    callerid: str = "5559009",
    variables: Mapping[str, str] | None = None,
    reads: Sequence[str] = (),
) -> AsyncIterator[tuple[AGISession, Transcript]]:
    """One call's AGISession, its Asterisk answering from ``keys`` (prompt file -> digits keyed)."""
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    fake = FakeAsterisk(*await asyncio.open_connection(sock=theirs))
    session = AGISession(
        reader, writer, env_for(route, query=query, callerid=callerid), command_timeout=DEADLINE, max_line=8192
    )
    transcript = Transcript()
    answering = asyncio.create_task(_answer(fake, keys, transcript, variables or {}, reads))
    try:
        async with asyncio.timeout(DEADLINE):
            yield session, transcript
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        await answering
        await fake.close()
