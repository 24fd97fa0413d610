"""What the caller and the agent hear, as lists of sound files. Pure: no I/O, so every sentence is unit-tested.

Sentences are assembled from short generated prompts (``cc/...``, see asterisk/prompts.py) and Asterisk's own
number files (``digits/...``), then played with ``Read()`` so that a key pressed during any of them barges in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from callcenter.domain.policy import Score, spoken_score

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


@dataclass(frozen=True, slots=True)
class Offer:
    key: str
    agent_id: str
    score: Score
    grade: str | None = None  # A-E, None before enough ratings


def offer(item: Offer, categories: Sequence[str]) -> list[str]:
    """ "Press 1 for Alice. Rated 4 point 6 from 12 ratings: service attitude 4 point 5, ..." or "... new here"."""
    files = ["cc/press", *key(item.key), "cc/for", agent_name(item.agent_id)]
    if item.score.is_new:
        return [*files, "cc/is-new"]
    count = item.score.count
    files += ["cc/rated", *score_value(item.score.overall)]
    if item.grade is not None:
        files += ["cc/grade", f"letters/{item.grade.lower()}"]
    files += ["cc/from", *number(count)]
    files.append("cc/rating" if count == 1 else "cc/ratings")
    for category in categories:
        files += [category_name(category), *score_value(item.score.per_category[category])]
    return files


def agent_menu(
    offers: Sequence[Offer],
    categories: Sequence[str],
    ranked_by: str | None,
    next_rank: str | None,
    more: bool,
    *,
    busy: bool = False,
    other_list: bool = False,
) -> list[str]:
    """The whole agent menu: who is offered, then the keys for the shared queue, more, re-rank and repeat.

    ``busy``: the offers are agents on a call now (the caller asked for them); ``other_list``: key 7 switches to
    the other list (busy agents from the free ones, and back).
    """
    files: list[str] = ["cc/busy-agents"] if busy else []
    if ranked_by is not None:
        files += ["cc/ranked-by", category_name(ranked_by)]
    for item in offers:
        files += offer(item, categories)
    files += ["cc/press", *key("0"), "cc/first-available"]
    if other_list:
        files += ["cc/press", *key("7"), "cc/free-agents" if busy else "cc/on-a-call"]
    if more:
        files += ["cc/press", *key("9"), "cc/more-agents"]
    if next_rank is not None:
        files += ["cc/press", *key("8"), "cc/to-rank-by", category_name(next_rank)]
    elif ranked_by is not None:
        files += ["cc/press", *key("8"), "cc/to-rank-by", "cc/overall-score"]
    files += ["cc/press", *key("*"), "cc/to-repeat"]
    return files


def service_menu(services: Sequence[tuple[str, str]], manage_key: str | None = None) -> list[str]:
    """[(key, service id)] -> "For technical support press 1. For sales press 2. To review or change your
    ratings, press 9." """
    files = ["cc/choose-service"]
    for k, service_id in services:
        files += ["cc/for", service_name(service_id), "cc/press", *key(k)]
    if manage_key is not None:
        files += ["cc/manage-ratings", "cc/press", *key(manage_key)]
    return files


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
