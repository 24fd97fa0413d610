"""The console over HTTP, served by the real service: who may reach what, CSRF, session fixation, sign-out,
lockout, bounded forms, escaping, and the machine endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from callcenter.store.models import CLIENT_TO_AGENT
from callcenter.usecases.ports import utcnow
from callcenter.usecases.sign_in import add_operator
from callcenter.web import pages, server
from callcenter.web.auth import SESSION_COOKIE
from callcenter.web.pages import MAX_FORM
from callcenter.web.server import WebError
from callcenter.web.views import board as board_views
from tests.unit.web.conftest import PASSWORD, Console, answered, csrf_of, form_token, running, sign_in


@contextlib.asynccontextmanager
async def operator(console: Console, name: str = "sue") -> AsyncIterator[httpx.AsyncClient]:
    await add_operator(console.store, name, PASSWORD, utcnow)
    async with console.client() as client:
        signed = await sign_in(client, "operator", name=name, password=PASSWORD)
        assert signed.status_code == 303, signed.text
        assert signed.headers["location"] == "/board"
        yield client


def concrete(path: str) -> str:
    return path.replace("{agent_id}", "1001")


async def test_an_anonymous_visitor_reaches_nothing_private(console: Console) -> None:
    assert console.center.console is not None
    private = [p for p in console.center.console.table if not p.guard.public]
    assert len(private) >= 15  # every page but sign-in and the machines' endpoints
    async with console.client() as client:
        for page in private:
            if page.method == "GET":
                answer = await client.get(concrete(page.path))
                assert answer.status_code == 303, page.path
                assert answer.headers["location"].startswith("/signin"), page.path
            else:
                answer = await client.post(concrete(page.path), data={"call": "x", "csrf": "x"})
                assert answer.status_code == 403, page.path
            assert "Alice" not in answer.text, page.path
        # and the public ones say nothing private either
        for path in ("/signin", "/metrics", "/healthz", "/readyz"):
            answer = await client.get(path)
            assert answer.status_code == 200, path
            assert "Alice" not in answer.text, path
            assert "5550" not in answer.text, path


async def test_each_kind_of_visitor_reaches_only_its_own_pages(console: Console) -> None:
    await answered(console.store, "main-1.1", "5550101", "1001")
    code = await console.center.sign_in.issue_code((await console.store.find_client("5550101")).id)  # type: ignore[union-attr]
    async with console.client() as caller, console.client() as agent:
        assert (await sign_in(caller, "caller", number="5550101", secret=code)).headers["location"] == "/me"
        assert (await sign_in(agent, "agent", agent="1002", pin="2222")).headers["location"] == "/me"
        for path in (
            "/board",
            "/board/state",
            "/board/events",
            "/agents",
            "/agents/1001",
            "/audit",
            "/charts/scores.svg",
        ):
            assert (await caller.get(path)).status_code == 403, path
            assert (await agent.get(path)).status_code == 403, path
        # an agent sees their own charts, never another agent's; a caller sees no agent's
        assert (await agent.get("/charts/agents/1002/trend.svg")).status_code == 200
        assert (await agent.get("/charts/agents/1001/trend.svg")).status_code == 403
        assert (await caller.get("/charts/agents/1001/scores.svg")).status_code == 403
        # a caller cannot change an agent's availability
        csrf = await csrf_of(caller, "/me")
        assert (await caller.post("/me/duty", data={"csrf": csrf, "state": "logged_out"})).status_code == 403
        assert (await console.center.duty.current(["1001"]))["1001"].state == "available"


async def test_a_write_without_the_sessions_csrf_token_changes_nothing(console: Console) -> None:
    await answered(console.store, "main-2.1", "5550102", "1001")
    await console.store.record_evaluation(
        "main-2.1",
        CLIENT_TO_AGENT,
        dict.fromkeys(("attitude", "knowledge", "availability", "other"), 1),
        "client:1",
        utcnow(),
    )
    async with operator(console) as client:
        form = {"call": "main-2.1", "direction": CLIENT_TO_AGENT, "reason": "abusive"}
        for forged in ({}, {"csrf": ""}, {"csrf": "x" * 43}):
            answer = await client.post("/ratings/remove", data={**form, **forged})
            assert answer.status_code == 403
        # the right token from another site (a page elsewhere posting to us) is refused too
        csrf = await csrf_of(client, "/agents/1001")
        answer = await client.post(
            "/ratings/remove", data={**form, "csrf": csrf}, headers={"Origin": "http://evil.example"}
        )
        assert answer.status_code == 403
        evaluation = await console.store.get_evaluation("main-2.1", CLIENT_TO_AGENT)
        assert evaluation is not None
        assert not evaluation.deleted
        # with it, from here: removed, with the reason in the audit trail
        answer = await client.post("/ratings/remove", data={**form, "csrf": csrf, "back": "/agents/1001"})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/agents/1001?removed=1"
        evaluation = await console.store.get_evaluation("main-2.1", CLIENT_TO_AGENT)
        assert evaluation is not None
        assert evaluation.deleted
        history = await console.store.evaluation_history(evaluation.id)
        assert (history[-1].action, history[-1].actor, history[-1].reason) == ("delete", "operator:sue", "abusive")


async def test_a_session_id_planted_before_sign_in_is_never_signed_in(console: Console) -> None:
    await add_operator(console.store, "sue", PASSWORD, utcnow)
    async with console.client() as victim:
        planted = "attacker-knows-this-value-0123456789abcdefghijk"
        victim.cookies.set(SESSION_COOKIE, planted, domain="127.0.0.1")
        signed = await sign_in(victim, "operator", name="sue", password=PASSWORD)
        issued = signed.cookies.get(SESSION_COOKIE)
        assert issued
        assert issued != planted
    async with console.client() as attacker:
        attacker.cookies.set(SESSION_COOKIE, planted, domain="127.0.0.1")
        assert (await attacker.get("/board")).status_code == 303
    # nor a real session of the attacker's own, planted in the victim's browser: signing in ends it
    async with console.client() as attacker:
        await sign_in(attacker, "operator", name="sue", password=PASSWORD)
        theirs = attacker.cookies.get(SESSION_COOKIE)
        assert theirs is not None
        async with console.client() as victim:
            victim.cookies.set(SESSION_COOKIE, theirs, domain="127.0.0.1")
            await sign_in(victim, "operator", name="sue", password=PASSWORD)
            assert victim.cookies.get(SESSION_COOKIE) != theirs
        assert (await attacker.get("/board")).status_code == 303


async def test_the_sign_in_forms_need_their_own_token_and_a_cookie_that_matches(console: Console) -> None:
    await add_operator(console.store, "sue", PASSWORD, utcnow)
    async with console.client() as client:
        token = await form_token(client)
        assert (await client.post("/signin/operator", data={"name": "sue", "password": PASSWORD})).status_code == 403
        client.cookies.delete("cc_form")
        answer = await client.post("/signin/operator", data={"form": token, "name": "sue", "password": PASSWORD})
        assert answer.status_code == 403
        assert SESSION_COOKIE not in answer.cookies


async def test_signing_out_ends_the_session_on_the_server(console: Console) -> None:
    async with operator(console) as client:
        cookie = client.cookies.get(SESSION_COOKIE)
        assert cookie is not None
        csrf = await csrf_of(client, "/board")
        assert (await client.post("/signout", data={"csrf": csrf})).status_code == 303
    async with console.client() as replay:
        replay.cookies.set(SESSION_COOKIE, cookie, domain="127.0.0.1")
        assert (await replay.get("/board")).status_code == 303


async def test_wrong_passwords_lock_the_name_out_even_for_the_right_one(console: Console) -> None:
    await add_operator(console.store, "sue", PASSWORD, utcnow)
    async with console.client() as client:
        for _ in range(3):  # CALLCENTER_SELFSERVICE_PIN_MAX_FAILURES
            answer = await sign_in(client, "operator", name="sue", password="guess")
            assert answer.status_code == 401
            assert "did not match" in answer.text
        # an unknown name answers exactly as a wrong password does
        assert "did not match" in (await sign_in(client, "operator", name="nobody", password="guess")).text
        locked = await sign_in(client, "operator", name="sue", password=PASSWORD)
        assert locked.status_code == 429
        assert SESSION_COOKIE not in locked.cookies


async def test_a_form_larger_than_any_of_ours_is_refused_unread(console: Console) -> None:
    async with console.client() as client:
        token = await form_token(client)
        answer = await client.post("/signin/operator", data={"form": token, "name": "x" * (MAX_FORM + 1)})
        assert answer.status_code == 413


async def test_what_an_operator_typed_is_shown_as_text_never_as_markup(console: Console) -> None:
    await answered(console.store, "main-3.1", "5550103", "1001")
    await console.store.record_evaluation(
        "main-3.1",
        CLIENT_TO_AGENT,
        dict.fromkeys(("attitude", "knowledge", "availability", "other"), 2),
        "client:1",
        utcnow(),
    )
    async with operator(console) as client:
        csrf = await csrf_of(client, "/agents/1001")
        reason = '<script>alert("x")</script>'
        form = {"call": "main-3.1", "direction": CLIENT_TO_AGENT, "reason": reason, "csrf": csrf}
        assert (await client.post("/ratings/remove", data=form)).status_code == 303
        audit = await client.get("/audit?agent=1001")
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in audit.text
        assert reason not in audit.text
        assert "default-src 'self'" in audit.headers["content-security-policy"]
        assert audit.headers["cache-control"] == "no-store"


async def test_metrics_are_prometheus_text_and_readiness_follows_ami(console: Console) -> None:
    async with console.client() as client:
        metrics = await client.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        sample = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+-]+$')
        lines = [line for line in metrics.text.splitlines() if line and not line.startswith("#")]
        assert lines
        assert all(sample.match(line) for line in lines), lines
        assert "callcenter_ami_connected 1" in lines
        assert 'callcenter_agents{state="available"} 5' in lines  # the fake AMI lists every agent as free
        ready = await client.get("/readyz")
        assert (ready.status_code, ready.json()) == (
            200,
            {"status": "ready", "ami": "ok", "store": "ok", "schema": "ok"},
        )
        await console.ami.close()
        await console.center.ami.wait_disconnected(timeout=10)
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["ami"] == "not connected"
        assert (await client.get("/healthz")).status_code == 200
        await asyncio.sleep(0)


async def test_a_connection_that_never_sends_a_request_is_closed(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "HEADER_SECONDS", 0.3)
    port = int(console.url.rsplit(":", 1)[1])
    silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
    half = await asyncio.open_connection("127.0.0.1", port)
    half[1].write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    for reader, _ in [*silent, half]:
        assert await asyncio.wait_for(reader.read(), timeout=5) == b""  # closed by the server
    for _, writer in [*silent, half]:
        writer.close()
    async with console.client() as client:
        assert (await client.get("/healthz")).status_code == 200


async def test_a_trickled_form_is_cut_off(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "FORM_SECONDS", 0.3)
    port = int(console.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /signin/operator HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 1000\r\n\r\nform=a"
    )
    status = await asyncio.wait_for(reader.readline(), timeout=5)
    assert status.startswith(b"HTTP/1.1 408")
    writer.close()


async def test_an_open_wallboard_stream_ends_when_its_operator_is_disabled(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(board_views, "RECHECK", 0.0)
    monkeypatch.setattr(board_views, "HEARTBEAT", 0.2)
    async with operator(console) as client, client.stream("GET", "/board/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        assert (await anext(lines)).startswith("id: ")
        await console.store.disable_operator("sue")
        async with asyncio.timeout(5):  # the server ends the stream (a snapshot already on its way may come first)
            async for _ in lines:
                pass


async def test_sign_in_continues_to_the_page_asked_for_and_only_to_our_own(console: Console) -> None:
    await add_operator(console.store, "sue", PASSWORD, utcnow)
    async with console.client() as client:
        asked = await client.get("/audit")
        assert asked.headers["location"] == "/signin?next=/audit"
        page = await client.get(asked.headers["location"])
        assert 'name="next" value="/audit"' in page.text
        token = await form_token(client)
        signed = await client.post(
            "/signin/operator", data={"form": token, "name": "sue", "password": PASSWORD, "next": "/audit"}
        )
        assert signed.headers["location"] == "/audit"
    for elsewhere in ("//evil.example/x", "https://evil.example", "/me", "/audit\r\nX: y"):
        async with console.client() as client:
            token = await form_token(client)
            data = {"form": token, "name": "sue", "password": PASSWORD, "next": elsewhere}
            assert (await client.post("/signin/operator", data=data)).headers["location"] == "/board", elsewhere


async def test_a_trailing_slash_is_not_redirected_to_the_host_header(console: Console) -> None:
    async with console.client() as client:
        answer = await client.get("/agents/", headers={"Host": "evil.example"})
        assert answer.status_code == 404
        assert "location" not in answer.headers


async def test_behind_a_proxy_forms_come_from_the_configured_origin_only(tmp_path: Path) -> None:
    async with running(tmp_path, WEB_ORIGIN="https://cc.example.com") as behind:
        await add_operator(behind.store, "sue", PASSWORD, utcnow)
        async with behind.client() as client:
            token = await form_token(client)
            data = {"form": token, "name": "sue", "password": PASSWORD}
            here = await client.post("/signin/operator", data=data, headers={"Origin": behind.url})
            assert here.status_code == 403  # the address the proxy talks to is not where browsers are
            there = await client.post("/signin/operator", data=data, headers={"Origin": "https://cc.example.com"})
            assert there.status_code == 303


async def test_a_web_port_in_use_stops_the_start_before_any_call_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(WebError, match=rf"127.0.0.1:{port}.*\[web\] port"):
            async with running(tmp_path, WEB_PORT=str(port)):
                pass
