"""What the end-to-end tests read off a running call center: the store, agent menus, an Asterisk restart."""

from __future__ import annotations

from collections.abc import Sequence

from callcenter.app import CallCenter
from callcenter.demo.script import Caller, Driver
from callcenter.ivr import speech
from callcenter.store import Store
from tests.asterisk.conftest import AsteriskUnderTest


def store_of(center: CallCenter) -> Store:
    assert center.store is not None
    return center.store


# what the agent menu plays (every page says "Press 0 for the first available agent" first), and its lists
AGENT_MENU = "cc/first-available"
BUSY_LIST = "cc/opt-free"  # the agents with a wait: "7 for free agents" goes back
DETAILS = "cc/opt-short"  # each agent's scores by category: "pound for the short list" goes back
# what starts the next thing said in an agent menu: an agent's key ("Press 1 for", "2 for") or one of the options
_NEXT = ("cc/key-", "cc/then-", "cc/opt-")


def offer_of(menu: Sequence[str], agent: str) -> list[str]:
    """The part of an agent menu that speaks about ``agent``: from its name to the next key or option."""
    start = menu.index(f"cc/agent-{agent}")
    end = next((i for i in range(start + 1, len(menu)) if menu[i].startswith(_NEXT)), len(menu))
    return list(menu[start:end])


def key_of(menu: Sequence[str], agent: str) -> str:
    """The key that chooses ``agent`` in an agent menu ("Press 2 for Carol" / "2 for Carol")."""
    keys = {a: k for k, a in speech.menu_keys(menu)}
    assert agent in keys, menu
    return keys[agent]


def offered(menu: Sequence[str]) -> list[str]:
    """The agents an agent menu offers, in order."""
    return [f.removeprefix("cc/agent-") for f in menu if f.startswith("cc/agent-")]


async def restart_asterisk(asterisk: AsteriskUnderTest, center: CallCenter, driver: Driver) -> None:
    """Stop and start the session's Asterisk; return once ``center`` resynced its queues and the driver is back."""
    done = center.queues.resyncs
    assert asterisk.sandbox.process is not None
    await asterisk.sandbox.process.stop()
    await asterisk.sandbox.process.start(asterisk.config.asterisk.boot_timeout)
    # the service reconnects with backoff, sees FullyBooted and resyncs
    await center.queues.wait_resynced(done + 1, timeout=20)
    await driver.link.wait_connected(timeout=15)


async def agent_on_a_call(driver: Driver, agent: str) -> None:
    """Make ``agent`` look busy on another call (their custom device state INUSE); returns once app_queue shows
    it (the agent must be a member, and free before)."""
    mark = driver.log.mark()
    await driver.set_global(f"DEVICE_STATE(Custom:agent-{agent})", "INUSE")
    await driver.log.wait_for(
        lambda e: e.get("Event") == "QueueMemberStatus" and e.get("MemberName") == agent and e.get("Status") == "2",
        since=mark,
    )


async def wait_for_busy_favourite(caller: Caller) -> None:
    """Service 1, then 7 (agents with a wait) and 1: the caller waits in the busy favourite's own queue."""
    await caller.answer("cc/choose-service", "1")
    await caller.answer(AGENT_MENU, "7")
    await caller.answer(BUSY_LIST, "1")
