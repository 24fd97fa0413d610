"""The foundation against a real Asterisk 22: AMI login, FastAGI round trip, robustness, fallbacks."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys

import pytest

from callcenter.ami.link import AMIAuthError
from callcenter.app import CallCenter, serving
from callcenter.demo.script import Driver, Predicate, event
from tests.asterisk.conftest import PROJECT, AsteriskUnderTest

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="session")]


def selftest_result(token: str) -> Predicate:
    return event("UserEvent", UserEvent="CallCenterSelfTest", Token=token)


async def call_selftest(driver: Driver) -> str:
    token = driver.token()
    await driver.originate(f"Local/{token}@cc-selftest/n", "cc-test-phone", "s")
    return token


async def test_service_logs_in_to_ami(center: CallCenter, asterisk: AsteriskUnderTest) -> None:
    assert center.ami.connected
    assert center.ami.connections == 1
    assert asterisk.sandbox.process is not None
    connected = await asterisk.sandbox.process.cli("manager show connected")
    assert asterisk.config.ami.username in connected
    pong = await center.ami.send({"Action": "Ping"})
    assert pong.get("Ping") == "Pong"


async def test_local_call_reaches_fastagi_route_and_dialplan_sees_its_variable(
    center: CallCenter, driver: Driver
) -> None:
    token = await call_selftest(driver)
    result = await driver.log.wait_for(selftest_result(token))
    assert result.get("Result") == "ok"
    assert result.get("Echo") == f"pong-{token}"


async def test_truncated_and_silent_header_blocks_do_not_stall_other_calls(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest
) -> None:
    port = asterisk.config.agi.port
    # a port probe that sends half a header block and hangs up (froze panoramisk's server at 100 % CPU)
    _, probe = await asyncio.open_connection("127.0.0.1", port)
    probe.write(b"agi_network: yes\nagi_network_script: selftest\nagi_chan")
    await probe.drain()
    probe.close()
    await probe.wait_closed()
    # and a peer that sends half a block and then says nothing at all
    _, silent = await asyncio.open_connection("127.0.0.1", port)
    silent.write(b"agi_network: yes\n")
    await silent.drain()
    try:
        token = await call_selftest(driver)
        # well inside the silent peer's 5 s header deadline: the call is not queued behind it
        result = await driver.log.wait_for(selftest_result(token), timeout=4.0)
        assert result.get("Result") == "ok"
    finally:
        silent.close()
        await silent.wait_closed()


async def test_wrong_ami_secret_fails_with_a_clear_message(asterisk: AsteriskUnderTest) -> None:
    config = dataclasses.replace(asterisk.config, ami=dataclasses.replace(asterisk.config.ami, secret="wrong"))
    with pytest.raises(AMIAuthError, match=r"AMI login as 'callcenter' at 127\.0\.0\.1:\d+ refused"):
        async with serving(config, asterisk.agents):
            pass


async def test_serve_with_wrong_secret_exits_non_zero_with_one_line(asterisk: AsteriskUnderTest) -> None:
    c = asterisk.config
    env = {
        **os.environ,
        "CALLCENTER_STATE_DIR": str(c.state_dir),
        "CALLCENTER_AMI_PORT": str(c.ami.port),
        "CALLCENTER_AGI_PORT": "0",
        "CALLCENTER_WEB_PORT": "0",
        "CALLCENTER_AMI_SECRET": "wrong",
        "CALLCENTER_STORE_PATH": str(c.state_dir / "cli-test.db"),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callcenter.cli",
        "--config",
        str(PROJECT / "callcenter/demo/callcenter.toml"),
        "--log-level",
        "error",
        "serve",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    assert proc.returncode == 1
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("callcenter: error: AMI login as 'callcenter'")
    assert "check the secret" in lines[0]


async def test_fastagi_unreachable_takes_the_dialplan_fallback(driver: Driver) -> None:
    # no `center` fixture: nothing listens on the FastAGI port
    token = await call_selftest(driver)
    result = await driver.log.wait_for(selftest_result(token))
    assert result.get("Result") == "fallback"
    assert result.get("AGISTATUS") == "FAILURE"
