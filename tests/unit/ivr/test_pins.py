"""PIN entry in the flows: the lockout holds under concurrent calls, and keyed digits reach no log."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import structlog
from structlog.testing import capture_logs

from callcenter.domain.pins import check_client_pin, hash_client_pin
from callcenter.ivr.pin_entry import PinCheck
from callcenter.store.sqlite import SqliteStore
from tests.unit.store.helpers import T0

from .conftest import AGENT_PIN, agent_menu, phone_call, pin_entry

CALLS = 20
LIMIT = 10
SINCE = T0 - timedelta(hours=1)


async def test_concurrent_wrong_agent_pins_never_exceed_the_lockout(store: SqliteStore) -> None:
    """Twenty 801 calls at once, one wrong PIN each for agent 1001, limit ten: ten failures, ten calls locked out."""
    menu = agent_menu(store, attempts=1, pin_max_failures=LIMIT)

    async def call(n: int) -> tuple[str | None, list[str]]:
        keys = {"cc/enter-agent-id": "1001", "cc/enter-agent-pin": f"{9000 + n}"}
        async with phone_call(keys, callerid=f"55590{n:02d}") as (session, transcript):
            agent = await menu.log_in_by_pin(session)
        return agent, transcript.prompts()

    results = await asyncio.gather(*(call(n) for n in range(CALLS)))
    assert [agent for agent, _ in results] == [None] * CALLS
    assert await store.pin_failures("agent:1001", SINCE) == LIMIT
    assert sum("cc/pin-locked" in prompts for _, prompts in results) == CALLS - LIMIT
    # and now even the right PIN is refused, without being asked for
    async with phone_call({"cc/enter-agent-id": "1001", "cc/enter-agent-pin": AGENT_PIN}) as (session, transcript):
        assert await menu.log_in_by_pin(session) is None
    assert transcript.prompts() == ["cc/enter-agent-id", "cc/pin-locked"]


async def test_concurrent_wrong_caller_pins_never_exceed_the_lockout(store: SqliteStore) -> None:
    client = await store.client_for_number("+15550001", now=T0)
    assert client is not None
    stored = hash_client_pin("2468")
    pins = pin_entry(store, attempts=1, pin_max_failures=LIMIT)

    async def call(n: int) -> PinCheck:
        async with phone_call({"cc/enter-pin": f"{1000 + n}"}, route="inbound") as (session, _):
            return await pins.verify_pin(
                session, "cc/enter-pin", lambda pin: check_client_pin(pin, stored), subject=f"client:{client.id}"
            )

    outcomes = await asyncio.gather(*(call(n) for n in range(CALLS)))
    assert sorted(outcome.value for outcome in outcomes) == ["locked"] * (CALLS - LIMIT) + ["wrong"] * LIMIT
    assert await store.pin_failures(f"client:{client.id}", SINCE) == LIMIT


async def test_a_right_agent_pin_logs_in_and_clears_the_failures(store: SqliteStore) -> None:
    menu = agent_menu(store, attempts=3)
    keys = {"cc/enter-agent-id": "1001", "cc/enter-agent-pin": AGENT_PIN}
    await store.record_pin_attempt("agent:1001", right=False, now=T0, since=SINCE, max_failures=LIMIT)
    async with phone_call(keys) as (session, transcript):
        assert await menu.log_in_by_pin(session) == "1001"
    assert await store.pin_failures("agent:1001", SINCE) == 0
    assert transcript.prompts() == ["cc/enter-agent-id", "cc/enter-agent-pin"]


async def test_the_agent_number_is_keyed_with_get_data_and_no_keyed_digits_are_logged(store: SqliteStore) -> None:
    """An agent keying number and PIN in one go ("10021222"): Read() would log "User entered '10021222'" in
    Asterisk's log; GET DATA does not, and neither may we."""
    menu = agent_menu(store, attempts=3)
    keys = {"cc/enter-agent-id": "10021222", "cc/enter-agent-pin": "1222"}
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        async with phone_call(keys) as (session, transcript):
            assert await menu.log_in_by_pin(session) is None
    assert transcript.commands.count(b"GET DATA cc/enter-agent-id 500 8\n") == 3
    assert not [line for line in transcript.commands if line.startswith(b"EXEC Read") and b"agent-id" in line]
    logged = repr(logs)
    assert "10021222" not in logged
    assert "1222" not in logged
    assert [entry["event"] for entry in logs].count("agent_authentication_failed") == 3


@pytest.mark.parametrize(
    ("query", "endpoint", "agent"),
    [
        # the feature code from Alice's own softphone: Asterisk says which endpoint authenticated
        ("via=softphone", "agent1001", "1001"),
        # an endpoint named in the URL (or injected into the header block) is not who the caller is
        ("via=softphone&endpoint=agent1001", "trunk", None),
        ("endpoint=agent1001", "agent1001", None),
        # a roster agent without a softphone, or no agent at all
        ("via=softphone", "agent1002", None),
        ("via=softphone", "agent9999", None),
    ],
)
async def test_the_softphone_door_takes_the_agent_from_asterisk_never_from_the_url(
    store: SqliteStore, query: str, endpoint: str, agent: str | None
) -> None:
    menu = agent_menu(store)
    async with phone_call({}, query=query, variables={"CHANNEL(endpoint)": endpoint}) as (session, transcript):
        via_softphone = session.env.params.get("via") == "softphone"
        found = await menu.softphone_agent(session) if via_softphone else None
    assert found == agent
    assert transcript.prompts() == []  # identified (or not) before anything is asked
