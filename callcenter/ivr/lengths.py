"""How long the caller's menus play, from the sentences speech.py builds and each sound's length
(asterisk/sounds.py): the measure behind the short menus (issue 12: a 93 s first page, 3 x 100 s before a silent
caller got the default). Pure: sound names and lengths in, seconds out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from callcenter.agi import PlayTime
from callcenter.ivr import speech
from callcenter.ivr.ask import Asking, silent_seconds
from callcenter.ivr.inbound import MANAGE_KEY

WELCOME = ("cc/welcome",)
HOLD = ("cc/shared-queue",)


def page_seconds(page: speech.MenuPage, sounds: PlayTime) -> float:
    """One agent menu page, read through once."""
    return sounds.seconds(speech.agent_menu(page))


@dataclass(frozen=True, slots=True)
class SilentPath:
    """A caller who presses nothing, from the welcome to Queue() of the first service's shared queue."""

    welcome: float
    services: float  # the service menu's first pass and wait, its short re-prompt and wait
    agents: float  # the same for the agent menu's first page
    hold: float  # "please hold for the first available agent"

    @property
    def total(self) -> float:
        return self.welcome + self.services + self.agents + self.hold


def silent_path(services: Sequence[str], agent_menu: Sequence[str], asking: Asking, sounds: PlayTime) -> SilentPath:
    """The silent caller's path for ``services`` (their order in the config) and the first agent menu they hear
    (``speech.agent_menu``'s files); the service menu as a caller with a number hears it (with key 9, the ratings
    menu)."""
    keys = [(str(i + 1), s) for i, s in enumerate(services)]
    service_menu = speech.service_menu(keys, manage_key=MANAGE_KEY)
    return SilentPath(
        welcome=sounds.seconds(WELCOME),
        services=silent_seconds(service_menu, asking, sounds, speech.service_reprompt(services[0])),
        agents=silent_seconds(agent_menu, asking, sounds, speech.AGENT_REPROMPT),
        hold=sounds.seconds(HOLD),
    )
