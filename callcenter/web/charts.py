"""Charts drawn on the server as SVG: no charting library, no CDN, nothing for the browser to run.

Pure functions of the evaluations (or scores) they are given: ``trend`` (each category's mean score per week, a
line each), ``distribution`` (how many 1s .. 5s each category got) and ``histogram`` (the agents' overall scores).
Every text in them goes through ``escape``: agent names and category labels come from the config, but an SVG is
markup all the same.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from html import escape
from typing import Final

from callcenter.store.models import MAX_SCORE, MIN_SCORE, Evaluation

# colour-blind-safe (Okabe-Ito), one per category in the configured order
PALETTE: Final = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
W, H = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 36, 12, 14, 40


def _frame(body: list[str], title: str, width: int = W, height: int = H) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" font-family="sans-serif" font-size="11">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _legend(labels: Sequence[str], y: float) -> list[str]:
    out, x = [], LEFT
    for i, label in enumerate(labels):
        colour = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{x}" y="{y - 8}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{x + 14}" y="{y + 1}">{escape(label)}</text>')
        x += 22 + 7 * len(label)
    return out


def week_of(moment: datetime) -> datetime:
    """The Monday 00:00 (UTC) of ``moment``'s week."""
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def weekly_means(
    evaluations: Sequence[Evaluation], categories: Sequence[str]
) -> list[tuple[datetime, dict[str, float]]]:
    """Each week's mean score per category (live evaluations only), oldest week first."""
    sums: dict[datetime, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for e in evaluations:
        if e.deleted:
            continue
        for c in categories:
            if c in e.scores:
                sums[week_of(e.created_at)][c].append(e.scores[c])
    return [
        (week, {c: sum(v) / len(v) for c, v in per.items() if v})
        for week, per in sorted(sums.items(), key=lambda kv: kv[0])
    ]


def trend(evaluations: Sequence[Evaluation], categories: Sequence[tuple[str, str]], title: str) -> str:
    """One line per category (id, label): its mean score each week, 1 at the bottom, 5 at the top."""
    ids = [c for c, _ in categories]
    weeks = weekly_means(evaluations, ids)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    body = _axes(plot_w, plot_h)

    def y(value: float) -> float:
        return TOP + plot_h * (MAX_SCORE - value) / (MAX_SCORE - MIN_SCORE)

    if not weeks:
        body.append(f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle">—</text>')
    step = plot_w / max(1, len(weeks) - 1)
    for i, (week, _) in enumerate(weeks):
        if len(weeks) <= 8 or i % max(1, len(weeks) // 8) == 0:
            x = LEFT + (i * step if len(weeks) > 1 else plot_w / 2)
            body.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 14}" text-anchor="middle">{week:%m-%d}</text>')
    for n, cat in enumerate(ids):
        colour = PALETTE[n % len(PALETTE)]
        points = [
            (LEFT + (i * step if len(weeks) > 1 else plot_w / 2), y(means[cat]))
            for i, (_, means) in enumerate(weeks)
            if cat in means
        ]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        body += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{colour}"/>' for px, py in points]
    body += _legend([label for _, label in categories], H - 8)
    return _frame(body, title)


def _axes(plot_w: float, plot_h: float) -> list[str]:
    body = []
    for score in range(MIN_SCORE, MAX_SCORE + 1):
        y = TOP + plot_h * (MAX_SCORE - score) / (MAX_SCORE - MIN_SCORE)
        body.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        body.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{score}</text>')
    return body


def score_counts(evaluations: Sequence[Evaluation], categories: Sequence[str]) -> dict[str, list[int]]:
    """How many of each score (index 0 = a 1, 4 = a 5) each category got, from the live evaluations."""
    counts = {c: [0] * (MAX_SCORE - MIN_SCORE + 1) for c in categories}
    for e in evaluations:
        if e.deleted:
            continue
        for c in categories:
            value = e.scores.get(c)
            if value is not None and MIN_SCORE <= value <= MAX_SCORE:
                counts[c][value - MIN_SCORE] += 1
    return counts


def distribution(counts: Mapping[str, Sequence[int]], categories: Sequence[tuple[str, str]], title: str) -> str:
    """Grouped bars: for each score 1..5, one bar per category, as tall as its count."""
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    top = max([1, *(n for c, _ in categories for n in counts.get(c, ()))])
    group = plot_w / (MAX_SCORE - MIN_SCORE + 1)
    bar = (group - 10) / max(1, len(categories))
    body = [f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="#999"/>']
    body.append(f'<text x="{LEFT - 6}" y="{TOP + 8}" text-anchor="end">{top}</text>')
    for s in range(MAX_SCORE - MIN_SCORE + 1):
        x0 = LEFT + s * group + 5
        body.append(
            f'<text x="{x0 + (group - 10) / 2:.1f}" y="{TOP + plot_h + 14}" text-anchor="middle">{s + MIN_SCORE}</text>'
        )
        for n, (cat, label) in enumerate(categories):
            value = counts.get(cat, [0] * 5)[s]
            h = plot_h * value / top
            body.append(
                f'<rect x="{x0 + n * bar:.1f}" y="{TOP + plot_h - h:.1f}" width="{max(1.0, bar - 1):.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[n % len(PALETTE)]}"><title>{escape(label)}: {value}</title></rect>'
            )
    body += _legend([label for _, label in categories], H - 8)
    return _frame(body, title)


def histogram(scores: Sequence[float], title: str, *, bins: int = 8) -> str:
    """How many agents have an overall score in each band from 1 to 5."""
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM + 20
    width = (MAX_SCORE - MIN_SCORE) / bins
    counts = [0] * bins
    for value in scores:
        counts[min(bins - 1, max(0, int((value - MIN_SCORE) / width)))] += 1
    top = max([1, *counts])
    bar = plot_w / bins
    body = [f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="#999"/>']
    body.append(f'<text x="{LEFT - 6}" y="{TOP + 8}" text-anchor="end">{top}</text>')
    for i, n in enumerate(counts):
        h = plot_h * n / top
        low = MIN_SCORE + i * width
        body.append(
            f'<rect x="{LEFT + i * bar + 2:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar - 4:.1f}" height="{h:.1f}" '
            f'fill="{PALETTE[0]}"><title>{low:.1f}-{low + width:.1f}: {n}</title></rect>'
        )
        body.append(f'<text x="{LEFT + i * bar:.1f}" y="{TOP + plot_h + 14}" text-anchor="middle">{low:.1f}</text>')
    body.append(f'<text x="{LEFT + plot_w}" y="{TOP + plot_h + 14}" text-anchor="middle">{MAX_SCORE:.1f}</text>')
    return _frame(body, title)
