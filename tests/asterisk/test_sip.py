"""The caller's journey with a real SIP phone: SIPp dials the service number over the inbound PJSIP trunk and
presses its keys as RFC 2833 (RFC 4733) telephone-events in the RTP stream, as a carrier's caller would.

When to press is the delicate part: the IVR only hears a key while a ``Read()`` runs, and a "1" while waiting
in a queue means "leave the queue". Fixed pauses in the scenario would race the IVR. Instead the test is the
other end of SIPp's 3PCC twin socket (``-3pcc``): the scenario (``sipp/caller.xml``) reports "answered", then
waits at a ``<recvCmd>`` before each keypress; the test releases a keypress only once AMI says the right
``Read()`` started on the caller's PJSIP channel (``AGIExecStart``), then awaits the ``DTMFEnd`` Asterisk
decoded from the RTP. SIPp's other external controls do not fit: its UDP control port and keyboard steer the
whole run (rate, pause, quit), not one call's next step, and ``-rtp_echo`` only mirrors media.

The keypresses are RTP event pcaps written by this test, one per step, with RTP timestamps and sequence
numbers that go on from one to the next: SIPp replays a pcap as captured, and Asterisk takes an event with the
timestamp of the event it last ended for a retransmission of it, so two plays of SIPp's own
``dtmf_2833_1.pcap`` ("1" for the service, then "1" for the agent) would make the second press vanish.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import struct
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from panoramisk.message import Message

from callcenter.app import CallCenter
from callcenter.demo.script import Driver, event, is_read, read_files
from callcenter.demo.seed import DEMO_HISTORY, seed_history
from callcenter.store.models import CLIENT_TO_AGENT
from tests.asterisk.conftest import AsteriskUnderTest

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="session")]

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
SCENARIO = Path(__file__).parent / "sipp" / "caller.xml"
AGENTS = ("1001", "1002", "1003")
CALLER = "5550201"
RATING = "5435"  # attitude, knowledge, availability, other
TWIN_END = b"\x1b"  # SIPp ends each 3PCC twin command with ESC


# --- keypresses as RTP telephone-events (RFC 4733), written as pcaps SIPp can play -----------------------------

EVENT_CODES = "0123456789*#"
EVENT_PT = 101  # the payload type caller.xml offers for telephone-event/8000
SAMPLES_PER_PACKET = 160  # 20 ms at 8 kHz
PACKETS_PER_KEY = 8  # a 160 ms press
KEY_INTERVAL = 0.4  # seconds from one key to the next within one step
VOLUME = 10  # -10 dBm0


@dataclass
class TelephoneEvents:
    """One RTP stream of key presses: sequence numbers and timestamps keep going across steps, so every press is
    a new event to the receiver, whatever the digit before it."""

    ssrc: int = 0x5EC0DE01
    seq: int = 1000
    timestamp: int = 80_000

    def press(self, keys: str) -> list[tuple[float, bytes]]:
        """RTP packets (seconds from the start of the step, packet) for pressing ``keys`` one after another."""
        packets: list[tuple[float, bytes]] = []
        for n, key in enumerate(keys):
            start = n * KEY_INTERVAL
            for i in range(PACKETS_PER_KEY):
                end = i == PACKETS_PER_KEY - 1
                header = struct.pack(
                    ">BBHII", 0x80, (0x80 if i == 0 else 0) | EVENT_PT, self.seq, self.timestamp, self.ssrc
                )
                payload = struct.pack(
                    ">BBH", EVENT_CODES.index(key), (0x80 if end else 0) | VOLUME, (i + 1) * SAMPLES_PER_PACKET
                )
                # the end of an event goes three times (RFC 4733 2.5.1.4), one sequence number, as in SIPp's pcaps
                packets += [(start + i * 0.02, header + payload)] * (3 if end else 1)
                self.seq = (self.seq + 1) & 0xFFFF
            self.timestamp += int(KEY_INTERVAL * 8000)
        # the next step comes seconds later: its timestamps start further on
        self.timestamp += 8000
        return packets


def write_pcap(path: Path, packets: Sequence[tuple[float, bytes]]) -> None:
    """A classic pcap (Ethernet, IPv4, UDP) of RTP packets; SIPp rewrites addresses and ports when it plays it."""
    loopback = socket.inet_aton("127.0.0.1")
    records = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for at, rtp in packets:
        udp = struct.pack(">HHHH", 40000, 50000, 8 + len(rtp), 0) + rtp
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, socket.IPPROTO_UDP, 0, loopback, loopback)
        frame = bytes(12) + b"\x08\x00" + ip + udp
        micros = round(at * 1_000_000)
        records.append(struct.pack("<IIII", 1_700_000_000 + micros // 1_000_000, micros % 1_000_000, *[len(frame)] * 2))
        records.append(frame)
    path.write_bytes(b"".join(records))


# --- the twin end of SIPp's 3PCC socket -------------------------------------------------------------------------


class Twin:
    """The test's end of the 3PCC twin socket: SIPp (controller A) connects here at startup."""

    def __init__(self) -> None:
        self._peer: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.get_running_loop().create_future()
        )
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._peer.done():
            writer.close()
            return
        self._peer.set_result((reader, writer))

    async def receive(self, sipp: asyncio.subprocess.Process, timeout: float = 15.0) -> dict[str, str]:
        """The next command from the scenario, as its header lines; fails at once if SIPp ends instead."""

        async def command() -> bytes:
            reader, _ = await self._peer
            return await reader.readuntil(TWIN_END)

        reading = asyncio.ensure_future(command())
        exited = asyncio.ensure_future(sipp.wait())
        try:
            done, _ = await asyncio.wait({reading, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            reading.cancel()
            exited.cancel()
        if not done:
            raise TimeoutError(f"no 3PCC command from sipp in {timeout} s")
        if reading not in done or reading.exception() is not None:
            code = await asyncio.wait_for(sipp.wait(), 5.0)
            raise AssertionError(f"sipp ended (exit {code}) instead of sending its next command")
        lines = reading.result().removesuffix(TWIN_END).decode().splitlines()
        return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines) if k.strip()}

    async def release(self, call_id: str, step: str) -> None:
        """Let the call at its ``<recvCmd>`` go on to the next step."""
        _, writer = await asyncio.wait_for(self._peer, 5.0)
        writer.write(f"Call-ID: {call_id}\r\nStep: {step}\r\n".encode() + TWIN_END)
        await writer.drain()

    async def close(self) -> None:
        if self._peer.done() and not self._peer.cancelled():
            _, writer = self._peer.result()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        else:
            self._peer.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def free_udp_port(pair: bool = False) -> int:
    """A free loopback UDP port; ``pair``: p and p+2 both free (SIPp binds its media port and the one 2 above)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
            if not pair:
                return port
            if port + 2 > 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as above:
                try:
                    above.bind(("127.0.0.1", port + 2))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free UDP port pair on loopback")


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path.name}: none)"
    return f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --- the test -----------------------------------------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session", autouse=True)
async def scripted_agents(driver: Driver) -> AsyncIterator[None]:
    """Scripted agents accept and talk for a second; no call is left behind, whatever happened."""
    for agent in AGENTS:
        await driver.set_global(f"CC_DEMO_{agent}", "accept")
        await driver.set_global(f"CC_DEMO_SCORE_{agent}", "4")
    await driver.set_global("CC_DEMO_TALK", "1")
    yield
    for channels in ("/^PJSIP\\/trunk-/", "/^Local\\//"):
        await driver.link.send({"Action": "Hangup", "Channel": channels})


def files(read: Message) -> list[str]:
    """The sound files a Read()'s AGIExecStart plays."""
    return read_files(str(read.get("Command"))) or []


