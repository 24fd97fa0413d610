"""Asterisk's names for callcenter's objects: queues, queue members, device states, dialplan contexts, channel
variables, FastAGI routes and AMI user events. The one place Python spells them.

The dialplan (``dialplan/*.conf``) and ``asterisk-conf/`` are written by hand and must use the same names; they
cannot import this module, so ``tests/unit/domain/test_naming.py`` parses them (and the rendered queues) and
checks both ways: every ``CC_*`` variable, context, route and user event they use is named here, and everything
named here as shared with the dialplan is used there. Renaming anything means editing both, and that test says
where.

Pure: strings and patterns, no I/O.
"""

from __future__ import annotations

import re
from typing import Final

# --- dialplan contexts (dialplan/*.conf sections) ---------------------------------------------------------------

# the caller's journey: the service number, the agents' access number, anything else on the trunk
INBOUND: Final = "cc-inbound"
# every extension reachable from outside Gosubs here first (caller ID, name, RDNIS, dialled number made harmless)
SANITISE: Final = "cc-sanitise"
# a queue member: Local/<agent id>@cc-agent-offer/n, whose other half dials the agent's real phone
AGENT_OFFER: Final = "cc-agent-offer"
# Dial's U() gosub on the agent's channel: the screening route (accept or decline)
AGENT_SCREEN: Final = "cc-agent-screen"
# Queue option F: the agent's leg when the caller hung up first (the agent rates the caller)
AGENT_AFTER: Final = "cc-agent-after"
# agents with an outside phone, dialled through [asterisk] outbound_dial
OUTBOUND: Final = "cc-outbound"
# queues.conf context=: a waiting caller pressing 1 leaves the queue to choose again
QUEUE_EXIT: Final = "cc-queue-exit"
# the caller's hangup handler: the call-end route closes the call row
CALL_END: Final = "cc-call-end"
# the IVR could not run: the shared queue, unscreened
FALLBACK: Final = "cc-fallback"
# the context of agents' PJSIP endpoints: the feature code opens the agent menu
AGENTS: Final = "cc-agents"
# health check of Asterisk -> FastAGI -> dialplan
SELFTEST: Final = "cc-selftest"
# the demo's and the tests' scripted phones
DEMO_AGENT: Final = "cc-demo-agent"
DEMO_OUTSIDE: Final = "cc-demo-outside"
TEST_PHONE: Final = "cc-test-phone"

CONTEXTS: Final = frozenset(
    {
        INBOUND,
        SANITISE,
        AGENT_OFFER,
        AGENT_SCREEN,
        AGENT_AFTER,
        OUTBOUND,
        QUEUE_EXIT,
        CALL_END,
        FALLBACK,
        AGENTS,
        SELFTEST,
        DEMO_AGENT,
        DEMO_OUTSIDE,
        TEST_PHONE,
    }
)

# the queues.conf template every generated queue inherits from, and the shared queues' own (no position
# announcements: they hold the caller they play to while agents come free)
QUEUE_TEMPLATE: Final = "cc-queue"
SHARED_QUEUE_TEMPLATE: Final = "cc-shared-queue"

# --- queues -------------------------------------------------------------------------------------------------------

AGENT_QUEUE_PREFIX: Final = "agent-"
SERVICE_QUEUE_PREFIX: Final = "service-"
PREFERRED_SUFFIX: Final = "-vip"


def agent_queue(agent_id: str) -> str:
    """The agent's own queue: callers who chose this agent wait here."""
    return f"{AGENT_QUEUE_PREFIX}{agent_id}"


def preferred_queue(agent_id: str) -> str:
    """The agent's own queue with a higher weight: callers with a good reputation wait here."""
    return f"{AGENT_QUEUE_PREFIX}{agent_id}{PREFERRED_SUFFIX}"


def own_queues(agent_id: str) -> tuple[str, str]:
    return agent_queue(agent_id), preferred_queue(agent_id)


# an agent's own queue (either of the two): the agent id in group "agent"
OWN_QUEUE: Final = re.compile(rf"^{AGENT_QUEUE_PREFIX}(?P<agent>[0-9]+)(?:{PREFERRED_SUFFIX})?$")


