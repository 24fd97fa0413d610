"""The caller's menus, measured: the demo's prompts generated the way the sandbox generates them (espeak-ng, sox)
and Asterisk's own digits from the cached root, read through speech.py's sentences (issue 12: the first page of
three agents took 93 s, and a silent caller heard every menu three times)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from callcenter.asterisk.prompts import SOUND_DIR, all_prompts, ensure_prompts
from callcenter.asterisk.sounds import SoundLengths
from callcenter.config import load_config
from callcenter.config.roster import load_roster
from callcenter.domain.policy import Score
from callcenter.domain.waits import AgentLoad
from callcenter.ivr import speech
from callcenter.ivr.ask import Asking
from callcenter.ivr.lengths import HOLD, WELCOME, page_seconds, silent_path

PROJECT = Path(__file__).resolve().parents[3]
ROOT = Path(os.environ.get("CALLCENTER_ASTERISK_ROOT", "/var/cache/callcenter/asterisk-root"))
CONFIG = load_config(PROJECT / "callcenter/demo/callcenter.toml", {})
AGENTS = load_roster(PROJECT / "callcenter/demo/agents.toml", {s.id for s in CONFIG.services})
CATEGORIES = tuple(c.id for c in CONFIG.categories)
SERVICES = tuple(s.id for s in CONFIG.services)
# the demo's journey settings, as `make run` serves them (the tests' own config shortens the waits)
ASKING = Asking(CONFIG.journey.input_timeout, CONFIG.journey.attempts, CONFIG.journey.reprompt_timeout)

# the bounds: a first pass of three agents in about 25 s, a silent caller with a human within a minute
FIRST_PASS_MAX = 25.0
SILENT_MAX = 60.0


def scored(overall: float, count: int = 5) -> Score:
    return Score(overall, dict.fromkeys(CATEGORIES, overall - 0.1), count, is_new=False)


# the support service's agents as the seeded demo ranks them (tests/asterisk/test_journey.py)
ALICE = speech.Offer("1", "1001", scored(4.3), "B")
CAROL = speech.Offer("2", "1003", scored(4.2, 3), "B")
BOB = speech.Offer("3", "1002", scored(3.8, 4), "C")


@pytest.fixture(scope="module")
def sounds(tmp_path_factory: pytest.TempPathFactory) -> SoundLengths:
    """Every demo prompt generated here (the root's own may belong to another checkout), over the root's stock
    sounds (digits, letters)."""
    if not (ROOT / "usr/share/asterisk/sounds").is_dir():
        pytest.skip(f"no Asterisk root at {ROOT} (`make root` builds it): Asterisk's digits are measured from it")
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (`apt-get install espeak-ng sox`)")
    generated = tmp_path_factory.mktemp("prompts")
    asyncio.run(ensure_prompts(generated, all_prompts(CONFIG, AGENTS)))
    ours = SoundLengths.scan(generated / Path(SOUND_DIR).parent)
    stock = SoundLengths.of_root(ROOT)
    return stock.overlay(ours)


def known(sounds: SoundLengths, files: list[str]) -> list[str]:
    """The files whose length was measured (an unknown one would count as 30 s and hide the real figure)."""
    unknown = [f for f in files if f not in sounds]
    assert not unknown, f"no sound file for {unknown}"
    return files


def test_the_first_pass_of_three_free_agents_is_short(sounds: SoundLengths) -> None:
    page = speech.MenuPage([ALICE, CAROL, BOB], CATEGORIES, next_rank=CATEGORIES[0])
    seconds = sounds.seconds(known(sounds, speech.agent_menu(page)))
    assert seconds < FIRST_PASS_MAX, seconds
    # about 5 s per agent: key, name, score, grade, "free now"
    per_agent = sounds.seconds(speech.offer(CAROL, lead=False))
    assert per_agent < 5.0, per_agent
    # "first available" is heard before any agent
    assert sounds.seconds(speech.agent_menu(page)[:2]) < 3.0


def test_every_first_pass_page_stays_under_the_bound(sounds: SoundLengths) -> None:
    """With every key announced (7, 9), for the busy list with the longest waits the default limits offer, and
    ranked by the longest category."""
    limits = CONFIG.journey.limits
    longest_wait = AgentLoad(False, limits.max_waiting - 1, limits.max_wait_seconds)
    busy = [speech.Offer(o.key, o.agent_id, o.score, o.grade, longest_wait) for o in (ALICE, CAROL, BOB)]
    longest = max(CATEGORIES, key=lambda c: sounds.length(speech.category_name(c)))
    pages = {
        "free, 7 and 9": speech.MenuPage(
            [ALICE, CAROL, BOB], CATEGORIES, next_rank=CATEGORIES[0], more=True, other_list=True
        ),
        "busy": speech.MenuPage(busy, CATEGORIES, next_rank=CATEGORIES[0], more=True, busy=True, other_list=True),
        "nobody free": speech.MenuPage(busy, CATEGORIES, next_rank=CATEGORIES[0], busy=True, nobody_free=True),
        "ranked": speech.MenuPage(
            [ALICE, CAROL, BOB], CATEGORIES, ranked_by=longest, next_rank=longest, more=True, other_list=True
        ),
    }
    lengths = {name: page_seconds(page, sounds) for name, page in pages.items()}
    for page in pages.values():
        known(sounds, speech.agent_menu(page))
    assert max(lengths.values()) < FIRST_PASS_MAX, lengths
    # the details are the long form, on request only
    details = speech.MenuPage([ALICE, CAROL, BOB], CATEGORIES, next_rank=CATEGORIES[0], details=True)
    assert page_seconds(details, sounds) > lengths["free, 7 and 9"]


def test_a_silent_caller_reaches_the_shared_queue_within_a_minute(sounds: SoundLengths) -> None:
    page = speech.MenuPage([ALICE, CAROL, BOB], CATEGORIES, next_rank=CATEGORIES[0])
    known(sounds, [*WELCOME, *HOLD, *speech.AGENT_REPROMPT, *speech.service_reprompt(SERVICES[0])])
    path = silent_path(SERVICES, speech.agent_menu(page), ASKING, sounds)
    assert path.total < SILENT_MAX, path
    # the menus' waits are the config's: the first pass gets input_timeout, the re-prompt reprompt_timeout
    assert path.agents == pytest.approx(
        page_seconds(page, sounds) + ASKING.timeout + sounds.seconds(speech.AGENT_REPROMPT) + ASKING.reprompt_timeout
    )
