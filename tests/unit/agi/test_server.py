"""FastAGIServer against fake Asterisks on real loopback TCP connections."""

from __future__ import annotations

import asyncio
import inspect
import select
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
import structlog
from structlog.testing import capture_logs

from callcenter.agi import AGISession, Digits, FastAGIServer, Route, RouteRefused
from callcenter.agi.protocol import header_block
from callcenter.asterisk.sounds import SoundLengths
from callcenter.config import AGIConfig
from callcenter.ivr.ask import read_keys
from callcenter.ivr.selftest import selftest

from .fake_asterisk import DEADLINE, FakeAsterisk

Events = list[dict[str, Any]]


@asynccontextmanager
async def serving(routes: Mapping[str, Route], **options: Any) -> AsyncIterator[FastAGIServer]:
    """A started server on a free port, its logs captured (with the bound context), under a deadline."""
    async with asyncio.timeout(DEADLINE), FastAGIServer(routes, port=0, **options) as server:
        yield server


@asynccontextmanager
async def connected(server: FastAGIServer) -> AsyncIterator[FakeAsterisk]:
    fake = await FakeAsterisk.connect(server.port)
    async with fake:
        yield fake


def events(logs: Events, name: str) -> Events:
    return [entry for entry in logs if entry["event"] == name]


def capture() -> Any:
    return capture_logs(processors=[structlog.contextvars.merge_contextvars])


async def echo(session: AGISession) -> None:
    """The shape of the selftest route: one variable in, one out."""
    token = session.env.params.get("token", "")
    await session.set_variable("CC_ECHO", f"pong-{token}")
    await session.set_variable("CC_RESULT", "DONE")


async def run_echo(server: FastAGIServer, token: str = "1") -> None:
    async with connected(server) as fake:
        await fake.start("echo", query=f"token={token}", uniqueid=f"echo.{token}")
        await fake.expect(f"SET VARIABLE CC_ECHO pong-{token}\n".encode(), b"200 result=1\n")
        await fake.expect(b"SET VARIABLE CC_RESULT DONE\n", b"200 result=1\n")
        assert await fake.expect_closed() == b""


async def test_port_zero_and_lifecycle() -> None:
    server = FastAGIServer({"echo": echo}, port=0)
    with pytest.raises(RuntimeError):
        _ = server.port
    await server.start()
    try:
        assert server.port > 0
        with pytest.raises(RuntimeError):
            await server.start()
        await run_echo(server)
    finally:
        await server.stop()
    await server.stop()  # idempotent
    with pytest.raises(OSError):  # noqa: PT011 - whichever refusal the platform reports
        await asyncio.open_connection("127.0.0.1", server.port)


async def test_route_exchange_exact_bytes() -> None:
    seen: asyncio.Future[tuple[str | None, Digits, tuple[str, ...]]] = asyncio.Future()

    async def menu(session: AGISession) -> None:
        number = await session.get_variable("CALLERID(num)")
        await session.set_variable("CC_CALLER", f"caller {number}")
        digits = await session.get_data("cc/enter-code", 5000, 4)
        await session.set_variable("CC_RESULT", "DONE")
        seen.set_result((number, digits, session.env.args))

    async with serving({"menu": menu}) as server, connected(server) as fake:
        await fake.start("menu", args=("vip",))
        await fake.expect(b"GET VARIABLE CALLERID(num)\n", b"200 result=1 (5551234)\n")
        await fake.expect(b'SET VARIABLE CC_CALLER "caller 5551234"\n', b"200 result=1\n")
        await fake.expect(b"GET DATA cc/enter-code 5000 4\n", b"200 result=12 (timeout)\n")
        await fake.expect(b"SET VARIABLE CC_RESULT DONE\n", b"200 result=1\n")
        assert await fake.expect_closed() == b""
        assert await seen == ("5551234", Digits("12", timed_out=True), ("vip",))


