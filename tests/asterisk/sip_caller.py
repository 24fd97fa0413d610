"""A SIP caller the tests drive like the scripted ``Caller``: SIPp dials the service number over the inbound PJSIP
trunk, from whatever From user the test chose (an ordinary number or a hostile one), and presses its keys as
RFC 2833 (RFC 4733) telephone-events when the test says so.

``prompt()`` is the scripted caller's (it waits for a ``Read()`` on the caller's own channel, under Asterisk's own
uniqueid); ``press()`` releases the next planned keypress over SIPp's 3PCC twin socket and waits for Asterisk's
``DTMFEnd`` of each key, decoded from the RTP. SIPp loads pcaps when it parses its scenario, so every keypress is
planned up front (``keys``), one pcap each with RTP timestamps that go on from one to the next.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from callcenter.demo.script import Caller, Driver, event
from tests.asterisk.conftest import AsteriskUnderTest
from tests.asterisk.sipp_support import TelephoneEvents, Twin, start_sipp, stop_sipp, write_pcap

TEMPLATE = Path(__file__).parent / "sipp" / "caller.xml"
STEP = """
  <!-- step {n}: press {keys} -->
  <recvCmd/>
  <nop>
    <action>
      <exec play_pcap_audio="key-{n}.pcap"/>
    </action>
  </nop>
"""


@dataclass
class SipCaller(Caller):
    twin: Twin = field(default_factory=Twin)
    sipp: asyncio.subprocess.Process | None = None
    call_id: str = ""
    keys: list[str] = field(default_factory=list)
    step: int = 0

    async def press(self, keys: str) -> None:
        """Press the next planned keys (call right after prompt() returned: a Read() is running)."""
        assert self.step < len(self.keys), f"no keypress left to press {keys!r}"
        assert self.keys[self.step] == keys, f"step {self.step} plans {self.keys[self.step]!r}, not {keys!r}"
        mark = self.driver.log.mark()
        await self.twin.release(self.call_id, f"key-{self.step}")
        for key in keys:
            end = await self.driver.log.wait_for(
                event("DTMFEnd", Channel=self.channel, Direction="Received", Digit=key), timeout=10.0, since=mark
            )
            mark = self.driver.log.events.index(end) + 1
        self.step += 1
        self.pressed.append(keys)

    async def hangup(self) -> None:
        """Send BYE (SIPp's last step); every planned keypress must have been pressed by then."""
        assert self.step == len(self.keys), f"hung up with keypresses {self.keys[self.step :]} never pressed"
        await self.twin.release(self.call_id, "hangup")

    async def finished(self, timeout: float = 15.0) -> int:
        """SIPp's exit code once the call is over (0: every step went as the scenario says)."""
        assert self.sipp is not None
        return await asyncio.wait_for(self.sipp.wait(), timeout)


def render_scenario(work: Path, keys: Sequence[str], *, from_user: str, name: str, headers: Sequence[str]) -> Path:
    """The scenario for this call, and its pcaps, in ``work``."""
    rtp = TelephoneEvents()
    for n, k in enumerate(keys):
        write_pcap(work / f"key-{n}.pcap", rtp.press(k))
    text = (
        TEMPLATE.read_text()
        .replace("{{from}}", f'"{name}" <sip:{from_user}@[local_ip]:[local_port]>')
        .replace("{{headers}}", "".join(f"\n      {h}" for h in headers))
        .replace("{{steps}}", "".join(STEP.format(n=n, keys=k) for n, k in enumerate(keys)))
    )
    scenario = work / "caller.xml"
    scenario.write_text(text)
    return scenario


async def trunk_channel(driver: Driver, call_id: str, since: int, timeout: float = 10.0) -> tuple[str, str]:
    """The PJSIP channel (name, Asterisk's uniqueid) of the SIP dialog ``call_id``: found by the dialog's Call-ID and
    asked of the channel itself, never read off the Newchannel event or matched by caller ID: a hostile caller ID
    shapes those (a CR LF CR LF in it ends Asterisk's AMI event early, and the event's later fields go missing)."""
    seen: set[str] = set()
    async with asyncio.timeout(timeout):
        while True:
            for e in driver.log.matching(event("Newchannel"), since=since):
                channel = str(e.get("Channel"))
                if channel in seen or not channel.startswith("PJSIP/trunk-"):
                    continue
                seen.add(channel)
                if await getvar(driver, channel, "CHANNEL(pjsip,call-id)") == call_id:
                    return channel, await getvar(driver, channel, "UNIQUEID")
            mark = driver.log.mark()
            await driver.log.wait_for(event("Newchannel"), since=mark)


async def getvar(driver: Driver, channel: str, name: str) -> str:
    reply = await driver.link.send({"Action": "Getvar", "Channel": channel, "Variable": name})
    return str(reply.get("Value") or "")


@contextlib.asynccontextmanager
async def sip_caller(
    asterisk: AsteriskUnderTest,
    driver: Driver,
    work: Path,
    keys: Sequence[str],
    *,
    from_user: str,
    name: str = "SIP caller",
    headers: Sequence[str] = (),
) -> AsyncIterator[SipCaller]:
    """Dial the service number from SIPp as ``from_user``; the call is answered when this yields."""
    work.mkdir(parents=True, exist_ok=True)
    scenario = render_scenario(work, keys, from_user=from_user, name=name, headers=headers)
    twin = Twin()
    twin_port = await twin.start()
    a = asterisk.config.asterisk
    mark = driver.log.mark()
    sipp = await start_sipp(
        f"{a.sip_host}:{a.sip_port}",
        work,
        # -aa: answer an INFO, NOTIFY, OPTIONS or UPDATE from Asterisk like a phone would, not fail the call on it
        ["-sf", str(scenario), "-s", a.service_number, "-aa"],
        twin_port=twin_port,
    )
    try:
        answered = await twin.receive(sipp)
        assert answered.get("Step") == "answered", answered
        channel, uniqueid = await trunk_channel(driver, answered["Call-ID"], mark)
        caller = SipCaller(
            driver, uniqueid, from_user, channel=channel, twin=twin, sipp=sipp, call_id=answered["Call-ID"]
        )
        caller.keys = list(keys)
        caller._seen = mark
        yield caller
    finally:
        await stop_sipp(sipp, twin, work)
