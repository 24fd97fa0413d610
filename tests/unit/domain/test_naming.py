"""The dialplan and asterisk-conf/ are written by hand, Python names everything through callcenter.domain.naming:
this parses the .conf files (and the rendered queues and globals) and checks both sides name the same things."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callcenter.asterisk.render import globals_conf, queues_conf
from callcenter.config import load_config
from callcenter.config.roster import load_roster
from callcenter.domain import naming

PROJECT = Path(__file__).resolve().parents[3]
DIALPLAN = sorted((PROJECT / "dialplan").glob("*.conf"))
ASTERISK_CONF = sorted((PROJECT / "asterisk-conf").glob("*.conf"))
# ";" starts a comment unless escaped ("\;")
COMMENT = re.compile(r"(?<!\\);.*$", re.MULTILINE)
# also inside __CC_CALL (inherited) and ${GLOBAL(CC_IFACE_${...})}
VARIABLE = re.compile(r"(?<![A-Za-z0-9])CC_[A-Z0-9_]*[A-Z0-9_]")
# not the #include file names (cc-agent.conf)
CONTEXT_TOKEN = re.compile(r"(?<![\w/.-])cc-[a-z]+(?:-[a-z]+)*(?![\w.])")
SECTION = re.compile(r"^\[([A-Za-z0-9_-]+)\]", re.MULTILINE)


def code(paths: list[Path]) -> str:
    """The files' text without comments: what Asterisk reads."""
    return "\n".join(COMMENT.sub("", p.read_text()) for p in paths)


def test_there_is_a_dialplan_to_check() -> None:
    assert {p.name for p in DIALPLAN} >= {"cc-inbound.conf", "cc-agent.conf", "extensions.conf"}


def test_the_dialplan_defines_exactly_the_contexts_naming_names() -> None:
    defined = set(SECTION.findall(code(DIALPLAN))) - {"general", "globals"}
    assert defined == naming.CONTEXTS


def test_every_context_the_config_files_use_is_named() -> None:
    """Goto, Gosub, hangup handlers, Local/...@context, context = ... in queues.conf and pjsip.conf."""
    used = set(CONTEXT_TOKEN.findall(code(DIALPLAN + ASTERISK_CONF)))
    assert used, "no context found: the pattern is wrong"
    assert used - naming.CONTEXTS == {naming.QUEUE_TEMPLATE, naming.SHARED_QUEUE_TEMPLATE}
    queues_conf = (PROJECT / "asterisk-conf/queues.conf").read_text()
    assert f"[{naming.QUEUE_TEMPLATE}](!)" in queues_conf
    assert f"[{naming.SHARED_QUEUE_TEMPLATE}](!,{naming.QUEUE_TEMPLATE})" in queues_conf
    assert f"context = {naming.QUEUE_EXIT}" in code(ASTERISK_CONF)
    assert f"context = {naming.INBOUND}" in code(ASTERISK_CONF)


def dialplan_variables() -> tuple[set[str], set[str]]:
    """The CC_* variables the dialplan uses, and the families it builds names from (``CC_IFACE_${CC_AGENT}``)."""
    names = set(VARIABLE.findall(code(DIALPLAN)))
    families = {n for n in names if n.endswith("_")}
    return names - families, families


def test_every_variable_the_dialplan_uses_is_named() -> None:
    names, families = dialplan_variables()
    assert names <= naming.SHARED_VARIABLES | naming.DIALPLAN_LOCALS, names - naming.SHARED_VARIABLES
    assert families <= naming.VARIABLE_PREFIXES


def test_every_variable_named_as_shared_with_the_dialplan_is_used_there() -> None:
    names, families = dialplan_variables()
    assert names >= naming.SHARED_VARIABLES, naming.SHARED_VARIABLES - names
    assert names >= naming.DIALPLAN_LOCALS, naming.DIALPLAN_LOCALS - names
    assert families == naming.VARIABLE_PREFIXES
    # what only the routes use stays out of the dialplan: a variable it starts reading moves to SHARED_VARIABLES
    assert not naming.ROUTE_VARIABLES & names


