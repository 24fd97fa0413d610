"""A readable transcript of one call, from the AMI events the driver recorded: who heard what, who pressed
what, what Asterisk did. Pure: events in, lines out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from panoramisk.message import Message

from callcenter.demo.script import read_files
from callcenter.domain import naming

AGENT_CHANNEL = naming.AGENT_CHANNEL
WORDS = {
    "cc/point": "point",
    "digits/star": "star",
    "digits/pound": "pound",
    "digits/hundred": "hundred",
    "digits/thousand": "thousand",
}


def speak(files: Sequence[str], texts: Mapping[str, str]) -> str:
    """Sound files as the words they say: cc/<name> from the prompt texts, digits/<n> as the number."""
    words: list[str] = []
    for f in files:
        if f in WORDS:
            words.append(WORDS[f])
        elif f.startswith("digits/"):
            words.append(f.removeprefix("digits/"))
        elif f.startswith("letters/"):
            words.append(f.removeprefix("letters/").upper())
        else:
            words.append(texts.get(f.removeprefix("cc/"), f"[{f}]"))
    return " ".join(words).replace(" .", ".")


def who(channel: str, caller_uniqueid: str, uniqueid: str) -> str | None:
    if uniqueid == caller_uniqueid:
        return "caller"
    found = AGENT_CHANNEL.match(channel)
    return f"agent {found['agent']}" if found else None


# What Asterisk did, for events about the caller's call: event name -> sentence.
QUEUE_EVENTS: Mapping[str, Callable[[Message], str]] = {
    "QueueCallerJoin": lambda e: f"Asterisk: caller joins queue {e.get('Queue')} at position {e.get('Position')}",
    "AgentCalled": lambda e: f"Asterisk: rings member {e.get('MemberName')} of {e.get('Queue')} ({e.get('Interface')})",
    "AgentRingNoAnswer": lambda e: f"Asterisk: member {e.get('MemberName')} did not take the call",
    "AgentConnect": lambda e: f"Asterisk: agent {e.get('MemberName')} connected after {e.get('HoldTime')} s in queue",
    "AgentComplete": lambda e: f"Asterisk: call complete after {e.get('TalkTime')} s talk, ended by {e.get('Reason')}",
    "QueueCallerAbandon": lambda e: "Asterisk: caller abandoned the queue",
    "Hangup": lambda e: f"caller's line ends ({e.get('Cause-txt')})",
}


def describe(e: Message, caller_uniqueid: str, texts: Mapping[str, str]) -> str | None:
    name = e.get("Event")
    party = who(str(e.get("Channel", "")), caller_uniqueid, str(e.get("Uniqueid", "")))
    if name == "AGIExecStart" and party:
        files = read_files(str(e.get("Command", "")))
        return f"{party} hears: \u201c{speak(files, texts)}\u201d" if files else None
    if name == "DTMFEnd" and party and e.get("Direction") == "Received":
        return f"{party} presses {e.get('Digit')}"
    if name in QUEUE_EVENTS and e.get("Uniqueid") == caller_uniqueid:
        return QUEUE_EVENTS[str(name)](e)
    if name == "UserEvent" and e.get("UserEvent") == "CallCenterScreen":
        return (
            f"screen pop for agent {e.get('Agent')}: caller {e.get('Caller')}, score {e.get('Score') or '-'} "
            f"from {e.get('Ratings')} ratings, new: {e.get('New')}"
        )
    if name == "UserEvent" and e.get("UserEvent") == "CallCenterRated" and e.get("Call") == caller_uniqueid:
        return f"stored: evaluation #{e.get('Evaluation')} ({e.get('Direction')})"
    return None


def transcript(
    events: Sequence[tuple[float, Message]], caller_uniqueid: str, texts: Mapping[str, str], start: float
) -> list[str]:
    lines = []
    for at, e in events:
        text = describe(e, caller_uniqueid, texts)
        if text is not None:
            lines.append(f"{at - start:6.1f}s  {text}")
    return lines
