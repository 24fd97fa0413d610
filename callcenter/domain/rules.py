"""Who may rate whom, and until when: the rules that keep ratings honest, as one pure function.

Every path that writes a rating (the after-call survey, the reminder on the next call, the self-service menus,
the operator's CLI) asks ``may_rate`` first, so a rule changes in one place.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal, Protocol, cast, get_args

RaterKind = Literal["client", "agent", "operator"]


class Refusal(enum.StrEnum):
    NOT_ANSWERED = "not_answered"  # no bridged conversation: nothing to rate
    NOT_A_PARTY = "not_a_party"  # the rater was not on that call
    ANONYMOUS = "anonymous"  # the caller withheld their number: nobody to rate or to rate with
    TOO_SHORT = "too_short"  # below the minimum talk time
    WINDOW_CLOSED = "window_closed"  # the rating is frozen


@dataclass(frozen=True, slots=True)
class RatingRules:
    # a conversation shorter than this cannot be rated (0: any answered call)
    min_talk_seconds: int = 0
    # ratings can be added, changed or deleted for this many days after the call was answered (0: no limit)
    edit_window_days: int = 30

    def __post_init__(self) -> None:
        if self.min_talk_seconds < 0 or self.edit_window_days < 0:
            raise ValueError("min_talk_seconds and edit_window_days must not be negative")


class RatedCall(Protocol):
    """What the rules need to know about a call. The store's ``Call`` has it, so callers pass the row itself."""

    @property
    def answered_at(self) -> datetime | None: ...
    @property
    def talk_seconds(self) -> int | None: ...
    @property
    def agent_id(self) -> str | None: ...
    @property
    def client_id(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class CallFacts:
    """A ``RatedCall`` on its own, for callers without a store row (the tests of the rules)."""

    answered_at: datetime | None
    talk_seconds: int | None
    agent_id: str | None
    client_id: int | None


@dataclass(frozen=True, slots=True)
class Rater:
    kind: RaterKind
    id: str  # agent id, client id as text, or the operator's name

    @property
    def actor(self) -> str:
        """How this rater signs a change in the audit trail: 'client:<id>', 'agent:<id>', 'operator:<name>'."""
        return f"{self.kind}:{self.id}"


RATER_KINDS: Final[frozenset[str]] = frozenset(get_args(RaterKind))


def rater_of(actor: str) -> Rater | None:
    """The rater who signed ``actor``; None for a system actor (no ``kind:`` prefix, or an unknown kind)."""
    kind, sep, ref = actor.partition(":")
    if not sep or kind not in RATER_KINDS:
        return None
    return Rater(cast("RaterKind", kind), ref)


def removed_by_operator(action: str, actor: str) -> bool:
    """Whether an audit entry is an operator's removal (moderation), which the rater cannot undo: the one rule
    both the writer (the operator's ``remove``) and the readers (the review menus, the history) go by."""
    rater = rater_of(actor)
    return action == "delete" and rater is not None and rater.kind == "operator"


def may_rate(call: RatedCall, rater: Rater, now: datetime, rules: RatingRules) -> Refusal | None:
    """None if ``rater`` may add, change or delete their rating of the other party of ``call`` now."""
    if call.answered_at is None or call.agent_id is None:
        return Refusal.NOT_ANSWERED
    if call.client_id is None:
        return Refusal.ANONYMOUS
    if not _is_party(call, rater):
        return Refusal.NOT_A_PARTY
    if rater.kind == "operator":
        # operators remove abusive ratings whatever their age; they never author one (checked by the caller)
        return None
    return _timing(call.answered_at, call.talk_seconds, now, rules)


def _is_party(call: RatedCall, rater: Rater) -> bool:
    if rater.kind == "client":
        return rater.id == str(call.client_id)
    if rater.kind == "agent":
        return rater.id == call.agent_id
    return True


def _timing(answered_at: datetime, talk_seconds: int | None, now: datetime, rules: RatingRules) -> Refusal | None:
    if talk_seconds is not None and talk_seconds < rules.min_talk_seconds:
        return Refusal.TOO_SHORT
    if rules.edit_window_days and now - answered_at > timedelta(days=rules.edit_window_days):
        return Refusal.WINDOW_CLOSED
    return None
