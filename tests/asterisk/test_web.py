"""The web console end to end: Debian's Chromium driven by playwright against the service's own web server, with
real calls through the real Asterisk 22. Screenshots go to var/screenshots/ (git-ignored), the run's artefacts;
the README's wallboard picture is one of them."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from callcenter.app import CallCenter
from callcenter.demo.script import Caller, Driver, event
from callcenter.demo.seed import DEMO_HISTORY, seed_history
from callcenter.domain.summaries import Scoring
from callcenter.ivr import speech
from callcenter.store.models import CLIENT_TO_AGENT
from callcenter.usecases.ports import utcnow
from callcenter.usecases.sign_in import add_operator
from tests.asterisk.conftest import PROJECT, AsteriskUnderTest
from tests.asterisk.ivr import AGENT_MENU, agent_on_a_call, offer_of, store_of, wait_for_busy_favourite
from tests.asterisk.sip_caller import sip_caller

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.usefixtures("scripted_agents"),
]

SCREENSHOTS = PROJECT / "var" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# without the networking flags Chromium keeps trying Google's hosts, which this machine's closed network refuses
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "wallboard for the supervisors"
LIVE_WITHIN_MS = 2000  # the promise: a caller joining shows on an open wallboard within 2 s


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)")
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    made = await browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    try:
        yield made
    finally:
        await made.close()


def url(center: CallCenter, path: str) -> str:
    assert center.web is not None
    return f"http://127.0.0.1:{center.web.port}{path}"


async def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def operator_page(center: CallCenter, context: BrowserContext) -> Page:
    await add_operator(store_of(center), "sue", PASSWORD, utcnow)
    page = await context.new_page()
    await page.goto(url(center, "/board"))
    # sent to sign in first, and back to the wallboard after
    await expect(page).to_have_url(re.compile(r"/signin"))
    await page.fill("#signin-operator input[name=name]", "sue")
    await page.fill("#signin-operator input[name=password]", PASSWORD)
    await page.click("#signin-operator button")
    await expect(page).to_have_url(re.compile(r"/board$"))
    return page


async def web_code(caller: Caller) -> str:
    """Press star in the service menu; the one-time code the IVR reads (the digits after "your code is")."""
    await caller.answer("cc/choose-service", "*")
    files = await caller.prompt("cc/web-code-is")
    start, end = files.index("cc/web-code-is") + 1, files.index("cc/web-code-again")
    digits = [f.removeprefix("digits/") for f in files[start:end]]
    assert len(digits) == 6, files
    assert files[end + 1 : end + 7] == files[start:end]  # read twice
    return "".join(digits)


async def bob_offered(driver: Driver, number: str) -> list[str]:
    """What a new caller hears about Bob (1002) in the support agent menu."""
    caller = await driver.call("800", number)
    await caller.answer("cc/choose-service", "1")
    menu = await caller.prompt(AGENT_MENU)
    await caller.hangup()
    await caller.ended()
    return offer_of(menu, "1002")


async def test_a_caller_joining_a_queue_shows_on_the_open_wallboard_within_2_s(
    center: CallCenter, driver: Driver, context: BrowserContext
) -> None:
    await seed_history(store_of(center), DEMO_HISTORY)
    page = await operator_page(center, context)
    await page.evaluate("window.stillTheSamePage = true")
    waiting = page.locator('#agents tr[data-agent="1001"] td.waiting')
    await expect(waiting).to_have_text("0")
    await expect(page.locator("#live")).to_have_text("live")
    await agent_on_a_call(driver, "1001")
    mark = driver.log.mark()
    caller = await driver.call("800", "5550601")
    await wait_for_busy_favourite(caller)
    await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid, Queue="agent-1001"), since=mark)
    # from Asterisk's event to the page, without a reload
    await expect(waiting).to_have_text("1", timeout=LIVE_WITHIN_MS)
    assert await page.evaluate("window.stillTheSamePage") is True
    await expect(page.locator('#agents tr[data-agent="1001"] td.longest')).to_have_text(re.compile(r"^0:0\d$"))
    await shot(page, "wallboard")
    await page.goto(url(center, "/board?lang=zh"))
    await expect(page.locator("header nav a").first).to_have_text("实时看板")
    await expect(page.locator('#agents tr[data-agent="1001"] td.waiting')).to_have_text("1")
    await shot(page, "wallboard-zh")
    await caller.hangup()
    await caller.ended()
    await expect(page.locator('#agents tr[data-agent="1001"] td.waiting')).to_have_text("0", timeout=LIVE_WITHIN_MS)
    await driver.set_global("DEVICE_STATE(Custom:agent-1001)", "NOT_INUSE")


async def test_a_caller_changes_a_rating_on_the_web_and_the_next_caller_hears_the_new_score(
    center: CallCenter, driver: Driver, context: BrowserContext, browser: Browser
) -> None:
    store = store_of(center)
    await seed_history(store, DEMO_HISTORY)
    # a call of a minute ago between 5551009 and Bob, rated all 5s on the phone
    now = datetime.now(UTC)
    client = await store.client_for_number("5551009", now)
    assert client is not None
    call = f"{center.config.asterisk.instance}-{int(now.timestamp())}.99"
    await store.start_call(call, call, client.id, "support", now - timedelta(minutes=5))
    await store.call_queued(call, "agent-1002", now - timedelta(minutes=5))
    await store.call_answered(call, "1002", now - timedelta(minutes=4))
    await store.call_ended(call, "answered", now - timedelta(minutes=1))
    await store.record_evaluation(
        call,
        CLIENT_TO_AGENT,
        dict.fromkeys(("attitude", "knowledge", "availability", "other"), 5),
        f"client:{client.id}",
        now,
    )
    before = await bob_offered(driver, "5550602")
    # the caller asks the IVR for a code, and signs in with it
    caller = await driver.call("800", "5551009")
    code = await web_code(caller)
    await caller.prompt("cc/choose-service", timeout=40)  # back in the menu once the code is read
    await caller.hangup()
    await caller.ended()
    page = await context.new_page()
    await page.goto(url(center, "/signin"))
    await page.fill("#signin-caller input[name=number]", "5551009")
    await page.fill("#signin-caller input[name=secret]", code)
    await page.click("#signin-caller button")
    await expect(page).to_have_url(re.compile(r"/me$"))
    item = page.locator(f'article.call[data-call="{call}"]')
    await expect(item.locator("h3")).to_contain_text("Bob")
    for category in ("attitude", "knowledge", "availability", "other"):
        await item.locator(f"select[name=score-{category}]").select_option("1")
    await item.locator("form.rate button").click()
    await expect(page.locator(".notice")).to_have_text("Your rating is saved.")
    await shot(page, "caller-ratings")
    # the same page on a phone: nothing wider than the screen (tables scroll inside themselves)
    phone = await browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, storage_state=await context.storage_state()
    )
    try:
        small = await phone.new_page()
        await small.goto(url(center, "/me"))
        await expect(small.locator(f'article.call[data-call="{call}"] h3')).to_contain_text("Bob")
        assert await small.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await shot(small, "caller-ratings-phone")
    finally:
        await phone.close()
    evaluation = await store.get_evaluation(call, CLIENT_TO_AGENT)
    assert evaluation is not None
    assert dict(evaluation.scores) == dict.fromkeys(("attitude", "knowledge", "availability", "other"), 1)
    # the next caller hears Bob's new score: the one the store's ratings give now
    scoring = Scoring(tuple(c.id for c in center.config.categories), center.config.policy)
    expected = speech.rated(scoring(await store.agent_summary("1002")).overall)
    after = await bob_offered(driver, "5550603")
    assert expected in after
    assert after != before


async def test_an_agent_pauses_on_the_web_and_is_not_rung(
    center: CallCenter, driver: Driver, context: BrowserContext
) -> None:
    page = await context.new_page()
    await page.goto(url(center, "/signin"))
    await page.fill("#signin-agent input[name=agent]", "1001")
    await page.fill("#signin-agent input[name=pin]", "1111")
    await page.click("#signin-agent button")
    await expect(page).to_have_url(re.compile(r"/me$"))
    mark = driver.log.mark()
    await page.select_option("#duty select[name=reason]", "break")
    await page.click("#duty button[value=paused]")
    await expect(page.locator("#duty h2")).to_contain_text("paused (break)")
    await shot(page, "agent-paused")
    await driver.log.wait_for(event("QueueMemberPause", MemberName="1001", Queue="agent-1001", Paused="1"), since=mark)
    # a caller taking the first available agent of support: rung and connected, never at Alice
    caller = await driver.call("800", "5550604")
    await caller.answer("cc/choose-service", "1")
    menu = await caller.answer(AGENT_MENU, "0")
    assert "cc/agent-1001" not in menu
    connect = await driver.log.wait_for(event("AgentConnect", Uniqueid=caller.uniqueid), since=mark, timeout=30)
    assert connect.get("MemberName") != "1001"
    rung = {e.get("MemberName") for e in driver.log.matching(event("AgentCalled"), since=mark)}
    assert "1001" not in rung
    assert rung
    await caller.hangup()
    await caller.ended()
    presence = (await center.duty.current(["1001"]))["1001"]
    assert (presence.state, presence.reason, presence.actor) == ("paused", "break", "agent:1001")
    # and back
    await page.click("#duty button[value=available]")
    await expect(page.locator("#duty h2")).to_contain_text("available")
    await driver.log.wait_for(event("QueueMemberPause", MemberName="1001", Queue="agent-1001", Paused="0"), since=mark)


async def test_an_operator_removes_a_rating_and_the_audit_trail_shows_it(
    center: CallCenter, context: BrowserContext
) -> None:
    store = store_of(center)
    await seed_history(store, DEMO_HISTORY)
    page = await operator_page(center, context)
    await page.click("header nav >> text=Agents")
    await page.click('a[href="/agents/1001"]')
    row = page.locator("#evaluations tbody tr").first
    call = await row.get_attribute("data-call")
    assert call is not None
    await row.locator("input[name=reason]").fill("abusive words about the agent")
    await row.locator("button").click()
    await expect(page).to_have_url(re.compile(r"/agents/1001\?removed=1$"))
    await page.goto(url(center, f"/audit?call={call}"))
    first = page.locator("#audit tbody tr").first
    await expect(first).to_contain_text("removed by an operator")
    await expect(first).to_contain_text("operator sue")
    await expect(first).to_contain_text("abusive words about the agent")
    await shot(page, "audit")
    evaluation = await store.get_evaluation(call, CLIENT_TO_AGENT)
    assert evaluation is not None
    assert evaluation.deleted


async def test_a_browser_without_a_session_reaches_nothing_private(center: CallCenter, context: BrowserContext) -> None:
    assert center.console is not None
    page = await context.new_page()
    for route in center.console.table:
        if route.guard.public or route.method != "GET":
            continue
        path = route.path.replace("{agent_id}", "1001")
        await page.goto(url(center, path))
        await expect(page).to_have_url(re.compile(r"/signin\?next="), timeout=5000)
        assert "Alice" not in await page.content(), path


async def test_a_forged_form_from_another_page_and_a_planted_session_both_fail(
    center: CallCenter, context: BrowserContext
) -> None:
    store = store_of(center)
    await seed_history(store, DEMO_HISTORY)
    assert center.web is not None
    # a session id planted in the browser before sign-in (session fixation) is not the one signed in
    planted = "planted-by-an-attacker-0123456789abcdefghijklmno"
    await context.add_cookies([{"name": "cc_session", "value": planted, "url": url(center, "/")}])
    page = await operator_page(center, context)
    cookies = {c["name"]: c["value"] for c in await context.cookies()}
    assert cookies["cc_session"] != planted
    # another site's page (another origin: a port of its own) that posts a removal when opened, in the signed-in
    # browser: refused, the rating stays
    target = await store.get_evaluation("seed-1001-0", CLIENT_TO_AGENT)
    assert target is not None
    assert not target.deleted
    evil = (
        "<html><body><form id=f method=post action='" + url(center, "/ratings/remove") + "'>"
        "<input name=call value=seed-1001-0><input name=direction value=client_to_agent>"
        "<input name=reason value=forged></form><script>document.getElementById('f').submit()</script></body></html>"
    ).encode()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (len(evil), evil))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        async with page.expect_response(re.compile(r"/ratings/remove$")) as answer:
            await page.goto(f"http://127.0.0.1:{port}/")
        assert (await answer.value).status == 403
    finally:
        server.close()
    after = await store.get_evaluation("seed-1001-0", CLIENT_TO_AGENT)
    assert after is not None
    assert not after.deleted


async def test_a_sip_caller_with_a_hostile_name_waits_on_the_wallboard_as_their_number(
    center: CallCenter, driver: Driver, context: BrowserContext, asterisk: AsteriskUnderTest, tmp_path: Path
) -> None:
    """RFC 2833 keys from SIPp, Asterisk's own uniqueid; the display name carries markup the page must never run."""
    page = await operator_page(center, context)
    await page.evaluate("window.stillTheSamePage = true")
    await agent_on_a_call(driver, "1001")
    mark = driver.log.mark()
    hostile = "<img src=x onerror=alert(1)>"
    try:
        async with sip_caller(
            asterisk, driver, tmp_path / "sipp", ["1", "7", "1"], from_user="5550777", name=hostile
        ) as caller:
            assert caller.uniqueid.startswith(f"{asterisk.layout.name}-"), caller.uniqueid
            await wait_for_busy_favourite(caller)
            await driver.log.wait_for(
                event("QueueCallerJoin", Uniqueid=caller.uniqueid, Queue="agent-1001"), since=mark
            )
            await expect(page.locator('#agents tr[data-agent="1001"] td.waiting')).to_have_text(
                "1", timeout=LIVE_WITHIN_MS
            )
            await expect(page.locator('#services tr[data-queue="own"] td.waiting')).to_have_text("1")
            assert await page.evaluate("window.stillTheSamePage") is True
            assert await page.locator("img[src=x]").count() == 0
            await caller.hangup()
            assert await caller.finished() == 0
        await expect(page.locator('#agents tr[data-agent="1001"] td.waiting')).to_have_text("0", timeout=LIVE_WITHIN_MS)
        call = await store_of(center).get_call(caller.uniqueid)
        assert call is not None
        assert (call.outcome, call.queue) == ("abandoned", "agent-1001")
    finally:
        await driver.set_global("DEVICE_STATE(Custom:agent-1001)", "NOT_INUSE")