def test_variable_names_are_one_kind_each() -> None:
    kinds = [naming.SHARED_VARIABLES, naming.DIALPLAN_LOCALS, naming.ROUTE_VARIABLES, naming.RENDERED_ONLY]
    every = [name for kind in kinds for name in kind]
    assert len(every) == len(set(every))
    assert all(VARIABLE.fullmatch(name) for name in every)


def test_the_dialplan_calls_exactly_the_routes_naming_names() -> None:
    routes = set(re.findall(r"\$\{CC_AGI\}/([a-z-]+)", code(DIALPLAN)))
    assert routes == naming.ROUTES


def test_the_dialplan_sends_exactly_its_user_events() -> None:
    events = set(re.findall(r"UserEvent\((\w+)", code(DIALPLAN)))
    assert events == naming.DIALPLAN_EVENTS
    assert not naming.DIALPLAN_EVENTS & naming.ROUTE_EVENTS


@pytest.fixture(scope="module")
def rendered() -> tuple[str, str, set[str], set[str]]:
    config = load_config(PROJECT / "callcenter/demo/callcenter.toml", {})
    agents = load_roster(PROJECT / "callcenter/demo/agents.toml", {s.id for s in config.services})
    return (
        queues_conf(config, agents),
        globals_conf(config, agents),
        {s.id for s in config.services},
        {a.id for a in agents},
    )


def test_the_rendered_queues_are_the_ones_naming_names(rendered: tuple[str, str, set[str], set[str]]) -> None:
    queues, _, services, agents = rendered
    sections = re.findall(r"^\[([a-z0-9-]+)\]\(([a-z-]+)\)$", queues, flags=re.MULTILINE)
    assert {template for _, template in sections} == {naming.QUEUE_TEMPLATE, naming.SHARED_QUEUE_TEMPLATE}
    assert {name for name, t in sections if t == naming.SHARED_QUEUE_TEMPLATE} == {
        naming.service_queue(s) for s in services
    }
    expected = {naming.service_queue(s) for s in services} | {q for a in agents for q in naming.own_queues(a)}
    assert {name for name, _ in sections} == expected
    assert all(naming.is_service_queue(naming.service_queue(s)) for s in services)
    assert not any(naming.is_service_queue(q) for a in agents for q in naming.own_queues(a))


def test_the_rendered_globals_are_named(rendered: tuple[str, str, set[str], set[str]]) -> None:
    _, globals_text, _, agents = rendered
    assigned = set(re.findall(r"^(CC_[A-Z0-9_]+)=", globals_text, flags=re.MULTILINE))
    plain = {n for n in assigned if not n.startswith(naming.IFACE_PREFIX)}
    assert plain == {
        naming.AGI_URL,
        naming.RING_TIMEOUT,
        naming.QUEUE_TIMEOUT,
        naming.DEFAULT_SERVICE,
        naming.ARBITER,
    } | (naming.RENDERED_ONLY)
    assert assigned - plain == {naming.iface_global(a) for a in agents}


def test_queue_members_and_their_patterns_agree() -> None:
    interface = naming.member_interface("1001")
    found = naming.MEMBER.match(interface)
    assert found is not None
    assert found["agent"] == "1001"
    prefix = naming.MEMBER_PREFIX.match(interface)
    assert prefix is not None
    assert prefix.group(1) == "1001"
    assert naming.AGENT_CHANNEL.match(f"Local/1001@{naming.AGENT_OFFER}-00000001;1") is not None
    endpoint = naming.SIP_ENDPOINT.fullmatch(naming.sip_endpoint("1004"))
    assert endpoint is not None
    assert endpoint.group(1) == "1004"
    # cc-agent-offer dials what the roster says; the members are its extensions
    assert f"[{naming.AGENT_OFFER}]" in (PROJECT / "dialplan/cc-agent.conf").read_text()
