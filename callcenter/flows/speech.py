"""What the caller and the agent hear, as lists of sound files. Pure: no I/O, so every sentence is unit-tested.

Sentences are assembled from short generated prompts (``cc/...``, see asterisk/prompts.py) and Asterisk's own
number files (``digits/...``), then played with ``Read()`` so that a key pressed during any of them barges in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from callcenter.evaluation.policy import Score, spoken_score

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


def service_menu(services: Sequence[tuple[str, str]]) -> list[str]:
    """[(key, service id)] -> "For technical support press 1. For sales press 2." """
    files = ["cc/choose-service"]
    for k, service_id in services:
        files += ["cc/for", service_name(service_id), "cc/press", *key(k)]
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