def own_queue_agent(queue: str) -> str | None:
    """Whose own queue ``queue`` is (``agent-1001`` and ``agent-1001-vip``: 1001); None for a shared queue."""
    found = OWN_QUEUE.match(queue)
    return found["agent"] if found else None


def service_queue(service_id: str) -> str:
    """A service's shared queue ("first available"), where the member penalty comes from ratings."""
    return f"{SERVICE_QUEUE_PREFIX}{service_id}"


def is_service_queue(queue: str) -> bool:
    return queue.startswith(SERVICE_QUEUE_PREFIX)


# --- queue members, interfaces, device states ------------------------------------------------------------------


def member_interface(agent_id: str) -> str:
    """The interface an agent is a queue member as: a Local channel into the screening, never their phone."""
    return f"Local/{agent_id}@{AGENT_OFFER}/n"


# a member interface, as QueueStatus and the member events show it: the agent id in group "agent"
MEMBER: Final = re.compile(rf"^Local/(?P<agent>[0-9]+)@{AGENT_OFFER}/n$", re.IGNORECASE)
# MEMBERINTERFACE as app_queue leaves it on the caller (the prefix is enough to name the agent)
MEMBER_PREFIX: Final = re.compile(rf"^Local/([0-9]+)@{AGENT_OFFER}")
# the agent's side of a call in AMI events: a member's Local leg, or a scripted demo phone's
AGENT_CHANNEL: Final = re.compile(rf"^Local/(?P<agent>[0-9]+)@(?:{DEMO_AGENT}|{AGENT_OFFER})-")


def custom_state(agent_id: str) -> str:
    """The device state of an agent without a SIP endpoint: the service and cc-agent-screen set it."""
    return f"Custom:agent-{agent_id}"


def sip_endpoint(agent_id: str) -> str:
    """The PJSIP endpoint (and auth user) of an agent's softphone."""
    return f"agent{agent_id}"


# CHANNEL(endpoint) of an agent's softphone: the agent id in group 1
SIP_ENDPOINT: Final = re.compile(r"agent([0-9]{2,8})")


def pjsip_interface(endpoint: str) -> str:
    return f"PJSIP/{endpoint}"


def outside_interface(phone: str) -> str:
    """How cc-agent-offer dials an agent's outside phone: through cc-outbound and [asterisk] outbound_dial."""
    return f"Local/{phone}@{OUTBOUND}"


def inbound_call(service_number: str) -> str:
    """A call into the IVR as an AMI Originate places it (the demo's and the tests' callers)."""
    return f"Local/{service_number}@{INBOUND}/n"


# --- FastAGI routes: agi://host:port/<route> ------------------------------------------------------------------------

ROUTE_INBOUND: Final = "inbound"
ROUTE_CONNECTED: Final = "connected"
ROUTE_AFTER_QUEUE: Final = "after-queue"
ROUTE_CALL_END: Final = "call-end"
ROUTE_SCREEN: Final = "screen"
ROUTE_RATE_CALLER: Final = "rate-caller"
ROUTE_RANG_OUT: Final = "rang-out"
ROUTE_AGENT_MENU: Final = "agent-menu"
ROUTE_SELFTEST: Final = "selftest"
# a cluster's arbiter (callcenter/ivr/arbiter.py): the store decides which call may ring an agent
ROUTE_RESERVE: Final = "reserve"
ROUTE_RELEASE: Final = "release"
ROUTES: Final = frozenset(
    {
        ROUTE_RESERVE,
        ROUTE_RELEASE,
        ROUTE_INBOUND,
        ROUTE_CONNECTED,
        ROUTE_AFTER_QUEUE,
        ROUTE_CALL_END,
        ROUTE_SCREEN,
        ROUTE_RATE_CALLER,
        ROUTE_RANG_OUT,
        ROUTE_AGENT_MENU,
        ROUTE_SELFTEST,
    }
)

# --- channel variables ------------------------------------------------------------------------------------------

