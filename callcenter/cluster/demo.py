"""A scripted call through Kamailio (``callcenter cluster run``, ``make cluster``): the caller's phone is a channel
node A originates to Kamailio (``PJSIP/trunk/sip:800@<kamailio>``), so the call enters the cluster as any SIP
caller's does, and Kamailio picks the node that serves it. The script watches the serving node's AMI for each
prompt (``Caller.prompt``) and presses keys on the phone's own channel, in node A: PlayDTMF sends them over RTP
(RFC 4733) through the call, exactly as a handset would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from callcenter.demo.run import DEMO_SCORES
from callcenter.demo.script import Caller, Driver, event
from callcenter.demo.transcript import transcript
from callcenter.domain import naming


@dataclass
class ProxiedCaller(Caller):
    phone: Driver | None = None  # the node the phone's channel lives on
    phone_channel: str = ""

    async def press(self, keys: str) -> None:
        assert self.phone is not None
        for key in keys:
            mark = self.driver.log.mark()
            await self.phone.link.send(
                {"Action": "PlayDTMF", "Channel": self.phone_channel, "Digit": key, "Duration": "120"}
            )
            await self.driver.log.wait_for(
                event("DTMFEnd", Channel=self.channel, Direction="Received", Digit=key), timeout=10.0, since=mark
            )
        self.pressed.append(keys)


async def call_through(
    phone: Driver, nodes: Mapping[str, Driver], *, proxy: str, service_number: str, number: str, timeout: float = 15.0
) -> ProxiedCaller:
    """Dial ``service_number`` at Kamailio from a phone on ``phone``'s node; the caller as the serving node has it."""
    marks = {name: d.log.mark() for name, d in nodes.items()}
    action_id = f"cc-cluster-call-{phone.token()}"
    mark = phone.log.mark()
    await phone.originate(
        f"PJSIP/trunk/sip:{service_number}@{proxy}",
        naming.TEST_PHONE,
        "s",
        callerid=f'"caller" <{number}>',
        action_id=action_id,
    )
    response = await phone.log.wait_for(event("OriginateResponse", ActionID=action_id), timeout, since=mark)
    if response.get("Response") != "Success":
        raise RuntimeError(f"the call to {service_number} through Kamailio failed: {response.get('Reason')}")
    phone_channel = str(response.get("Channel"))
    call_id = await _getvar(phone, phone_channel, "CHANNEL(pjsip,call-id)")
    async with asyncio.timeout(timeout):
        while True:
            for name, driver in nodes.items():
                for e in driver.log.matching(event("Newchannel"), since=marks[name]):
                    channel = str(e.get("Channel"))
                    # (channel names are per node: the serving node's may well be the phone's own name)
                    if (driver is phone and channel == phone_channel) or not channel.startswith("PJSIP/trunk-"):
                        continue
                    if await _getvar(driver, channel, "CHANNEL(pjsip,call-id)") == call_id:
                        uniqueid = await _getvar(driver, channel, "UNIQUEID")
                        caller = ProxiedCaller(driver, uniqueid, number, channel=channel, _seen=marks[name])
                        caller.phone, caller.phone_channel = phone, phone_channel
                        return caller
            await asyncio.sleep(0.1)


async def _getvar(driver: Driver, channel: str, name: str) -> str:
    reply = await driver.link.send({"Action": "Getvar", "Channel": channel, "Variable": name})
    return str(reply.get("Value") or "")


async def cluster_demo_call(
    phone: Driver,
    nodes: Mapping[str, Driver],
    *,
    proxy: str,
    service_number: str,
    number: str,
    prompts: Mapping[str, str],
    out: Callable[[str], None] = print,
) -> str:
    """One caller through Kamailio: support, the best agent, rates them; the transcript as the serving node saw it."""
    start = time.monotonic()
    out(f"cluster demo: {number} dials {service_number} at Kamailio ({proxy}) ...")
    caller = await call_through(phone, nodes, proxy=proxy, service_number=service_number, number=number)
    node = caller.uniqueid.rsplit("-", 1)[0]
    out(f"cluster demo: Kamailio sent the call to {node}: {caller.uniqueid}")
    await caller.answer("cc/choose-service", "1", timeout=60)
    await caller.answer("cc/first-available", "1", timeout=90)
    await caller.answer("cc/please-rate", DEMO_SCORES, timeout=180)
    await caller.driver.log.wait_for(
        event("UserEvent", UserEvent="CallCenterCallEnded", Call=caller.uniqueid), 120, since=caller._seen
    )
    for line in transcript(caller.driver.log.timed(), caller.uniqueid, prompts, start):
        out(line)
    out(f"cluster demo: whole journey took {time.monotonic() - start:.1f} s")
    return caller.uniqueid
