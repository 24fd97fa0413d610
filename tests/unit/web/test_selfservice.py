"""Callers and agents on the web: signing in with the IVR's one-time code, rating under the phone's rules, and an
agent's availability."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from callcenter.domain.pins import hash_agent_pin
from callcenter.store.models import AGENT_TO_CLIENT, CLIENT_TO_AGENT, AgentDef
from callcenter.usecases.ports import utcnow
from tests.unit.web.conftest import Console, answered, csrf_of, sign_in

SCORES = {"score-attitude": "5", "score-knowledge": "4", "score-availability": "3", "score-other": "2"}


async def caller(console: Console, client: httpx.AsyncClient, number: str) -> None:
    found = await console.store.find_client(number)
    assert found is not None
    code = await console.center.sign_in.issue_code(found.id)
    assert re.fullmatch(r"[0-9]{6}", code)
    signed = await sign_in(client, "caller", number=number, secret=code)
    assert signed.headers.get("location") == "/me", signed.text


async def test_a_code_signs_in_once_and_only_its_caller(console: Console) -> None:
    await answered(console.store, "main-1.1", "5550101", "1001")
    await answered(console.store, "main-2.1", "5550102", "1002")
    one = await console.store.find_client("5550101")
    assert one is not None
    code = await console.center.sign_in.issue_code(one.id)
    async with console.client() as other, console.client() as owner, console.client() as replay:
        # the right code with another caller's number: nothing
        assert (await sign_in(other, "caller", number="5550102", secret=code)).status_code == 401
        assert (await sign_in(owner, "caller", number="555-0101", secret=code)).status_code == 303
        assert (await sign_in(replay, "caller", number="5550101", secret=code)).status_code == 401
    # a new code replaces the old one; an expired one signs nobody in
    old = await console.center.sign_in.issue_code(one.id)
    await console.center.sign_in.issue_code(one.id)
    async with console.client() as client:
        assert (await sign_in(client, "caller", number="5550101", secret=old)).status_code == 401
    stale = await console.center.sign_in.issue_code(one.id)
    assert await console.store.take_web_code(f"client:{one.id}", "not-it", utcnow()) is False
    assert not await console.store.take_web_code(
        f"client:{one.id}",
        __import__("callcenter.domain.tokens").domain.tokens.digest(stale),
        utcnow() + timedelta(minutes=11),
    )


async def test_a_caller_rates_changes_and_deletes_only_their_own_calls(console: Console) -> None:
    await answered(console.store, "main-1.1", "5550101", "1001")
    await answered(console.store, "main-2.1", "5550102", "1002")  # someone else's call
    async with console.client() as client:
        await caller(console, client, "5550101")
        page = await client.get("/me")
        assert "Alice" in page.text
        assert "main-2.1" not in page.text
        csrf = await csrf_of(client, "/me")
        rated = await client.post("/me/rate", data={"csrf": csrf, "call": "main-1.1", **SCORES})
        assert rated.headers["location"] == "/me?saved=rated"
        stored = await console.store.get_evaluation("main-1.1", CLIENT_TO_AGENT)
        assert stored is not None
        assert dict(stored.scores) == {"attitude": 5, "knowledge": 4, "availability": 3, "other": 2}
        # changed
        await client.post("/me/rate", data={"csrf": csrf, "call": "main-1.1", **SCORES, "score-other": "5"})
        changed = await console.store.get_evaluation("main-1.1", CLIENT_TO_AGENT)
        assert changed is not None
        assert changed.scores["other"] == 5
        # another caller's call, by its uniqueid: refused, nothing written
        refused = await client.post("/me/rate", data={"csrf": csrf, "call": "main-2.1", **SCORES})
        assert refused.headers["location"] == "/me?refused=not_a_party"
        assert await console.store.get_evaluation("main-2.1", CLIENT_TO_AGENT) is None
        # a score outside 1..5, or a category missing: a form that is not ours
        bad = await client.post("/me/rate", data={"csrf": csrf, "call": "main-1.1", **SCORES, "score-other": "9"})
        assert bad.status_code == 400
        deleted = await client.post("/me/unrate", data={"csrf": csrf, "call": "main-1.1"})
        assert deleted.headers["location"] == "/me?saved=unrated"
        gone = await console.store.get_evaluation("main-1.1", CLIENT_TO_AGENT)
        assert gone is not None
        assert gone.deleted


async def test_a_rating_an_operator_removed_cannot_be_given_again_on_the_web(console: Console) -> None:
    await answered(console.store, "main-1.1", "5550101", "1001")
    found = await console.store.find_client("5550101")
    assert found is not None
    scores = {"attitude": 1, "knowledge": 1, "availability": 1, "other": 1}
    await console.store.record_evaluation("main-1.1", CLIENT_TO_AGENT, scores, f"client:{found.id}", utcnow())
    await console.center.ratings.remove("main-1.1", CLIENT_TO_AGENT, operator="sue", reason="abusive")
    async with console.client() as client:
        await caller(console, client, "5550101")
        page = await client.get("/me")
        assert "An operator removed this rating" in page.text
        csrf = await csrf_of(client, "/me")
        again = await client.post("/me/rate", data={"csrf": csrf, "call": "main-1.1", **SCORES})
        assert again.headers["location"] == "/me?refused=removed"
    evaluation = await console.store.get_evaluation("main-1.1", CLIENT_TO_AGENT)
    assert evaluation is not None
    assert evaluation.deleted


async def test_an_agent_rates_their_caller_and_pauses_and_resumes(console: Console) -> None:
    await answered(console.store, "main-1.1", "5550101", "1001")
    async with console.client() as client:
        assert (await sign_in(client, "agent", agent="1001", pin="1111")).status_code == 303
        page = await client.get("/me")
        assert "… 0101" in page.text
        assert "5550101" not in page.text  # agents know callers by the last digits, as on the phone
        csrf = await csrf_of(client, "/me")
        await client.post("/me/rate", data={"csrf": csrf, "call": "main-1.1", **SCORES})
        assert await console.store.get_evaluation("main-1.1", AGENT_TO_CLIENT) is not None
        paused = await client.post("/me/duty", data={"csrf": csrf, "state": "paused", "reason": "lunch"})
        assert paused.headers["location"] == "/me?saved=duty"
        presence = (await console.center.duty.current(["1001"]))["1001"]
        assert (presence.state, presence.reason, presence.actor) == ("paused", "lunch", "agent:1001")
        # QueuePause reached Asterisk (the fake one): the member is not rung
        assert "paused (lunch)" in (await client.get("/me")).text or "(lunch)" in (await client.get("/me")).text
        # a reason that is not configured is refused
        assert (
            await client.post("/me/duty", data={"csrf": csrf, "state": "paused", "reason": "nap"})
        ).status_code == 400
        await client.post("/me/duty", data={"csrf": csrf, "state": "available"})
        assert (await console.center.duty.current(["1001"]))["1001"].state == "available"


async def test_wrong_pins_on_the_web_lock_the_web_never_the_phone(console: Console) -> None:
    async with console.client() as client:
        for _ in range(3):
            assert (await sign_in(client, "agent", agent="1001", pin="9999")).status_code == 401
        assert (await sign_in(client, "agent", agent="1001", pin="1111")).status_code == 429
        # an agent number that does not exist locks the same way: the answers never tell which exist
        for _ in range(3):
            assert (await sign_in(client, "agent", agent="1099", pin="9999")).status_code == 401
        assert (await sign_in(client, "agent", agent="1099", pin="9999")).status_code == 429
        for _ in range(3):
            assert (await sign_in(client, "caller", number="5559999", secret="123456")).status_code == 401
        assert (await sign_in(client, "caller", number="555-9999", secret="123456")).status_code == 429
    since = utcnow() - timedelta(hours=1)
    assert await console.store.pin_failures("web:agent:1001", since) == 3
    # the agent menu's own counter: whoever reaches the sign-in page cannot lock agents out of their phones
    assert await console.store.pin_failures("agent:1001", since) == 0


async def test_an_unknown_call_and_someone_elses_answer_alike(console: Console) -> None:
    await answered(console.store, "main-1.1", "5550101", "1001")
    await answered(console.store, "main-2.1", "5550102", "1002")
    async with console.client() as client:
        await caller(console, client, "5550101")
        csrf = await csrf_of(client, "/me")
        for call in ("main-2.1", "main-999.1"):
            refused = await client.post("/me/rate", data={"csrf": csrf, "call": call, **SCORES})
            assert refused.headers["location"] == "/me?refused=not_a_party", call
        for odd in ("³", "٣", " 5", "5.0", ""):
            bad = await client.post("/me/rate", data={"csrf": csrf, "call": "main-1.1", **SCORES, "score-other": odd})
            assert bad.status_code == 400, odd


async def test_a_new_pin_or_leaving_the_roster_signs_an_agent_out(console: Console) -> None:
    async with console.client() as client:
        assert (await sign_in(client, "agent", agent="1002", pin="2222")).status_code == 303
        assert (await client.get("/me")).status_code == 200
        agents = await console.store.list_agents()
        changed = [
            AgentDef(
                id=a.id,
                name=a.name,
                interface=a.interface,
                kind=a.kind,
                services=a.services,
                queues=a.queues,
                pin_hash=hash_agent_pin(a.id, "2929") if a.id == "1002" else a.pin_hash,
            )
            for a in agents
        ]
        await console.store.sync_roster(changed, utcnow())
        assert (await client.get("/me")).status_code == 303
        assert (await sign_in(client, "agent", agent="1002", pin="2929")).status_code == 303
        await console.store.sync_roster([a for a in changed if a.id != "1002"], utcnow())
        assert (await client.get("/me")).status_code == 303
