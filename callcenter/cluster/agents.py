"""How a cluster's node reaches its agents: a softphone registers with Kamailio, not with any one Asterisk, so
every node rings it through Kamailio, and its state is the custom device state the dialplan and the service keep
(a node cannot see a registration it does not hold)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from callcenter.domain import naming
from callcenter.domain.agents import AgentSpec


def proxy_interface(agent_id: str, proxy: str) -> str:
    """The dial string of a SIP agent's softphone, registered with Kamailio at ``proxy``, out of the trunk."""
    return f"PJSIP/trunk/sip:{naming.sip_endpoint(agent_id)}@{proxy}"


def through_proxy(agents: Sequence[AgentSpec], proxy: str) -> tuple[AgentSpec, ...]:
    """The roster as a cluster's node dials it: SIP agents become dial-string agents through Kamailio."""
    return tuple(
        dataclasses.replace(a, kind="dial", interface=proxy_interface(a.id, proxy)) if a.kind == "sip" else a
        for a in agents
    )
