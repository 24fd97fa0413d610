"""What the caller and the agent hear, as lists of sound files. Pure: no I/O, so every sentence is unit-tested.

Sentences are assembled from short generated prompts (``cc/...``, see asterisk/prompts.py) and Asterisk's own
number files (``digits/...``), then played with ``Read()`` so that a key pressed during any of them barges in.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from callcenter.domain.policy import Score, spoken_score
from callcenter.domain.waits import AgentLoad, spoken_minutes

# Categories' spoken labels are generated per configured category: cc/cat-<id>.
# Agents' names are generated per roster entry: cc/agent-<id>; services' names: cc/service-<id>.


def number(n: int) -> list[str]:
    """Asterisk's English number files for 0..999 (counts of ratings, positions in queue)."""
    if n < 0:
        raise ValueError("negative numbers are never spoken")
    if n >= 1000:
        return [*number(n // 1000), "digits/thousand", *(number(n % 1000) if n % 1000 else [])]
    files: list[str] = []
    if n >= 100:
        files += [f"digits/{n // 100}", "digits/hundred"]
        n %= 100
        if n == 0:
            return files
    if n <= 20:
        files.append(f"digits/{n}")
    else:
        files.append(f"digits/{n // 10 * 10}")
        if n % 10:
            files.append(f"digits/{n % 10}")
    return files


def key(k: str) -> list[str]:
    if k == "*":
        return ["digits/star"]
    if k == "#":
        return ["digits/pound"]
    if len(k) == 1 and k.isdigit():
        return [f"digits/{k}"]
    raise ValueError(f"not a phone key: {k!r}")


def score_value(value: float) -> list[str]:
    """4.56 -> "four point six"."""
    whole, tenth = spoken_score(value)
    return [*number(whole), "cc/point", *number(tenth)]


def agent_name(agent_id: str) -> str:
    return f"cc/agent-{agent_id}"


def service_name(service_id: str) -> str:
    return f"cc/service-{service_id}"


def category_name(category_id: str) -> str:
    return f"cc/cat-{category_id}"


# --- the caller's menus: short phrases (asterisk/prompts.py MENU_PROMPTS) ------------------------------------------


def key_for(k: str, *, lead: bool = True) -> str:
    """ "Press 1 for" (keys 1-8: agents on a page, services); after the first of a list just "2 for"."""
    if not (len(k) == 1 and "1" <= k <= "8"):
        raise ValueError(f"no 'press N for' phrase for key {k!r}")
    return f"cc/key-{k}" if lead else f"cc/then-{k}"


def rated(value: float) -> str:
    """ "rated 4 point 6," (one file per score a caller can hear: 1.0-5.0)."""
    whole, tenth = spoken_score(value)
    return f"cc/rated-{whole}-{tenth}"


def score_phrase(value: float) -> str:
    """ "4 point 6," """
    whole, tenth = spoken_score(value)
    return f"cc/score-{whole}-{tenth}"


def grade_phrase(letter: str) -> str:
    return f"cc/grade-{letter.lower()}"


def wait_phrase(seconds: float) -> str:
    """ "less than a minute." / "about 3 minutes." / "more than 30 minutes." """
    return f"cc/wait-{spoken_minutes(seconds)}"


def waiting_phrase(callers: int) -> list[str]:
    """ "2 waiting," """
    if callers < 1:
        raise ValueError("nobody waiting is said as 'on a call' or 'free now'")
    return [f"cc/waiting-{callers}"] if callers <= 9 else [*number(callers), "cc/callers-waiting"]


def load_phrase(load: AgentLoad | None) -> list[str]:
    """Whether the agent is free now, or who waits for them and how long: "free now." / "on a call, about 3
    minutes." / "2 waiting, about 7 minutes." """
    if load is None or load.free:
        return ["cc/free-now"]
    ahead = waiting_phrase(load.waiting) if load.waiting else ["cc/on-call"]
    return [*ahead, wait_phrase(load.wait_seconds)]


@dataclass(frozen=True, slots=True)
class Offer:
    key: str
    agent_id: str
    score: Score
    grade: str | None = None  # A-E, None before enough ratings
    load: AgentLoad | None = None  # None: free now (as AgentLoad.free)


def offer(item: Offer, ranked_by: str | None = None, *, lead: bool = True) -> list[str]:
    """The first pass, about 5 s an agent: "Press 1 for Alice, rated 4 point 6, grade A, free now." Ranked by a
    category (the page says which), that category's score instead: "2 for Carol, 4 point 8, free now."
    ``lead``: the first agent of the page ("Press 1 for"); the next ones are "2 for", "3 for"."""
    files = [key_for(item.key, lead=lead), agent_name(item.agent_id)]
    if item.score.is_new:
        files.append("cc/new-here")
    elif ranked_by is not None:
        files.append(score_phrase(item.score.per_category[ranked_by]))
    else:
        files.append(rated(item.score.overall))
        if item.grade is not None:
            files.append(grade_phrase(item.grade))
    return [*files, *load_phrase(item.load)]


def offer_details(item: Offer, categories: Sequence[str], *, lead: bool = True) -> list[str]:
    """On request (#): "Press 1 for Alice, rated 4 point 6, grade A, from 12 ratings. service attitude 4 point 5,
    ... free now." """
    files = [key_for(item.key, lead=lead), agent_name(item.agent_id)]
    if item.score.is_new:
        files.append("cc/new-here")
    else:
        files.append(rated(item.score.overall))
        if item.grade is not None:
            files.append(grade_phrase(item.grade))
        count = item.score.count
        files += ["cc/from", *number(count), "cc/rating" if count == 1 else "cc/ratings"]
        for category in categories:
            files += [category_name(category), score_phrase(item.score.per_category[category])]
    return [*files, *load_phrase(item.load)]


@dataclass(frozen=True, slots=True)
class MenuPage:
    """What one agent menu page offers, and which of its keys it names."""

    offers: Sequence[Offer]
    categories: Sequence[str]
    ranked_by: str | None = None
    next_rank: str | None = None
    more: bool = False  # 9: more agents
    busy: bool = False  # the offers are agents with a wait (key 7 asked for them), not free ones
    other_list: bool = False  # 7 switches to the other list (busy from free, and back)
    details: bool = False  # # asked for each agent's scores by category
    nobody_free: bool = False  # there are only agents with a wait: say so first


def agent_menu(page: MenuPage) -> list[str]:
    """An agent menu page: "Press 0 for the first available agent" first, then each agent, then the other keys.

    The first pass names each agent's key, name, overall score, grade and wait (``offer``); the categories come
    on request (# for ``offer_details``) or when the caller ranks by one (8). Ranking (8) is named where the
    categories are: in the details and once the caller ranks by one; it works on every page.
    """
    files: list[str] = ["cc/no-free"] if page.nobody_free else []
    files += ["cc/press-0", "cc/first-available"]
    if page.ranked_by is not None:
        files += ["cc/ranked-by", category_name(page.ranked_by)]
    for i, item in enumerate(page.offers):
        lead = i == 0
        files += (
            offer_details(item, page.categories, lead=lead) if page.details else offer(item, page.ranked_by, lead=lead)
        )
    if page.other_list:
        files.append("cc/opt-free" if page.busy else "cc/opt-busy")
    if page.more:
        files.append("cc/opt-more")
    if page.details or page.ranked_by is not None:
        files += ["cc/opt-rank", category_name(page.next_rank)] if page.next_rank else ["cc/opt-rank-overall"]
    files += ["cc/opt-short" if page.details else "cc/opt-details", "cc/opt-repeat"]
    return files


def menu_keys(files: Sequence[str]) -> list[tuple[str, str]]:
    """The (key, agent id) pairs an agent menu offers, in order: ``agent_menu`` read back, for scripted callers
    (the tests, a load benchmark) that choose an agent by what they heard."""
    keys: list[tuple[str, str]] = []
    for before, name in itertools.pairwise(files):
        if name.startswith("cc/agent-") and before.startswith(("cc/key-", "cc/then-")):
            keys.append((before.rsplit("-", 1)[1], name.removeprefix("cc/agent-")))
    return keys


# a caller who pressed nothing after the agent menu's first pass: one short reminder, then the first available
AGENT_REPROMPT = ("cc/or-hold-agent",)


def service_menu(
    services: Sequence[tuple[str, str]], manage_key: str | None = None, web_key: str | None = None
) -> list[str]:
    """[(key, service id)] -> "Please choose a service. Press 1 for technical support, 2 for sales. Press 9 to
    review your ratings. Press star for a code to rate on the web." """
    files = ["cc/choose-service"]
    for i, (k, service_id) in enumerate(services):
        files += [key_for(k, lead=i == 0), service_name(service_id)]
    if manage_key is not None:
        if manage_key != "9":
            raise ValueError("the ratings menu is announced as key 9")
        files.append("cc/opt-review")
    if web_key is not None:
        if web_key != "*":
            raise ValueError("the web code is announced as key star")
        files.append("cc/opt-web-code")
    return files


def web_code(code: str) -> list[str]:
    """ "Your code for rating on the web is 4 0 7 1 1 9. Once more, your code is 4 0 7 1 1 9. Sign in ..." """
    digits = [f"digits/{d}" for d in code]
    return ["cc/web-code-is", *digits, "cc/web-code-again", *digits, "cc/web-code-use"]


def service_reprompt(default_service: str) -> list[str]:
    """After a first pass with no key: "Press a key, or hold for technical support." """
    return ["cc/or-hold-for", service_name(default_service)]


def reputation(score: Score | None) -> list[str]:
    """What the agent hears about the caller before accepting."""
    if score is None:
        return ["cc/caller-anonymous"]
    if score.is_new:
        return ["cc/caller-new"]
    count = score.count
    return [
        "cc/caller-rated",
        *score_value(score.overall),
        "cc/from",
        *number(count),
        "cc/rating" if count == 1 else "cc/ratings",
    ]


def rating_request(*subject: str, categories: Sequence[str]) -> list[str]:
    """ "Please rate <Alice|the caller>. Enter one digit from 1 to 5 for each: attitude, ... Star skips." """
    files = ["cc/please-rate", *subject, "cc/one-digit-each"]
    for category in categories:
        files.append(category_name(category))
    return [*files, "cc/star-to-skip"]


def rating_readback(scores: Mapping[str, int]) -> list[str]:
    files = ["cc/you-rated"]
    for category, value in scores.items():
        files += [category_name(category), *number(value)]
    return [*files, "cc/thank-you"]


def ordinal(n: int) -> list[str]:
    """1..31 -> "first" .. "thirty first" (Asterisk's digits/h-N files)."""
    if not 1 <= n <= 31:
        raise ValueError(f"no day of the month {n}")
    if n <= 20 or n % 10 == 0:
        return [f"digits/h-{n}"]
    return [f"digits/{n // 10 * 10}", f"digits/h-{n % 10}"]


def call_date(when: datetime, now: datetime, zone: tzinfo) -> list[str]:
    """When a past call was: "today", "yesterday", "November twenty third" (plus the year if not this year)."""
    day, today = when.astimezone(zone).date(), now.astimezone(zone).date()
    if day == today:
        return ["digits/today"]
    if day == today - timedelta(days=1):
        return ["digits/yesterday"]
    files = [f"digits/mon-{day.month - 1}", *ordinal(day.day)]
    return files if day.year == today.year else [*files, *number(day.year)]


def number_ending(number: str, digits: int = 4) -> list[str]:
    """The caller whose number ends in 4 5 6 7: enough for an agent to recognise them, not their whole number."""
    tail = [d for d in number if d.isdigit()][-digits:]
    return ["cc/caller-ending", *(f"digits/{d}" for d in tail)]


@dataclass(frozen=True, slots=True)
class ReviewEntry:
    """One served call in a review list, as the rater hears it."""

    position: int  # 1-based
    total: int
    date: Sequence[str]
    party: Sequence[str]  # who the rater talked to: an agent's name, or the caller's number ending
    scores: Mapping[str, int] | None  # the rater's live rating of that call; None: not rated (or deleted)
    blocked: str | None = None  # why it cannot be rated or changed: a sentence file; None: it can


def review_entry(entry: ReviewEntry) -> list[str]:
    """ "Call 1 of 3: yesterday, with Alice. Your rating: attitude 4, ... Press 1 to change ..., 6 for the next" """
    files = ["cc/call", *number(entry.position), "cc/of", *number(entry.total), *entry.date, "cc/with", *entry.party]
    if entry.scores:
        files.append("cc/your-rating")
        for category, value in entry.scores.items():
            files += [category_name(category), *number(value)]
    else:
        files.append("cc/not-rated-yet")
    if entry.blocked is not None:
        files.append(entry.blocked)
    elif entry.scores:
        files += ["cc/press", *key("1"), "cc/to-change", "cc/press", *key("7"), "cc/to-delete"]
    else:
        files += ["cc/press", *key("1"), "cc/to-rate"]
    if entry.position < entry.total:
        files += ["cc/press", *key("6"), "cc/for-next"]
    if entry.position > 1:
        files += ["cc/press", *key("4"), "cc/for-previous"]
    return [*files, "cc/press", *key("*"), "cc/to-repeat", "cc/press", *key("#"), "cc/to-finish"]


def presence(state: str, reason: str | None) -> list[str]:
    """What an agent hears about themselves at the top of the agent menu."""
    if state == "paused":
        return ["cc/agent-paused", *([pause_reason_name(reason)] if reason else [])]
    return ["cc/agent-available" if state == "available" else "cc/agent-logged-out"]


def pause_reason_name(reason: str) -> str:
    return "cc/reason-" + reason.replace(" ", "-")


def agent_menu_options(options: Sequence[tuple[str, str]]) -> list[str]:
    """[(key, sentence file)] -> "Press 2 to pause. Press 4 to log out. ..." """
    files: list[str] = []
    for k, sentence in options:
        files += ["cc/press", *key(k), sentence]
    return files


def pause_reasons_menu(reasons: Sequence[str]) -> list[str]:
    files = ["cc/choose-pause-reason"]
    for i, reason in enumerate(reasons, start=1):
        files += ["cc/for", pause_reason_name(reason), "cc/press", *key(str(i))]
    return files
