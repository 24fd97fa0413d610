"""Logging as the service configures it: JSON lines off a terminal, the call's uniqueid on every line, the
libraries' stdlib lines in the same format, and debug lines dropped below the level."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from callcenter.logsetup import configure_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    yield out
    # the tests' own default: nothing cached, nothing written to a closed stream later
    structlog.reset_defaults()
    logging.getLogger().handlers[:] = []
    structlog.contextvars.clear_contextvars()


def test_json_lines_carry_the_call_and_the_libraries_lines_look_the_same(stream: io.StringIO) -> None:
    configure_logging("auto", "info", stream=stream)  # a StringIO is no terminal: JSON
    log = structlog.get_logger("callcenter.ivr.inbound")
    structlog.contextvars.bind_contextvars(uniqueid="1700000000.1")
    log.info("agents_offered", agents=["1001"])
    log.bind().debug("agi_command", command="EXEC")  # below the level: nothing
    logging.getLogger("panoramisk.manager").warning("reconnecting")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "agents_offered"
    assert (first["uniqueid"], first["agents"], first["level"]) == ("1700000000.1", ["1001"], "info")
    assert first["logger"] == "callcenter.ivr.inbound"
    assert "timestamp" in first
    assert (second["event"], second["logger"], second["level"]) == ("reconnecting", "panoramisk.manager", "warning")
    assert second["uniqueid"] == "1700000000.1"


def test_debug_level_lets_the_agi_command_lines_through(stream: io.StringIO) -> None:
    configure_logging("json", "debug", stream=stream)
    structlog.get_logger("callcenter.agi.session").bind().debug("agi_command", command="EXEC", code=200)
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["command"] == "EXEC"
