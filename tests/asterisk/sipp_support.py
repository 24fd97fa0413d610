"""What the SIP tests share: keypresses written as RTP telephone-event pcaps (RFC 4733) that SIPp can play, and the
test's end of SIPp's 3PCC twin socket, which lets a test release each step of a scenario when AMI says it is time.
See test_sip.py's docstring for why both are needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
TWIN_END = b"\x1b"  # SIPp ends each 3PCC twin command with ESC


# --- keypresses as RTP telephone-events (RFC 4733), written as pcaps SIPp can play -----------------------------

EVENT_CODES = "0123456789*#"
EVENT_PT = 101  # the payload type the scenarios offer/answer for telephone-event/8000
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


def free_udp_port() -> int:
    """A free loopback UDP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reserve(held: list[socket.socket], port: int = 0) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        raise
    held.append(s)
    return int(s.getsockname()[1])


def reserve_sipp_ports(held: list[socket.socket]) -> tuple[int, int]:
    """(media base, control) ports for one SIPp, all bound in ``held`` until the caller closes them, so neither
    collides with the other nor with any port reserved before: SIPp binds the media port and the three above it
    (RTP/RTCP of audio and video)."""
    for _ in range(50):
        base = _reserve(held)
        try:
            for offset in (1, 2, 3):
                _reserve(held, base + offset)
        except OSError:
            continue
        return base, _reserve(held)
    raise RuntimeError("no free block of four UDP ports on loopback")


def tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return f"({path.name}: none)"
    return f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


async def start_sipp(
    target: str,
    work: Path,
    scenario: Sequence[str],
    *,
    twin_port: int,
    sip_port: int | None = None,
    backstop: str = "120s",
) -> asyncio.subprocess.Process:
    """Run one SIPp call (``scenario``: the scenario files and their own options) from loopback, steered over the
    3PCC socket at ``twin_port``; its logs go to ``work`` (messages.log, errors.log, stdout.log, stderr.log).
    ``backstop``: SIPp's own limit on the whole run (a phone registered for a module of tests needs longer)."""
    held: list[socket.socket] = []
    # SIP, media and control ports all held bound at once until SIPp starts: probing them one by one let the
    # kernel hand the same port out twice (SIPp then failed to bind its control socket)
    sip_port = _reserve(held, sip_port or 0)
    media_port, control_port = reserve_sipp_ports(held)
    command = [
        SIPP,
        target,
        *scenario,
        "-m",
        "1",
        "-l",
        "1",
        "-i",
        "127.0.0.1",
        "-p",
        str(sip_port),
        "-mi",
        "127.0.0.1",
        "-mp",
        str(media_port),
        "-3pcc",
        f"127.0.0.1:{twin_port}",
        "-nostdin",
        # SIPp's UDP control socket: a free port rather than the default 8888
        "-cp",
        str(control_port),
        # SIPp's own backstop; the tests' deadlines are shorter
        "-timeout",
        backstop,
        "-timeout_error",
        "-trace_msg",
        "-message_file",
        str(work / "messages.log"),
        "-trace_err",
        "-error_file",
        str(work / "errors.log"),
    ]
    try:
        with (work / "stdout.log").open("wb") as out, (work / "stderr.log").open("wb") as err:
            for s in held:  # released only now: nothing else in this process can take them meanwhile
                s.close()
            return await asyncio.create_subprocess_exec(
                *command, cwd=work, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=err
            )
    finally:
        for s in held:
            s.close()


async def stop_sipp(sipp: asyncio.subprocess.Process, twin: Twin, work: Path) -> None:
    """However the test went: no SIPp left running, the twin socket closed, SIPp's logs printed (pytest shows them
    when the test failed)."""
    if sipp.returncode is None:
        sipp.kill()
        await asyncio.wait_for(sipp.wait(), 10)
    await twin.close()
    print("\n".join(tail(work / name) for name in ("stderr.log", "errors.log", "messages.log")))