async def test_unsolicited_hangup_does_not_shift_replies() -> None:
    seen: asyncio.Future[tuple[str | None, str | None, bool]] = asyncio.Future()

    async def route(session: AGISession) -> None:
        first = await session.get_variable("A")
        second = await session.get_variable("B")
        seen.set_result((first, second, session.hung_up))

    async with serving({"r": route}) as server, connected(server) as fake:
        await fake.start("r")
        await fake.expect(b"GET VARIABLE A\n", b"HANGUP\n200 result=1 (a)\n")
        await fake.expect(b"GET VARIABLE B\n", b"200 result=1 (b)\n")
        assert await fake.expect_closed() == b""
        assert await seen == ("a", "b", True)


async def test_truncated_and_silent_headers_do_not_stall_other_calls() -> None:
    with capture() as logs:
        async with serving({"echo": echo}, header_timeout=60.0) as server:
            # half a header block, then EOF: the server closes its end too
            async with connected(server) as truncated:
                await truncated.send(header_block("echo")[:57])
                truncated.writer.write_eof()
                assert await truncated.expect_closed() == b""
            # half a header block, then silence (for longer than the normal call takes)
            async with connected(server) as silent:
                await silent.send(header_block("echo")[:100])
                await run_echo(server, "2")
                await run_echo(server, "3")
                assert server.active_sessions == 1  # only the silent one is left
                assert [entry["reason"] for entry in events(logs, "agi_header_failed")] == ["closed"]
                ends = events(logs, "agi_session_end")
                assert [entry["outcome"] for entry in ends] == ["completed", "completed"]


async def test_silent_peer_is_closed_at_the_header_deadline() -> None:
    with capture() as logs:
        async with serving({"echo": echo}, header_timeout=0.2) as server, connected(server) as silent:
            await silent.send(b"agi_network: yes\n")
            assert await silent.expect_closed() == b""
            await run_echo(server)
    [failure] = events(logs, "agi_header_failed")
    assert failure["reason"] == "timeout"
    assert failure["log_level"] == "warning"


async def test_port_probe_and_garbage_cost_one_closed_socket() -> None:
    with capture() as logs:
        async with serving({"echo": echo}) as server:
            async with connected(server) as probe:
                probe.writer.write_eof()
                assert await probe.expect_closed() == b""
            async with connected(server) as http:
                await http.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                assert await http.expect_closed() == b""
            await run_echo(server)
    assert [entry["reason"] for entry in events(logs, "agi_header_failed")] == ["closed", "protocol"]


async def test_oversized_lines_close_the_connection_and_the_server_goes_on() -> None:
    async def route(session: AGISession) -> None:
        await session.get_variable("X")

    with capture() as logs:
        async with serving({"r": route, "echo": echo}, max_line=128) as server:
            async with connected(server) as header_flood:
                await header_flood.send(b"agi_network_script: " + b"x" * 4096 + b"\n")
                assert await header_flood.expect_closed() == b""
            async with connected(server) as reply_flood:
                await reply_flood.start("r")
                await reply_flood.expect(b"GET VARIABLE X\n", b"200 result=1 (" + b"y" * 4096 + b")\n")
                assert await reply_flood.expect_closed() == b""
            await run_echo(server)
    assert [entry["reason"] for entry in events(logs, "agi_header_failed")] == ["protocol"]
    outcomes = [entry["outcome"] for entry in events(logs, "agi_session_end")]
    assert outcomes == ["protocol_error", "completed"]


async def test_header_block_size_is_bounded() -> None:
    with capture() as logs:
        async with serving({"echo": echo}, max_header_bytes=1024) as server:
            async with connected(server) as flood:
                lines = b"".join(b"agi_x%d: %s\n" % (n, b"v" * 100) for n in range(20))
                await flood.send(lines)
                assert await flood.expect_closed() == b""
            await run_echo(server)
    [failure] = events(logs, "agi_header_failed")
    assert "longer than 1024" in failure["error"]


async def test_unknown_route_is_closed_without_commands() -> None:
    with capture() as logs:
        async with serving({"echo": echo}) as server, connected(server) as fake:
            await fake.start("nope", uniqueid="u.9")
            assert await fake.expect_closed() == b""
    [warning] = events(logs, "agi_unknown_route")
    assert warning["log_level"] == "warning"
    assert warning["route"] == "nope"
    assert warning["uniqueid"] == "u.9"
    assert warning["known_routes"] == ["echo"]