# What a route tells the dialplan when it finishes; anything else means "take the fallback".
RESULT: Final = "CC_RESULT"
RESULT_DONE: Final = "DONE"  # the route finished the call's business: hang up
RESULT_QUEUE: Final = "QUEUE"  # CC_QUEUE, CC_QUEUE_OPTS, CC_PRIO are set: run Queue()
RESULT_CHOOSE: Final = "CHOOSE"  # back to the agent menu (after a decline, a no-answer, or leaving the queue)

# the caller's ${UNIQUEID}, inherited (__) by every leg of the call: the store's key for it
CALL: Final = "CC_CALL"
# the agent an agent-side leg serves (set by the dialplan from the queue member's extension)
AGENT: Final = "CC_AGENT"
# the service the caller chose (inbound re-entered with it set: choosing again)
SERVICE: Final = "CC_SERVICE"
# the queue the caller joins, Queue()'s options and QUEUE_PRIO (the inbound route sets them)
QUEUE: Final = "CC_QUEUE"
QUEUE_OPTS: Final = "CC_QUEUE_OPTS"
PRIO: Final = "CC_PRIO"
# how the caller's last try ended (declined, no_answer, timeout, failed): the call-end route's outcome (routes
# only, see ROUTE_VARIABLES)
LAST_OUTCOME: Final = "CC_LAST_OUTCOME"
# the caller pressed 1 while waiting (cc-queue-exit)
LEFT_QUEUE: Final = "CC_LEFT_QUEUE"
# the screening's answer
SCREEN: Final = "CC_SCREEN"
SCREEN_ACCEPT: Final = "ACCEPT"
SCREEN_DECLINE: Final = "DECLINE"
# the caller's queue and channel, inherited by the agent's legs: a decline withdraws the caller
WAITING_IN: Final = "CC_WAITING_IN"
CALLER_CHAN: Final = "CC_CALLER_CHAN"
# the selftest route's answer
ECHO: Final = "CC_ECHO"
# the reserve route's answer on the member's leg: RESERVED_HELD (this call holds the agent) or RESERVED_TAKEN
# (another call does: busy); empty when the store could not say (the agent is rung anyway: a human first)
RESERVED: Final = "CC_RESERVED"
RESERVED_HELD: Final = "HELD"
RESERVED_TAKEN: Final = "TAKEN"

# Globals the service renders (callcenter-globals-generated.conf) for the dialplan
AGI_URL: Final = "CC_AGI"
SERVICE_NUMBER: Final = "CC_SERVICE_NUMBER"
RING_TIMEOUT: Final = "CC_RING_TIMEOUT"
QUEUE_TIMEOUT: Final = "CC_QUEUE_TIMEOUT"
DEFAULT_SERVICE: Final = "CC_DEFAULT_SERVICE"
# 1 on the nodes of a cluster ([cluster] enabled): cc-agent-offer reserves the agent before ringing them
ARBITER: Final = "CC_ARBITER"
IFACE_PREFIX: Final = "CC_IFACE_"


def iface_global(agent_id: str) -> str:
    """The global that tells cc-agent-offer how to reach an agent (their dial string)."""
    return f"{IFACE_PREFIX}{agent_id}"


# Globals the demo's and the tests' driver sets for the scripted phones (cc-demo-agent)
DEMO_MODE_PREFIX: Final = "CC_DEMO_"
DEMO_SCORE_PREFIX: Final = "CC_DEMO_SCORE_"
DEMO_TALK: Final = "CC_DEMO_TALK"
# set (inherited: __) on a benchmark's caller: the scripted agent who answers talks this long instead of DEMO_TALK
DEMO_CALL_TALK: Final = "CC_DEMO_CALL_TALK"


def demo_mode(agent_id: str) -> str:
    return f"{DEMO_MODE_PREFIX}{agent_id}"


def demo_score(agent_id: str) -> str:
    return f"{DEMO_SCORE_PREFIX}{agent_id}"


