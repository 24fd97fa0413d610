"""`callcenter policy explain`: the numbers behind every routing decision, with the arithmetic spelled out, so an
operator can check why an agent rings first or a caller waits longer."""

from __future__ import annotations

from collections.abc import Sequence

from callcenter.config import Config
from callcenter.domain.policy import (
    SCORE_MAX,
    SCORE_MIN,
    Candidate,
    Policy,
    Tally,
    caller_priority,
    choose_queue,
    grade,
    member_penalty,
    rank,
    shrunk,
    shrunk_decayed,
    spoken_score,
)
from callcenter.domain.summaries import ratings, summary_score
from callcenter.store import RatingSummary, Store
from callcenter.usecases.lookups import find_client


def _shrink_line(label: str, tally: Tally, count: int, policy: Policy) -> str:
    value = shrunk(tally, policy)
    whole, tenth = spoken_score(value)
    raw = f"{tally.total / tally.n:.2f}" if tally.n else "-"
    letter = grade(value, count, policy) or "-"
    decay = ""
    if policy.half_life_days > 0 and tally.decayed is not None:
        decay = f"   decayed ({policy.half_life_days:g} d half-life) {shrunk_decayed(tally.decayed, policy):.2f}"
    return (
        f"  {label:<24} ({policy.prior_mean:g} x {policy.prior_weight:g} + {tally.total}) / "
        f'({policy.prior_weight:g} + {tally.n}) = {value:.2f}   grade {letter}   heard "{whole} point {tenth}"'
        f"   raw mean {raw}{decay}"
    )


def _score_lines(summary: RatingSummary, config: Config) -> list[str]:
    policy = config.policy
    r = ratings(summary)
    lines = [_shrink_line("overall", r.overall, r.count, policy)]
    for category in config.categories:
        lines.append(_shrink_line(category.label, r.per_category.get(category.id, Tally()), r.count, policy))
    if r.count < policy.min_ratings:
        lines.append(f"  fewer than min_ratings={policy.min_ratings} evaluations: announced as new, no grade")
    return lines


async def explain_agent(store: Store, agent_id: str, config: Config) -> list[str]:
    agent = await store.get_agent(agent_id)
    if agent is None:
        raise LookupError(f"no agent {agent_id!r} in the roster (see `callcenter agents list`)")
    policy = config.policy
    categories = tuple(c.id for c in config.categories)
    summary = await store.agent_summary(agent_id)
    overall = summary_score(summary, categories, policy)
    penalty = member_penalty(overall, policy)
    lines = [
        f"Agent {agent.id} {agent.name}: rated by callers in {summary.count} evaluations "
        f"({summary.score_count} scores)",
        "Scores are averages shrunk toward the prior:",
        *_score_lines(summary, config),
        f"Penalty in shared queues = round(({SCORE_MAX} - {overall.overall:.2f}) / ({SCORE_MAX} - {SCORE_MIN}) x "
        f"{policy.penalty_max}) = {penalty}   (lower rings first; strategy linear)",
    ]
    for service in agent.services:
        lines += await _ranks(store, service, agent_id, categories, policy)
    return lines


async def _ranks(store: Store, service: str, agent_id: str, categories: Sequence[str], policy: Policy) -> list[str]:
    agents = await store.list_agents(service)
    summaries = await store.agent_summaries([a.id for a in agents])
    last = await store.last_answered([a.id for a in agents])
    found = [
        Candidate(
            a.id, summary_score(summaries[a.id], categories, policy), last[a.id].timestamp() if a.id in last else 0.0
        )
        for a in agents
    ]
    parts = []
    for by in (None, *categories):
        order = [c.agent_id for c in rank(found, by=by)]
        parts.append(f"{by or 'overall'} {order.index(agent_id) + 1}/{len(order)}")
    return [f"Rank among {service} agents (if all were free): " + ", ".join(parts)]


async def explain_client(store: Store, number: str, config: Config) -> list[str]:
    client = await find_client(store, number)
    policy = config.policy
    summary = await store.client_summary(client.id)
    reputation = ratings(summary)
    priority = caller_priority(reputation, policy)
    lines = [
        f"Caller {client.number}: rated by agents in {summary.count} evaluations ({summary.score_count} scores)",
        "Scores are averages shrunk toward the prior:",
        *_score_lines(summary, config),
    ]
    if summary.count < policy.min_ratings:
        lines.append(f"QUEUE_PRIO = {priority}: neutral until {policy.min_ratings} evaluations")
    else:
        value = shrunk(reputation.overall, policy)
        top = policy.priority_max if value >= policy.prior_mean else policy.priority_min
        edge = SCORE_MAX if value >= policy.prior_mean else SCORE_MIN
        lines.append(
            f"QUEUE_PRIO = {policy.priority_neutral} + ({value:.2f} - {policy.prior_mean:g}) / ({edge} - "
            f"{policy.prior_mean:g}) x ({top} - {policy.priority_neutral}) rounded, bounded = {priority}"
            "   (higher is answered first)"
        )
    queue = choose_queue("<id>", priority, policy)
    lines.append(
        f"Choosing an agent, they join {queue}: priority {priority} "
        f"{'>=' if queue.endswith('-vip') else '<'} preferred_priority {policy.preferred_priority}"
    )
    return lines
