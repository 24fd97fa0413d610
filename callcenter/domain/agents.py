"""Agents as the service knows them: the roster's entry (``AgentSpec``) and whether they want calls (``Duty``).

The store keeps its own records of agents (``AgentDef`` in, ``Agent`` out) for history and reports;
``AgentSpec`` is the roster as loaded from the config (how to ring the agent, their PIN hash) and says which
queues they belong to, by ``naming``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from callcenter.domain import naming
from callcenter.store.models import AgentPresence, PresenceState

AgentKind = Literal["sip", "external", "dial"]


@dataclass(frozen=True, slots=True)
class AgentSpec:
    id: str
    name: str
    services: tuple[str, ...]
    kind: AgentKind
    interface: str  # the Asterisk dial string that rings this agent
    pin_hash: str | None

    @property
    def own_queue(self) -> str:
        return naming.agent_queue(self.id)

    @property
    def preferred_queue(self) -> str:
        """Also the agent's own, with a higher weight: callers with a good reputation wait here."""
        return naming.preferred_queue(self.id)

    @property
    def service_queues(self) -> tuple[str, ...]:
        return tuple(naming.service_queue(s) for s in self.services)

    @property
    def queues(self) -> tuple[str, ...]:
        """Every queue the agent is a member of while logged in."""
        return (self.own_queue, self.preferred_queue, *self.service_queues)

    @property
    def sip_endpoint(self) -> str | None:
        return naming.sip_endpoint(self.id) if self.kind == "sip" else None

    @property
    def state_interface(self) -> str:
        # A Local member is never UNAVAILABLE by itself: SIP agents follow their registration, the others a
        # custom device state the service and the dialplan set (cc-agent-screen marks INUSE on accept).
        endpoint = self.sip_endpoint
        return naming.pjsip_interface(endpoint) if endpoint else naming.custom_state(self.id)


@dataclass(frozen=True, slots=True)
class Duty:
    """Whether an agent wants calls: logged in (a member of their queues) and, if so, paused or not."""

    logged_in: bool
    paused: bool = False
    reason: str | None = None


ON_DUTY = Duty(logged_in=True)
# the "since" of a presence nobody ever chose
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def duty_of(presence: AgentPresence) -> Duty:
    return Duty(logged_in=presence.state != "logged_out", paused=presence.state == "paused", reason=presence.reason)


def with_initial(
    stored: Mapping[str, AgentPresence], agent_ids: Sequence[str], initial: PresenceState
) -> dict[str, AgentPresence]:
    """Each agent's presence; an agent who never chose one has the configured initial state."""
    return {i: stored.get(i) or AgentPresence(i, initial, None, EPOCH, "initial") for i in agent_ids}