# Variables only the routes use, carried on the caller's channel from one AGI() to the next; the dialplan never
# reads them (the naming test checks that it does not, so a variable the dialplan starts using is moved up).
CHOSEN: Final = "CC_CHOSEN"  # the agent whose queue the caller waits in ("" for a shared queue)
EXCLUDE: Final = "CC_EXCLUDE"  # agents who declined or did not answer, dash-separated: not offered again
DIGITS: Final = "CC_DIGITS"  # Read()'s target

# Variables the dialplan keeps to itself (set and read within one context); named so the test knows them.
DIALPLAN_LOCALS: Final = frozenset(
    {
        "CC_IFACE",  # cc-agent-offer: the agent's dial string, read from CC_IFACE_<id>
        "CC_UNSCREENED",  # cc-fallback's callers skip the screening (inherited)
        "CC_FALLBACK",  # cc-fallback: the shared queue it uses
        "CC_NUMBER",  # cc-outbound: the outside number, digits and +
        "CC_N",  # cc-sanitise's scratch value
        "CC_MODE",  # cc-demo-agent: the scripted phone's behaviour
        "CC_SCORE",  # cc-demo-agent: the score it keys
        "CC_TALK",  # cc-demo-agent: seconds it talks
        "CC_RING_ONCE",  # cc-inbound: 1 when the caller chose an agent found free (one ring cycle)
        "CC_WAIT",  # cc-inbound: Queue()'s wait, CC_RING_ONCE_WAIT or CC_QUEUE_TIMEOUT
        "CC_RING_ONCE_WAIT",  # extensions.conf [globals]: an operator's knob, not rendered by the service
        "CC_RANG",  # cc-agent-offer: this leg rang the agent (its h extension frees the device state)
    }
)

# What the routes and the dialplan both use: each is set on one side and read on the other
SHARED_VARIABLES: Final = frozenset(
    {RESULT, CALL, AGENT, SERVICE, QUEUE, QUEUE_OPTS, PRIO, LEFT_QUEUE, SCREEN, WAITING_IN, CALLER_CHAN}
    | {ECHO, AGI_URL, RING_TIMEOUT, QUEUE_TIMEOUT, DEFAULT_SERVICE, DEMO_TALK, DEMO_CALL_TALK, RESERVED, ARBITER}
)
ROUTE_VARIABLES: Final = frozenset({CHOSEN, EXCLUDE, DIGITS, LAST_OUTCOME})
# Families of variables: the prefix, then an agent id
VARIABLE_PREFIXES: Final = frozenset({IFACE_PREFIX, DEMO_MODE_PREFIX, DEMO_SCORE_PREFIX})
# rendered for operators' own dialplans (the service number as a global), not used by ours
RENDERED_ONLY: Final = frozenset({SERVICE_NUMBER})

# --- AMI user events ----------------------------------------------------------------------------------------------

# sent by the routes (EXEC UserEvent on the call's channel), for dashboards, the demo's transcript and the tests
EVENT_RATED: Final = "CallCenterRated"
EVENT_RATING_DELETED: Final = "CallCenterRatingDeleted"
EVENT_SCREEN: Final = "CallCenterScreen"
EVENT_CALL_ENDED: Final = "CallCenterCallEnded"
# sent by the dialplan
EVENT_FALLBACK: Final = "CallCenterFallback"
EVENT_FALLBACK_GOODBYE: Final = "CallCenterFallbackGoodbye"
EVENT_FALLBACK_QUEUE: Final = "CallCenterFallbackQueue"
EVENT_SELFTEST: Final = "CallCenterSelfTest"
EVENT_AGENT_TAKEN: Final = "CallCenterAgentTaken"  # a chosen free agent was taken by another caller meanwhile
EVENT_RING: Final = "CallCenterRing"  # cc-agent-offer dials the agent's phone now (in a cluster: reserved first)
ROUTE_EVENTS: Final = frozenset({EVENT_RATED, EVENT_RATING_DELETED, EVENT_SCREEN, EVENT_CALL_ENDED})
DIALPLAN_EVENTS: Final = frozenset(
    {EVENT_FALLBACK, EVENT_FALLBACK_GOODBYE, EVENT_FALLBACK_QUEUE, EVENT_SELFTEST, EVENT_AGENT_TAKEN, EVENT_RING}
)