async def test_route_exception_is_logged_and_the_server_goes_on() -> None:
    async def broken(session: AGISession) -> None:
        await session.answer()
        raise RuntimeError("boom")

    with capture() as logs:
        async with serving({"broken": broken, "echo": echo}) as server:
            async with connected(server) as fake:
                await fake.start("broken", uniqueid="u.1")
                await fake.expect(b"ANSWER\n", b"200 result=0\n")
                assert await fake.expect_closed() == b""
            await run_echo(server)
    failed, completed = events(logs, "agi_session_end")
    assert failed["outcome"] == "error"
    assert failed["log_level"] == "error"
    assert failed["exc_info"] is True
    assert failed["uniqueid"] == "u.1"
    assert failed["route"] == "broken"
    assert completed["outcome"] == "completed"


async def test_plain_def_route_is_reported_not_fatal() -> None:
    def plain(session: AGISession) -> None:
        pass

    with capture() as logs:
        async with serving({"plain": cast(Route, plain), "echo": echo}) as server:
            async with connected(server) as fake:
                await fake.start("plain")
                assert await fake.expect_closed() == b""
            await run_echo(server)
    assert [entry["outcome"] for entry in events(logs, "agi_session_end")] == ["error", "completed"]


async def test_hangup_and_closed_connection_are_normal_ends() -> None:
    async def play(session: AGISession) -> None:
        await session.stream_file("cc/welcome")
        await session.stream_file("cc/goodbye")

    with capture() as logs:
        async with serving({"play": play}) as server:
            async with connected(server) as fake:
                await fake.start("play")
                await fake.expect(b'STREAM FILE cc/welcome ""\n', b"200 result=0 endpos=100\n")
                await fake.expect(b'STREAM FILE cc/goodbye ""\n', b"511 Command Not Permitted\n")
                assert await fake.expect_closed() == b""
            async with connected(server) as fake:
                await fake.start("play")
                await fake.expect(b'STREAM FILE cc/welcome ""\n')
                fake.writer.write_eof()
                assert await fake.expect_closed() == b""
    ends = events(logs, "agi_session_end")
    assert [(entry["outcome"], entry["log_level"]) for entry in ends] == [
        ("hangup", "info"),
        ("connection_closed", "info"),
    ]
    assert ends[0]["hung_up"] is True
    assert isinstance(ends[0]["duration_ms"], int)


async def test_command_timeout_is_a_warning() -> None:
    async def route(session: AGISession) -> None:
        await session.get_variable("X")

    with capture() as logs:
        async with serving({"r": route}, command_timeout=0.1) as server, connected(server) as fake:
            await fake.start("r")
            await fake.expect(b"GET VARIABLE X\n")  # no reply
            assert await fake.expect_closed() == b""
    [end] = events(logs, "agi_session_end")
    assert (end["outcome"], end["log_level"]) == ("command_timeout", "warning")


async def test_route_beyond_session_timeout_is_cancelled() -> None:
    cancelled: asyncio.Future[bool] = asyncio.Future()

    async def stuck(session: AGISession) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set_result(True)
            raise

    with capture() as logs:
        async with serving({"stuck": stuck}, session_timeout=0.2) as server:
            async with connected(server) as fake:
                await fake.start("stuck")
                assert await fake.expect_closed() == b""
            assert await cancelled
    [end] = events(logs, "agi_session_end")
    assert (end["outcome"], end["log_level"]) == ("session_timeout", "warning")


async def test_beyond_max_sessions_connections_are_refused_at_once() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def hold(session: AGISession) -> None:
        entered.set()
        await release.wait()
        await session.set_variable("CC_RESULT", "DONE")

    with capture() as logs:
        async with serving({"hold": hold}, max_sessions=1) as server, connected(server) as first:
            await first.start("hold")
            await entered.wait()
            async with connected(server) as extra:
                assert await extra.expect_closed() == b""
            assert server.active_sessions == 1
            release.set()
            await first.expect(b"SET VARIABLE CC_RESULT DONE\n", b"200 result=1\n")
            assert await first.expect_closed() == b""
    [refused] = events(logs, "agi_session_refused")
    assert refused["max_sessions"] == 1
    assert [entry["outcome"] for entry in events(logs, "agi_session_end")] == ["completed"]


