"""`evaluations remove` runs the IVR's use case: the removed rating moves the agent's penalty in Asterisk at once,
over an AMI login of the command's own (the service's link is in another process). Against a fake AMI server
speaking the real protocol bytes; with no Asterisk at all the removal still succeeds."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callcenter.config import load_config
from callcenter.config.roster import load_roster
from callcenter.domain import naming
from callcenter.domain.summaries import Scoring
from callcenter.store import SqliteStore
from callcenter.usecases.penalties import Penalties
from tests.unit.cli.support import DEMO_CONFIG, PROJECT, run

CALL = "seed-1001-0"
REMOVE = ("evaluations", "remove", "--call", CALL, "--direction", "caller-to-agent", "--reason", "abusive")


@dataclass
class FakeAMI:
    """Asterisk's manager interface as far as a login, QueuePenalty and Logoff go, in a thread of its own."""

    # queues where the agent is no member: QueuePenalty answers an error there, as app_queue does
    not_member: frozenset[str] = frozenset()
    actions: list[dict[str, str]] = field(default_factory=list)
    port: int = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                block = (await reader.readuntil(b"\r\n\r\n")).decode()
                action = dict(line.split(": ", 1) for line in block.strip().split("\r\n"))
                self.actions.append(action)
                ok = not (action["Action"] == "QueuePenalty" and action["Queue"] in self.not_member)
                reply = "Success" if ok else "Error"
                writer.write(f"Response: {reply}\r\nActionID: {action['ActionID']}\r\nMessage: fake\r\n\r\n".encode())
                await writer.drain()
                if action["Action"] == "Logoff":
                    break
        writer.close()

    @contextlib.contextmanager
    def running(self) -> Iterator[FakeAMI]:
        loop = asyncio.new_event_loop()
        started = threading.Event()
        server: list[asyncio.Server] = []

        async def start() -> None:
            server.append(await asyncio.start_server(self._serve, "127.0.0.1", 0))
            self.port = server[0].sockets[0].getsockname()[1]
            started.set()

        thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()))
        thread.start()
        started.wait(5)
        try:
            yield self
        finally:

            async def stop() -> None:
                server[0].close()
                await server[0].wait_closed()
                loop.stop()

            asyncio.run_coroutine_threadsafe(stop(), loop)
            thread.join(5)
            loop.close()


async def penalty_of(path: Path, agent: str) -> int:
    config = load_config(DEMO_CONFIG, {})
    async with await SqliteStore.open_existing(path) as store:
        scoring = Scoring(tuple(c.id for c in config.categories), config.policy)
        return (await Penalties(store, scoring)([agent]))[agent]


def agent_services(agent: str) -> tuple[str, ...]:
    config = load_config(DEMO_CONFIG, {})
    roster = load_roster(PROJECT / "callcenter/demo/agents.toml", {s.id for s in config.services})
    return next(a.services for a in roster if a.id == agent)


def test_a_removal_pushes_the_agents_new_penalty_to_asterisk(
    populated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = agent_services("1001")
    with FakeAMI(not_member=frozenset({naming.service_queue(services[-1])})).running() as ami:
        monkeypatch.setenv("CALLCENTER_AMI_PORT", str(ami.port))
        monkeypatch.setenv("CALLCENTER_AMI_SECRET", "s3cret")
        result = run(capsys, "--config", str(DEMO_CONFIG), *REMOVE)
    assert result.code == 0, result.err
    penalty = asyncio.run(penalty_of(populated, "1001"))
    pushed = [a for a in ami.actions if a["Action"] == "QueuePenalty"]
    assert [(a["Queue"], a["Interface"], a["Penalty"]) for a in pushed] == [
        (naming.service_queue(s), naming.member_interface("1001"), str(penalty)) for s in services
    ]
    assert [a["Action"] for a in ami.actions] == [
        "Login",
        *(["QueuePenalty"] * len(services)),
        "UserEvent",
        "Logoff",
    ]
    # every running service process reads the agent's ratings again (their kept ranking)
    assert {k: v for k, v in ami.actions[-2].items() if k != "ActionID"} == {
        "Action": "UserEvent",
        "UserEvent": "CallCenterRatingDeleted",
        "Direction": "client_to_agent",
        "Agent": "1001",
    }
    assert ami.actions[0]["Username"] == "callcenter"
    assert ami.actions[0]["Secret"] == "s3cret"
    assert ami.actions[0]["Events"] == "off"  # a few actions and a log-off: no event is any use to it
    assert result.out.splitlines()[0].startswith("removed evaluation #")
    # a queue the agent is not a member of (logged out of it) is skipped: logging in sets the penalty then
    shown = [line for line in result.out.splitlines() if "penalty" in line]
    assert shown == [f"agent 1001's penalty in {naming.service_queue(s)} is now {penalty}" for s in services[:-1]]


def test_without_asterisk_the_removal_still_succeeds(
    populated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listens on the AMI port: nothing to push (the service's resync sets every penalty when it connects)."""
    with FakeAMI().running() as ami:
        port = ami.port  # free once the fake is gone
    monkeypatch.setenv("CALLCENTER_AMI_PORT", str(port))
    monkeypatch.setenv("CALLCENTER_AMI_SECRET", "s3cret")
    result = run(capsys, "--config", str(DEMO_CONFIG), *REMOVE)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [f"removed evaluation #{result.out.split('#')[1].split()[0]} of call {CALL} "
                                       "(caller-to-agent); audit trail kept"]  # fmt: skip


def test_without_a_secret_nothing_is_tried(populated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "--config", str(DEMO_CONFIG), *REMOVE)
    assert result.code == 0, result.err
    assert "penalty" not in result.out
