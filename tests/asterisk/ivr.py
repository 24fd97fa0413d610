"""What the end-to-end tests read off a running call center: the store, agent menus, an Asterisk restart."""

from __future__ import annotations

from collections.abc import Sequence

from callcenter.app import CallCenter
from callcenter.demo.script import Driver
from callcenter.store import SqliteStore
from tests.asterisk.conftest import AsteriskUnderTest


def store_of(center: CallCenter) -> SqliteStore:
    assert center.store is not None
    return center.store


def offer_of(menu: Sequence[str], agent: str) -> list[str]:
    """The part of an agent menu that speaks about ``agent``: from its name to the next "press"."""
    start = menu.index(f"cc/agent-{agent}")
    end = next((i for i in range(start, len(menu)) if menu[i] == "cc/press"), len(menu))
    return list(menu[start:end])


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