async def test_stop_cancels_sessions_still_running_after_grace() -> None:
    entered = asyncio.Event()
    cancelled: asyncio.Future[bool] = asyncio.Future()

    async def forever(session: AGISession) -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set_result(True)
            raise

    with capture() as logs:
        async with asyncio.timeout(DEADLINE):
            server = FastAGIServer({"forever": forever}, port=0)
            await server.start()
            async with connected(server) as fake:
                await fake.start("forever")
                await entered.wait()
                await server.stop(grace=0.1)
                assert await cancelled
                assert await fake.expect_closed() == b""
                assert server.active_sessions == 0
    [end] = events(logs, "agi_session_end")
    assert end["outcome"] == "cancelled"


async def test_stop_lets_sessions_finish_within_grace() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def finishing(session: AGISession) -> None:
        entered.set()
        await release.wait()
        await session.set_variable("CC_RESULT", "DONE")

    with capture() as logs:
        async with asyncio.timeout(DEADLINE):
            server = FastAGIServer({"finishing": finishing}, port=0)
            await server.start()
            async with connected(server) as fake:
                await fake.start("finishing")
                await entered.wait()
                stopping = asyncio.create_task(server.stop(grace=DEADLINE * 2))
                release.set()
                # stop() is already waiting when the route asks for its last command
                await fake.expect(b"SET VARIABLE CC_RESULT DONE\n", b"200 result=1\n")
                await stopping
                assert await fake.expect_closed() == b""
    assert [entry["outcome"] for entry in events(logs, "agi_session_end")] == ["completed"]


async def test_log_context_is_bound_per_call_and_isolated() -> None:
    both_in = asyncio.Barrier(3)
    route_log = structlog.get_logger("test.route")

    async def route(session: AGISession) -> None:
        route_log.info("route_step", seen=session.env.uniqueid)
        await both_in.wait()
        route_log.info("route_step", seen=session.env.uniqueid)
        await session.set_variable("CC_RESULT", "DONE")

    structlog.contextvars.bind_contextvars(test_marker="outer")
    try:
        with capture() as logs:
            async with serving({"ctx": route}) as server, connected(server) as one, connected(server) as two:
                await one.start("ctx", uniqueid="call.1", channel="PJSIP/a-1")
                await two.start("ctx", uniqueid="call.2", channel="PJSIP/b-2")
                await both_in.wait()
                for fake in (one, two):
                    await fake.expect(b"SET VARIABLE CC_RESULT DONE\n", b"200 result=1\n")
                    assert await fake.expect_closed() == b""
        # the test's own context was not touched by the sessions
        assert structlog.contextvars.get_contextvars() == {"test_marker": "outer"}
    finally:
        structlog.contextvars.clear_contextvars()

    steps = events(logs, "route_step")
    assert len(steps) == 4
    assert all(entry["uniqueid"] == entry["seen"] for entry in steps)
    assert all("test_marker" not in entry for entry in steps)
    ends = {entry["uniqueid"]: entry for entry in events(logs, "agi_session_end")}
    assert ends["call.1"]["channel"] == "PJSIP/a-1"
    assert ends["call.2"]["channel"] == "PJSIP/b-2"
    assert {entry["route"] for entry in ends.values()} == {"ctx"}


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="max_sessions"):
        FastAGIServer({}, max_sessions=0)
    with pytest.raises(TypeError, match="not callable"):
        FastAGIServer({"x": cast(Route, "nope")})


# ---- hostile header blocks (issue #9: caller-ID header injection) -------------------------------------------


def _block(lines: list[tuple[str, str]]) -> bytes:
    return b"".join(f"{key}: {value}\n".encode() for key, value in lines) + b"\n"


def _real_lines(**kwargs: Any) -> list[tuple[str, str]]:
    """The (key, value) pairs of header_block(...), in Asterisk's order."""
    block = header_block(**kwargs).decode()
    return [(key, value) for key, _, value in (line.partition(": ") for line in block.split("\n") if line)]


def _without(lines: list[tuple[str, str]], key: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in lines if k != key]


def _with(lines: list[tuple[str, str]], key: str, value: str) -> list[tuple[str, str]]:
    return [(k, value if k == key else v) for k, v in lines]