def heard(driver: Driver, uniqueid: str, since: int) -> list[list[str]]:
    return [files(e) for e in driver.log.matching(is_read(uniqueid), since=since)]


async def started_read(driver: Driver, uniqueid: str, playing: str, since: int, timeout: float = 20.0) -> Message:
    """The AGIExecStart of a Read() on the caller's channel whose prompt plays ``playing``."""

    def wanted(e: Message) -> bool:
        return is_read(uniqueid)(e) and playing in files(e)

    return await driver.log.wait_for(wanted, timeout=timeout, since=since)


async def keys_received(driver: Driver, channel: str, keys: str, since: int, timeout: float = 10.0) -> None:
    """Await Asterisk's DTMFEnd (received from the caller) for each of ``keys``, in order."""
    for key in keys:
        end = await driver.log.wait_for(
            event("DTMFEnd", Channel=channel, Direction="Received", Digit=key), timeout=timeout, since=since
        )
        since = driver.log.events.index(end) + 1


async def test_sip_caller_presses_rfc2833_keys_is_queued_to_the_best_agent_connected_and_rates(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest, tmp_path: Path
) -> None:
    store = center.store
    assert store is not None
    await seed_history(store, DEMO_HISTORY)  # 1001 is the best rated, offered first (key 1)

    work = tmp_path / "sipp"
    work.mkdir()
    shutil.copy(SCENARIO, work / SCENARIO.name)
    rtp = TelephoneEvents()
    write_pcap(work / "key-service.pcap", rtp.press("1"))
    write_pcap(work / "key-agent.pcap", rtp.press("1"))
    write_pcap(work / "keys-rating.pcap", rtp.press(RATING))

    twin = Twin()
    twin_port = await twin.start()
    a = asterisk.config.asterisk
    command = [
        SIPP,
        f"{a.sip_host}:{a.sip_port}",
        "-sf",
        str(work / SCENARIO.name),
        "-s",
        a.service_number,
        "-key",
        "caller",
        CALLER,
        "-m",
        "1",
        "-l",
        "1",
        "-i",
        "127.0.0.1",
        "-p",
        str(free_udp_port()),
        "-mi",
        "127.0.0.1",
        "-mp",
        str(free_udp_port(pair=True)),
        "-3pcc",
        f"127.0.0.1:{twin_port}",
        "-nostdin",
        # answer an INFO, NOTIFY, OPTIONS or UPDATE from Asterisk like a phone would, not fail the call on it
        "-aa",
        # SIPp's UDP control socket: a free port rather than the default 8888
        "-cp",
        str(free_udp_port()),
        # SIPp's own backstop; the test's deadlines below are shorter
        "-timeout",
        "120s",
        "-timeout_error",
        "-trace_msg",
        "-message_file",
        str(work / "messages.log"),
        "-trace_err",
        "-error_file",
        str(work / "errors.log"),
    ]
    mark = driver.log.mark()
    with (work / "stdout.log").open("wb") as out, (work / "stderr.log").open("wb") as err:
        sipp = await asyncio.create_subprocess_exec(
            *command, cwd=work, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=err
        )
    try:
        answered = await twin.receive(sipp)
        assert answered.get("Step") == "answered"
        call_id = answered["Call-ID"]

        # the call came in over the trunk, from our number: its channel is the IVR's
        new = await driver.log.wait_for(
            lambda e: (
                e.get("Event") == "Newchannel"
                and str(e.get("Channel")).startswith("PJSIP/trunk-")
                and e.get("CallerIDNum") == CALLER
            ),
            since=mark,
        )
        channel, uniqueid = str(new.get("Channel")), str(new.get("Uniqueid"))
        sip_call_id = await driver.link.send(
            {"Action": "Getvar", "Channel": channel, "Variable": "CHANNEL(pjsip,call-id)"}
        )
        assert sip_call_id.get("Value") == call_id

        await started_read(driver, uniqueid, "cc/choose-service", mark)
        pressed = driver.log.mark()
        await twin.release(call_id, "service")
        await keys_received(driver, channel, "1", pressed)

        menu = await started_read(driver, uniqueid, "cc/first-available", mark)
        offered = [f.removeprefix("cc/agent-") for f in files(menu) if f.startswith("cc/agent-")]
        assert offered[0] == "1001", offered
        best = offered[0]
        pressed = driver.log.mark()
        await twin.release(call_id, "agent")
        await keys_received(driver, channel, "1", pressed)

        join = await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=uniqueid), since=mark)
        assert (join.get("Queue"), join.get("Channel")) == (f"agent-{best}", channel)
        connect = await driver.log.wait_for(event("AgentConnect", Uniqueid=uniqueid), since=mark, timeout=30)
        assert (connect.get("Queue"), connect.get("MemberName")) == (f"agent-{best}", best)

        # the agent talks a second and hangs up; the caller, still on the line, is asked to rate them
        asked = await started_read(driver, uniqueid, "cc/please-rate", mark, timeout=30)
        assert files(asked)[:2] == ["cc/please-rate", f"cc/agent-{best}"]
        pressed = driver.log.mark()
        await twin.release(call_id, "rating")
        await keys_received(driver, channel, RATING, pressed)
        await driver.log.wait_for(
            event("UserEvent", UserEvent="CallCenterRated", Call=uniqueid, Direction=CLIENT_TO_AGENT), since=pressed
        )

        # the rating is read back; the caller does not wait for it and hangs up (SIPp sends BYE, gets 200 OK)
        await twin.release(call_id, "hangup")
        await driver.log.wait_for(event("Hangup", Uniqueid=uniqueid), since=mark)
        # the caller's hangup handler closed the call row
        ended = await driver.log.wait_for(
            event("UserEvent", UserEvent="CallCenterCallEnded", Call=uniqueid), since=mark
        )
        assert ended.get("Outcome") == "answered"
        returncode = await asyncio.wait_for(sipp.wait(), 15)
    finally:
        if sipp.returncode is None:
            sipp.kill()
            await sipp.wait()
        await twin.close()
        # shown by pytest when the test fails
        print("\n".join(tail(work / name) for name in ("stderr.log", "errors.log", "messages.log")))

    assert returncode == 0, tail(work / "errors.log")
    prompts = heard(driver, uniqueid, mark)
    assert prompts[0] == ["cc/welcome"]
    assert any("cc/choose-service" in p for p in prompts)
    assert any("cc/first-available" in p for p in prompts)
    call = await store.get_call(uniqueid)
    assert call is not None
    assert (call.outcome, call.agent_id, call.queue, call.service_id) == ("answered", best, f"agent-{best}", "support")
    assert call.hold_seconds is not None
    assert call.talk_seconds is not None
    evaluation = await store.get_evaluation(uniqueid, CLIENT_TO_AGENT)
    assert evaluation is not None
    assert dict(evaluation.scores) == dict(
        zip(("attitude", "knowledge", "availability", "other"), map(int, RATING), strict=True)
    )
    assert await store.check_invariants() == []
