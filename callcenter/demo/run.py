"""One scripted demo call through the whole journey, printed as a transcript (`callcenter demo`, `make run`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from callcenter.ami.link import AMILink, AMISettings
from callcenter.asterisk.prompts import all_prompts
from callcenter.config import Config, ami_secret_path
from callcenter.demo.script import Driver, event
from callcenter.demo.transcript import transcript
from callcenter.domain.agents import AgentSpec
from callcenter.store import Call, Evaluation, Store, opening
from callcenter.store.models import CLIENT_TO_AGENT

DEMO_CALLER = "5550199"
DEMO_SCORES = "5454"


async def demo_call(
    config: Config,
    agents: Sequence[AgentSpec],
    out: Callable[[str], None] = print,
    number: str = DEMO_CALLER,
    store: Store | None = None,
) -> str:
    """Call the service number as ``number``, take the best agent, rate them; print what happened.

    What was stored is read from ``store``, else from the config's database, opened read-only: the running service
    owns it.
    """
    secret = ami_secret_path(config, config.asterisk.driver_username).read_text().strip()
    link = AMILink(AMISettings(config.ami.host, config.ami.port, config.asterisk.driver_username, secret))
    driver = Driver(link)
    await link.start()
    try:
        start = time.monotonic()
        out(f"demo: {number} dials {config.asterisk.service_number} ...")
        caller = await driver.call(config.asterisk.service_number, number)
        await caller.answer("cc/choose-service", "1", timeout=60)
        await caller.answer("cc/first-available", "1", timeout=90)
        await caller.answer("cc/please-rate", DEMO_SCORES, timeout=180)
        await driver.log.wait_for(event("UserEvent", UserEvent="CallCenterCallEnded", Call=caller.uniqueid), 120)
    finally:
        await link.close()
    for line in transcript(driver.log.timed(), caller.uniqueid, all_prompts(config, agents), start):
        out(line)
    if store is None:
        async with await opening.open_existing(config.store.target) as own:
            call, rated = await _stored(own, caller.uniqueid)
    else:
        call, rated = await _stored(store, caller.uniqueid)
    if call is not None:
        out(
            f"stored call {call.uniqueid}: outcome {call.outcome}, agent {call.agent_id}, queue {call.queue}, "
            f"hold {call.hold_seconds} s, talk {call.talk_seconds} s"
        )
    if rated is not None:
        out(f"stored rating of agent {rated.agent_id}: {dict(rated.scores)}")
    out(f"demo: whole journey took {time.monotonic() - start:.1f} s")
    return caller.uniqueid


async def _stored(store: Store, uniqueid: str) -> tuple[Call | None, Evaluation | None]:
    return await store.get_call(uniqueid), await store.get_evaluation(uniqueid, CLIENT_TO_AGENT)