HOSTILE_BLOCKS: dict[str, bytes] = {
    # a caller ID carrying a line: the last value of a repeated key used to win
    "injected script": header_block("inbound", callerid="5551234\nagi_network_script: agent-menu?endpoint=agent1004"),
    "injected request": header_block("inbound", callerid="5551234\nagi_request: agi://127.0.0.1/agent-menu"),
    "injected uniqueid": header_block("inbound", callerid="5551234\nagi_uniqueid: victim.1"),
    "injected channel": header_block("inbound", callerid="5551234\nagi_channel: PJSIP/agent1004-00000001"),
    "injected argument": header_block("inbound", callerid="5551234\nagi_arg_1: evil"),
    "injected garbage line": header_block("inbound", callerid="5551234\nnot a header"),
    "injected line without the blank": header_block("inbound", callerid="5551234\nagi_x:y"),
    # CRLF CRLF ends the block early: what follows would be read as replies to our first commands
    "injected end of block": header_block("inbound", callerid="5551234\r\n\r\n200 result=1 (agent1004)"),
    # a script-less AGI URL sends no agi_network_script: one after agi_callerid can only be a caller's
    "script after the caller id": _block(
        [
            *[(k, v) for k, v in _real_lines(route="") if k not in {"agi_network_script", "agi_callerid"}][:7],
            ("agi_callerid", "5551234"),
            ("agi_network_script", "agent-menu?endpoint=agent1004"),
        ]
    ),
    "no uniqueid": _block(_without(_real_lines(route="inbound"), "agi_uniqueid")),
    "empty uniqueid": _block(_with(_real_lines(route="inbound"), "agi_uniqueid", "")),
    "no channel": _block(_without(_real_lines(route="inbound"), "agi_channel")),
    "empty channel": _block(_with(_real_lines(route="inbound"), "agi_channel", "")),
    "no script": _block(_without(_without(_real_lines(route="inbound"), "agi_network_script"), "agi_request")),
    "empty script": header_block(""),
}


@pytest.mark.parametrize("block", HOSTILE_BLOCKS.values(), ids=HOSTILE_BLOCKS.keys())
async def test_hostile_header_blocks_are_refused_before_any_route_runs(block: bytes) -> None:
    ran: list[str] = []

    async def route(session: AGISession) -> None:
        ran.append(session.env.route)
        await session.set_variable("CC_RESULT", "DONE")

    routes = {"inbound": route, "agent-menu": route, "": route}
    with capture() as logs:
        # a short command deadline: a route that wrongly ran gives up on its command quickly, and the test fails fast
        async with serving(routes, command_timeout=0.5) as server:
            async with connected(server) as fake:
                await fake.send(block)
                # no command at all: the connection is just closed
                assert await fake.expect_closed() == b""
            assert ran == []
            await run_echo_on(server)
    [failure] = events(logs, "agi_header_failed")
    assert (failure["reason"], failure["log_level"]) == ("protocol", "warning")
    assert not [entry for entry in logs if entry["log_level"] in {"error", "critical"}]


async def run_echo_on(server: FastAGIServer) -> None:
    """The server still serves a well-formed call afterwards (echo is not among the hostile test's routes)."""
    async with connected(server) as fake:
        await fake.start("inbound")
        await fake.expect(b"SET VARIABLE CC_RESULT DONE\n", b"200 result=1\n")
        assert await fake.expect_closed() == b""


async def test_header_lines_arriving_as_replies_end_the_session() -> None:
    """A CRLF CRLF in the caller ID ends the block early; the real header lines after it (sent by Asterisk a moment
    later) then arrive where the reply to our first command belongs: a protocol error, not a reply."""
    block = header_block("inbound", callerid="5551234\r\n")
    head, _, tail = block.partition(b"5551234\r\n\n")
    replies: list[str | None] = []

    async def route(session: AGISession) -> None:
        replies.append(await session.get_variable("CC_SERVICE"))
        await session.set_variable("CC_RESULT", "DONE")

    with capture() as logs:
        async with serving({"inbound": route}) as server, connected(server) as fake:
            await fake.send(head + b"5551234\r\n\n")
            assert await fake.command() == b"GET VARIABLE CC_SERVICE\n"
            await fake.send(tail)
            assert await fake.expect_closed() == b""
    assert replies == []
    [end] = events(logs, "agi_session_end")
    assert (end["outcome"], end["log_level"]) == ("protocol_error", "warning")
    assert "header line" in end["detail"]
    assert not [entry for entry in logs if entry["log_level"] in {"error", "critical"}]


