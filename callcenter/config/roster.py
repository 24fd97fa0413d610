"""The agent roster: a TOML file operators edit (``[[agent]]`` tables), validated into AgentSpec values
(``callcenter.domain.agents``).

An agent is reached through one interface:
  ``sip = true``            a softphone registering as PJSIP endpoint ``agent<ID>`` (generated, with a secret)
  ``phone = "+15551234"``   an outside phone, dialled through the outbound context (part-time / mobile agents)
  ``dial = "Local/..."``    any Asterisk dial string (the demo's scripted phones use this)
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from callcenter.config.schema import ConfigError
from callcenter.domain import naming
from callcenter.domain.agents import AgentKind, AgentSpec
from callcenter.domain.pins import hash_agent_pin

AGENT_ID = re.compile(r"^[0-9]{2,8}$")
PIN = re.compile(r"^[0-9]{4,8}$")
DIAL_STRING = re.compile(r"^[A-Za-z]+/[A-Za-z0-9_+@./-]+$")
OUTSIDE_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")


def load_roster(path: Path, known_services: set[str]) -> tuple[AgentSpec, ...]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"agent roster {path} does not exist (set `roster` in the config)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"agent roster {path} is not valid TOML: {exc}") from None
    unknown = set(data) - {"agent"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))}; expected [[agent]]")
    agents = tuple(_agent(path, i, raw, known_services) for i, raw in enumerate(data.get("agent", [])))
    seen: set[str] = set()
    for agent in agents:
        if agent.id in seen:
            raise ConfigError(f"{path}: agent id {agent.id} appears twice")
        seen.add(agent.id)
    return agents


def _agent(path: Path, index: int, raw: Any, known_services: set[str]) -> AgentSpec:
    where = f"{path}: agent #{index + 1}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    allowed = {"id", "name", "services", "sip", "phone", "dial", "pin"}
    unknown = set(raw) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    agent_id = str(raw.get("id", ""))
    if not AGENT_ID.match(agent_id):
        raise ConfigError(f"{where}: id must be 2-8 digits (callers and agents key it in), got {agent_id!r}")
    name = str(raw.get("name", "")).strip()
    if not name or len(name) > 40:
        raise ConfigError(f"{where} ({agent_id}): name must be 1-40 characters")
    services = raw.get("services", [])
    if not isinstance(services, list) or not services:
        raise ConfigError(f"{where} ({agent_id}): services must be a non-empty list")
    bad = [s for s in services if s not in known_services]
    if bad:
        raise ConfigError(
            f"{where} ({agent_id}): unknown service(s) {', '.join(map(str, bad))}; "
            f"configured: {', '.join(sorted(known_services))}"
        )
    kind, interface = _interface(where, agent_id, raw)
    pin = raw.get("pin")
    if pin is not None and not PIN.match(str(pin)):
        raise ConfigError(f"{where} ({agent_id}): pin must be 4-8 digits")
    if pin is None and kind == "external":
        # an outside phone has no authenticated endpoint: the access number + PIN is their only way to log in
        raise ConfigError(f"{where} ({agent_id}): an agent on an outside phone needs a pin to log in by phone")
    return AgentSpec(
        id=agent_id,
        name=name,
        services=tuple(str(s) for s in services),
        kind=kind,
        interface=interface,
        pin_hash=hash_agent_pin(agent_id, str(pin)) if pin is not None else None,
    )


def _interface(where: str, agent_id: str, raw: dict[str, Any]) -> tuple[AgentKind, str]:
    given = [k for k in ("sip", "phone", "dial") if raw.get(k)]
    if len(given) != 1:
        raise ConfigError(f'{where} ({agent_id}): give exactly one of sip = true, phone = "...", dial = "..."')
    if given == ["sip"]:
        return "sip", naming.pjsip_interface(naming.sip_endpoint(agent_id))
    if given == ["phone"]:
        phone = str(raw["phone"])
        if not OUTSIDE_NUMBER.match(phone):
            raise ConfigError(f"{where} ({agent_id}): phone must be digits with an optional leading +")
        return "external", naming.outside_interface(phone)
    dial = str(raw["dial"])
    if not DIAL_STRING.match(dial):
        raise ConfigError(f"{where} ({agent_id}): dial {dial!r} is not a plain Asterisk dial string")
    return "dial", dial
