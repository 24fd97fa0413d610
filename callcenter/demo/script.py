"""Scripted callers driven over AMI, for `callcenter demo` and the end-to-end tests.

A call is an AMI Originate of ``Local/<number>@cc-inbound/n``: the Local channel's second half runs the IVR, the
first half is the "phone". Digits pressed while no digit-collecting command runs are lost, so the script waits
for the AMI event that says a ``Read()`` started on the IVR half (``AGIExecStart``) and only then injects the
digits as received DTMF (``PlayDTMF`` with ``Receive: true``). What the caller heard is read off the same events.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from panoramisk.message import Message

from callcenter.ami.link import AMILink
from callcenter.domain import naming

Predicate = Callable[[Message], bool]
READ = re.compile(r"^EXEC Read (?:\"(?P<quoted>.*)\"|(?P<plain>\S+))", re.DOTALL)
# PINs are read with GET DATA (one file): GET DATA <file> <timeout ms> <max digits>
GET_DATA = re.compile(r"^GET DATA (?P<file>\S+) ")
# and the sentences between PIN entries are played with STREAM FILE (no key collected, nothing logged)
STREAM_FILE = re.compile(r"^STREAM FILE (?P<file>\S+) ")


class EventLog:
    """Every AMI event seen since the driver logged in; scripts await the one they expect instead of sleeping."""

    def __init__(self) -> None:
        self.events: list[Message] = []
        self.times: list[float] = []  # time.monotonic() of each event's arrival, for transcripts
        self._changed = asyncio.Condition()

    async def record(self, event: Message) -> None:
        async with self._changed:
            self.events.append(event)
            self.times.append(time.monotonic())
            self._changed.notify_all()

    def timed(self, since: int = 0) -> list[tuple[float, Message]]:
        return list(zip(self.times[since:], self.events[since:], strict=True))

    async def wait_for(self, predicate: Predicate, timeout: float = 15.0, since: int = 0) -> Message:
        async with asyncio.timeout(timeout), self._changed:
            while True:
                for event in self.events[since:]:
                    if predicate(event):
                        return event
                await self._changed.wait()

    def mark(self) -> int:
        return len(self.events)

    def matching(self, predicate: Predicate, since: int = 0) -> list[Message]:
        return [e for e in self.events[since:] if predicate(e)]


def event(name: str, **fields: str) -> Predicate:
    def match(e: Message) -> bool:
        return bool(e.get("Event") == name and all(e.get(k) == v for k, v in fields.items()))

    return match


def read_files(command: str) -> list[str] | None:
    """The sound files of an ``EXEC Read CC_DIGITS,a&b&c,...``, ``GET DATA a ...`` (both collect keys) or
    ``STREAM FILE a ""`` (an announcement: keys pressed during it are lost) AGI command, or None for another."""
    data = GET_DATA.match(command) or STREAM_FILE.match(command)
    if data is not None:
        return [data["file"]]
    found = READ.match(command)
    if found is None:
        return None
    args = (found["quoted"] or found["plain"] or "").replace('\\"', '"').split(",")
    return args[1].split("&") if len(args) > 1 else []


def is_read(uniqueid: str) -> Predicate:
    def match(e: Message) -> bool:
        return (
            e.get("Event") == "AGIExecStart"
            and e.get("Uniqueid") == uniqueid
            and read_files(str(e.get("Command", ""))) is not None
        )

    return match


@dataclass
class Caller:
    """One scripted caller: what they heard (prompt by prompt) and pressed."""

    driver: Driver
    uniqueid: str  # the IVR half's uniqueid = the call's id in the store
    number: str
    heard: list[list[str]] = field(default_factory=list)
    pressed: list[str] = field(default_factory=list)
    channel: str = ""
    _seen: int = 0

    async def prompt(self, contains: str | None = None, timeout: float = 20.0) -> list[str]:
        """Wait for the next Read() on the IVR (optionally one playing ``contains``); return its files."""

        def wanted(e: Message) -> bool:
            if not is_read(self.uniqueid)(e):
                return False
            files = read_files(str(e.get("Command", ""))) or []
            return contains is None or contains in files

        event_ = await self.driver.log.wait_for(wanted, timeout=timeout, since=self._seen)
        self._seen = self.driver.log.events.index(event_) + 1
        files = read_files(str(event_.get("Command", ""))) or []
        self.heard.append(files)
        self.channel = str(event_.get("Channel"))
        return files

    async def press(self, keys: str) -> None:
        """Press keys on the phone; call only right after prompt() returned (a Read() is running)."""
        for key in keys:
            # one key at a time, like a finger: the next goes once Asterisk has taken this one in
            mark = self.driver.log.mark()
            await self.driver.link.send(
                {"Action": "PlayDTMF", "Channel": self.channel, "Digit": key, "Duration": "120", "Receive": "true"}
            )
            await self.driver.log.wait_for(
                event("DTMFEnd", Channel=self.channel, Digit=key, Direction="Received"), timeout=5.0, since=mark
            )
        self.pressed.append(keys)

    async def answer(self, contains: str, keys: str, timeout: float = 20.0) -> list[str]:
        files = await self.prompt(contains, timeout)
        await self.press(keys)
        return files

    async def hangup(self) -> None:
        await self.driver.link.send({"Action": "Hangup", "Channel": self.channel})

    async def ended(self, timeout: float = 30.0) -> Message:
        return await self.driver.log.wait_for(event("Hangup", Uniqueid=self.uniqueid), timeout=timeout)


class Driver:
    """The driver AMI user (it alone may Originate): places scripted calls and records every event."""

    def __init__(self, link: AMILink) -> None:
        self.link = link
        self.log = EventLog()
        self._ids = itertools.count(1)
        self._epoch = int(time.time())
        link.on_event("*", self.log.record)

    def token(self) -> str:
        return f"{next(self._ids):04d}"

    async def originate(
        self,
        channel: str,
        context: str,
        exten: str,
        *,
        variables: Mapping[str, str] | None = None,
        callerid: str | None = None,
        action_id: str | None = None,
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
        if action_id:
            action["ActionID"] = action_id
        return await self.link.send(action)

    async def call(self, service_number: str, callerid: str | None, *, timeout: float = 15.0) -> Caller:
        """Dial the service number from a scripted phone showing ``callerid`` (None: withheld).

        The call's id is the one Asterisk gives the IVR half (``main-1796109392.26`` with a systemname), found from
        the Originate's own response and the LocalBridge event that pairs the two halves: never an id we chose.
        """
        action_id = f"cc-call-{self.token()}-{self._epoch}"
        mark = self.log.mark()
        await self.originate(
            naming.inbound_call(service_number),
            naming.TEST_PHONE,
            "s",
            callerid=f'"caller" <{callerid}>' if callerid else '"anonymous" <anonymous>',
            action_id=action_id,
        )
        # Async Originate answers at once; OriginateResponse (with our ActionID) follows once the IVR half answered
        response = await self.log.wait_for(event("OriginateResponse", ActionID=action_id), timeout, since=mark)
        if response.get("Response") != "Success":
            raise RuntimeError(f"the scripted call to {service_number} failed: {response.get('Reason')}")
        phone = str(response.get("Uniqueid"))
        bridge = await self.log.wait_for(event("LocalBridge", LocalOneUniqueid=phone), timeout, since=mark)
        return Caller(self, str(bridge.get("LocalTwoUniqueid")), callerid or "anonymous")

    async def set_global(self, name: str, value: str) -> None:
        await self.link.send({"Action": "Setvar", "Variable": name, "Value": value})