async def test_a_hangup_right_after_the_header_block_is_not_refused() -> None:
    """Asterisk may announce a hangup before our first command: the only thing it ever sends unasked."""
    seen: asyncio.Future[tuple[str | None, bool]] = asyncio.Future()

    async def route(session: AGISession) -> None:
        value = await session.get_variable("X")
        seen.set_result((value, session.hung_up))

    async with serving({"r": route}) as server, connected(server) as fake:
        await fake.send(header_block("r") + b"HANGUP\n")
        await fake.expect(b"GET VARIABLE X\n", b"200 result=1 (x)\n")
        assert await fake.expect_closed() == b""
        assert await seen == ("x", True)


# ---- reply deadlines that follow the command (issue #9: FastAGI slots held for minutes) ---------------------


async def test_silent_peers_hold_no_slot_beyond_their_commands_own_deadline() -> None:
    """Connections that send a header block and then never answer are cut off at their command's deadline (a short
    one for a plain command, the prompt's length plus its input wait for a Read), and their slots serve calls again."""
    cut: list[float] = []

    async def plain(session: AGISession) -> None:
        await session.get_variable("CC_SERVICE")

    async def menu(session: AGISession) -> None:
        await read_keys(session, ["cc/menu"], 1, 0.5)

    with capture() as logs:
        async with serving(
            {"plain": plain, "menu": menu, "echo": echo},
            max_sessions=4,
            command_timeout=0.3,
            sounds=SoundLengths({"cc/menu": 0.4}),
            media_margin=0.2,
        ) as server:
            silent = [await FakeAsterisk.connect(server.port) for _ in range(4)]
            started = asyncio.get_running_loop().time()
            for n, fake in enumerate(silent):
                await fake.start("plain" if n % 2 else "menu", uniqueid=f"silent.{n}")
            # all four slots are taken: a real call now is refused
            async with connected(server) as refused:
                assert await refused.expect_closed() == b""
            for fake in silent:
                await fake.expect_closed()
                cut.append(asyncio.get_running_loop().time() - started)
                await fake.close()
            assert server.active_sessions == 0
            await run_echo(server)
    # a Read of a 0.4 s prompt with a 0.5 s input wait: about 1.2 s with the margins, never minutes
    assert max(cut) < 2.0
    timeouts = [entry for entry in events(logs, "agi_session_end") if entry["outcome"] == "command_timeout"]
    assert sorted(entry["uniqueid"] for entry in timeouts) == [f"silent.{n}" for n in range(4)]
    assert all(entry["log_level"] == "warning" for entry in timeouts)


def test_plain_commands_default_to_a_short_deadline() -> None:
    assert inspect.signature(FastAGIServer).parameters["command_timeout"].default == 5.0
    assert AGIConfig().command_timeout == 5.0


# ---- hostile peers and parameters are warnings, never tracebacks (issue #9, finding 3) -----------------------


def _reset(fake: FakeAsterisk) -> None:
    """Close with a TCP RST instead of a FIN, as a crashed or killed peer does."""
    sock = fake.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    fake.writer.transport.abort()


async def _resets_at_once(fake: FakeAsterisk) -> None:
    _reset(fake)


async def _closes_after_the_header(fake: FakeAsterisk) -> None:
    await fake.start("ivr")
    fake.writer.write_eof()


async def _resets_during_a_command(fake: FakeAsterisk) -> None:
    await fake.start("ivr")
    await fake.command()
    _reset(fake)


async def _after_command(fake: FakeAsterisk, reply: bytes, *, eof: bool = True) -> None:
    """Answer the route's first command with ``reply`` and then close (or, eof=False, go silent)."""
    await fake.start("ivr")
    await fake.command()
    await fake.send(reply)
    if eof:
        fake.writer.write_eof()


