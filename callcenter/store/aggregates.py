"""The rating totals' arithmetic, without I/O: what one evaluation change does to a totals row, what a summary
says, and how a recount is compared with the stored rows. Every backend's repositories call these; none of it
knows SQL (design of the decayed sums: ``callcenter/store/decay.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from callcenter.store.decay import ABS_TOL, Decay, close_enough
from callcenter.store.models import MAX_SCORE, MIN_SCORE, OVERALL, CategoryStat, RatingSummary
from callcenter.store.timestamps import to_db

# (subject, category) -> (n, total): the exact integer part of the totals rows
Totals = dict[tuple[str, str], tuple[int, int]]


@dataclass(frozen=True, slots=True)
class TotalsRow:
    """One totals row as read: exact counts and decayed sums (as of ``as_of``)."""

    n: int
    total: int
    dn: float
    dtotal: float
    as_of: datetime


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one live evaluation adds to one totals row: n (1) and total, given at ``at`` (its updated_at)."""

    at: datetime
    n: int
    total: int


@dataclass(frozen=True, slots=True)
class Score:
    """One score row of a live evaluation, as a full scan reads it."""

    subject: str
    evaluation_id: int
    at: datetime  # the evaluation's updated_at
    category: str
    score: int


def deltas(scores: Mapping[str, int]) -> list[tuple[str, int, int]]:
    """(category, n, total) per row one evaluation counts in: its categories and the overall row."""
    return [*((c, 1, s) for c, s in scores.items()), (OVERALL, 1, sum(scores.values()))]


def moved(
    row: TotalsRow | None, decay: Decay, now: datetime, *, given_at: datetime, sign: int, n: int, total: int
) -> tuple[float, float, datetime]:
    """A row's decayed sums brought forward to max(as_of, now), with ``sign`` * (n, total) given at ``given_at``."""
    if row is None:
        dn, dtotal, ref = 0.0, 0.0, now
    else:
        ref = max(row.as_of, now)
        carry = decay.weight(row.as_of, ref)
        dn, dtotal = row.dn * carry, row.dtotal * carry
    weight = decay.weight(given_at, ref)
    # Subtraction can leave a hair below zero: clamp (the CHECK constraints would refuse it).
    return max(0.0, dn + sign * n * weight), max(0.0, dtotal + sign * total * weight), ref


def summary(totals: Mapping[str, TotalsRow], decay: Decay, now: datetime) -> RatingSummary:
    """A subject's summary from its totals rows, the decayed values carried forward to ``now``."""
    per_category: dict[str, CategoryStat] = {}
    for category, row in sorted(totals.items()):
        if category == OVERALL:
            continue
        dn, dtotal = decayed_at(row, decay, now)
        per_category[category] = CategoryStat(
            n=row.n,
            total=row.total,
            mean=row.total / row.n if row.n else None,
            decayed_n=dn,
            decayed_total=dtotal,
            decayed_mean=mean(dn, dtotal),
        )
    overall = totals.get(OVERALL)
    count, score_total = (overall.n, overall.total) if overall else (0, 0)
    decayed_count = decayed_at(overall, decay, now)[0] if overall else 0.0
    score_count = sum(stat.n for stat in per_category.values())
    decayed_score_count = sum(stat.decayed_n for stat in per_category.values())
    decayed_score_total = sum(stat.decayed_total for stat in per_category.values())
    return RatingSummary(
        count=count,
        score_count=score_count,
        score_total=score_total,
        per_category=MappingProxyType(per_category),
        overall_mean=score_total / score_count if score_count else None,
        decayed_count=decayed_count,
        decayed_score_count=decayed_score_count,
        decayed_score_total=decayed_score_total,
        decayed_overall_mean=mean(decayed_score_count, decayed_score_total),
    )


def decayed_at(row: TotalsRow, decay: Decay, now: datetime) -> tuple[float, float]:
    # Never forward from the past: reading before as_of gives the values as of as_of (weight() clamps at 1).
    carry = decay.weight(row.as_of, now)
    return row.dn * carry, row.dtotal * carry


def mean(n: float, total: float) -> float | None:
    """A decayed mean, or None when (nearly) all weight has faded: below ABS_TOL (a rating some twenty
    half-lives old) the sums are as much rounding residue of removals as ratings, and the ratio means nothing."""
    if n < ABS_TOL:
        return None
    # Rounding may put a ratio of nearly equal sums a hair outside the score range.
    return min(float(MAX_SCORE), max(float(MIN_SCORE), total / n))


def decayed_sum(given: Iterable[Contribution], decay: Decay, as_of: datetime) -> tuple[float, float]:
    dn = dtotal = 0.0
    for c in given:
        weight = decay.weight(c.at, as_of)
        dn += c.n * weight
        dtotal += c.total * weight
    return dn, dtotal


def contributions(scores: Iterable[Score]) -> dict[tuple[str, str], list[Contribution]]:
    """Every live evaluation's share of every totals row, from its score rows (in evaluation order)."""
    found: dict[tuple[str, str], list[Contribution]] = {}
    overall: dict[int, tuple[str, datetime, int]] = {}
    for s in scores:
        found.setdefault((s.subject, s.category), []).append(Contribution(s.at, 1, s.score))
        _, _, total = overall.get(s.evaluation_id, (s.subject, s.at, 0))
        overall[s.evaluation_id] = (s.subject, s.at, total + s.score)
    for subject, at, total in overall.values():
        found.setdefault((subject, OVERALL), []).append(Contribution(at, 1, total))
    return found


def compare(table: str, key: str, stored: Totals, recount: Totals) -> list[str]:
    """One line per totals row whose exact counts differ from the recount."""
    problems = []
    for subject, category in sorted(stored.keys() | recount.keys()):
        have = stored.get((subject, category), (0, 0))
        want = recount.get((subject, category), (0, 0))
        if have != want:
            problems.append(
                f"{table}: {key} {subject} category {category!r} stores n={have[0]} total={have[1]}, "
                f"evaluations give n={want[0]} total={want[1]}"
            )
    return problems


def compare_decayed(
    table: str,
    key: str,
    stored: Mapping[tuple[str, str], TotalsRow],
    given: Mapping[tuple[str, str], list[Contribution]],
    decay: Decay,
) -> list[str]:
    """One line per totals row whose decayed sums are not those its live evaluations give at the row's as_of."""
    problems = []
    for subject, category in sorted(stored.keys() | given.keys()):
        counted = given.get((subject, category), [])
        row = stored.get((subject, category))
        if row is None:
            continue  # a missing row is already reported by the exact comparison
        late = [c.at for c in counted if c.at > row.as_of]
        if late:
            problems.append(
                f"{table}: {key} {subject} category {category!r} is as of {to_db(row.as_of)}, "
                f"but counts a rating given at {to_db(max(late))}"
            )
        dn, dtotal = decayed_sum(counted, decay, row.as_of)
        if not (close_enough(row.dn, dn) and close_enough(row.dtotal, dtotal)):
            problems.append(
                f"{table}: {key} {subject} category {category!r} stores decayed n={row.dn:.9g} "
                f"total={row.dtotal:.9g} as of {to_db(row.as_of)}, evaluations give n={dn:.9g} total={dtotal:.9g}"
            )
    return problems