HOSTILE_PEERS: dict[str, Callable[[FakeAsterisk], Awaitable[None]]] = {
    "closes at once": lambda fake: fake.close(),
    "resets at once": _resets_at_once,
    "closes mid header": lambda fake: fake.send(header_block("ivr")[:40]),
    "binary junk": lambda fake: fake.send(bytes(range(256)) * 4 + b"\n\n"),
    "closes after the header": _closes_after_the_header,
    "closes mid reply": lambda fake: _after_command(fake, b"200 res"),
    "resets during a command": _resets_during_a_command,
    "goes silent during a command": lambda fake: _after_command(fake, b"", eof=False),
    "a reply code Asterisk never sends": lambda fake: _after_command(fake, b"999 what\n", eof=False),
    "a reply without a code": lambda fake: _after_command(fake, b"hello\n", eof=False),
    "a broken usage block": lambda fake: _after_command(fake, b"520-Invalid\n"),
    "a non-numeric digit result": lambda fake: _after_command(fake, b"200 result=x\n", eof=False),
    "a hangup then EOF": lambda fake: _after_command(fake, b"HANGUP\n"),
}


@pytest.mark.parametrize("behave", HOSTILE_PEERS.values(), ids=HOSTILE_PEERS.keys())
async def test_a_hostile_peer_costs_a_warning_at_most_never_a_traceback(
    behave: Callable[[FakeAsterisk], Awaitable[None]],
) -> None:
    async def ivr(session: AGISession) -> None:
        await session.stream_file("cc/welcome", "12")
        await read_keys(session, ["cc/menu"], 1, 0.2)

    sounds = SoundLengths({"cc/welcome": 0.1, "cc/menu": 0.1})
    with capture() as logs:
        async with serving(
            {"ivr": ivr, "echo": echo}, command_timeout=0.3, header_timeout=0.3, sounds=sounds, media_margin=0.1
        ) as server:
            fake = await FakeAsterisk.connect(server.port)
            async with fake:
                await behave(fake)
                # whatever it did, the server ends the connection within its deadlines
                async with asyncio.timeout(3):
                    while server.active_sessions:
                        await asyncio.sleep(0.01)
            await run_echo(server)
    assert not [entry for entry in logs if entry["log_level"] in {"error", "critical"} or entry.get("exc_info")]


async def test_a_route_refusing_its_parameters_is_a_warning_without_traceback() -> None:
    async def strict(session: AGISession) -> None:
        raise RouteRefused(f"bad agent {session.env.params.get('agent', '')[:20]!r}")

    with capture() as logs:
        async with serving({"strict": strict}) as server, connected(server) as fake:
            await fake.start("strict", query="agent=x%0Ay")
            assert await fake.expect_closed() == b""
    [end] = events(logs, "agi_session_end")
    assert (end["outcome"], end["log_level"]) == ("refused", "warning")
    assert "exc_info" not in end


async def test_selftest_refuses_a_bad_token() -> None:
    with capture() as logs:
        async with serving({"selftest": selftest}) as server, connected(server) as fake:
            await fake.start("selftest", query="token=12x")
            assert await fake.expect_closed() == b""
    [end] = events(logs, "agi_session_end")
    assert (end["outcome"], end["log_level"]) == ("refused", "warning")


async def test_a_burst_of_connections_is_queued_by_the_kernel_not_dropped() -> None:
    """300 connections arriving while the loop is busy (it accepts none meanwhile): the listen backlog holds them
    all. asyncio's default backlog of 100 dropped the rest's SYNs, and those callers came a second later."""
    server = FastAGIServer({"echo": echo}, port=0)
    await server.start()
    clients: list[socket.socket] = []
    try:
        for _ in range(300):  # all of it synchronous: the event loop cannot accept any of them meanwhile
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", server.port))
            clients.append(client)
        connected: set[socket.socket] = set()
        deadline = time.monotonic() + 0.5  # a dropped SYN is sent again after 1 s: well past this
        while len(connected) < len(clients) and time.monotonic() < deadline:
            _, writable, _ = select.select([], [c for c in clients if c not in connected], [], 0.05)
            connected |= {c for c in writable if c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0}
        assert len(connected) == len(clients)
    finally:
        for client in clients:
            client.close()
        await server.stop()
