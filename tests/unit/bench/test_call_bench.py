"""The call benchmark's own parts: the floor resends exactly what it recorded, the fake AMI is AMI enough for the
service's link, the fake Asterisk times the steps of a route, and /proc gives a process tree's CPU."""

from __future__ import annotations

import os

import pytest

from bench.fake_ami import FakeAMI
from bench.fake_calls import run_route
from bench.floor import replay_route, replayable, split_words
from bench.proctree import tree_cpu
from callcenter.agi import FastAGIServer
from callcenter.agi.protocol import format_command
from callcenter.ami.link import AMILink, AMISettings


@pytest.mark.parametrize(
    "words",
    [
        ("GET", "VARIABLE", "CHANNEL(linkedid)"),
        ("SET", "VARIABLE", "CC_CHOSEN", ""),
        ("STREAM", "FILE", "cc/goodbye", ""),
        ("EXEC", "UserEvent", 'CallCenterScreen,Agent: 1001,Caller: "x" \\y'),
        ("EXEC", "Read", "CC_DIGITS,cc/a&cc/b,1,t(),1,6"),
    ],
)
def test_a_recorded_line_splits_back_into_its_words(words: tuple[str, ...]) -> None:
    line = format_command(*words).decode()
    assert split_words(line) == list(words)
    assert replayable([line])


async def test_the_floor_replays_a_route_and_the_fake_asterisk_times_its_steps() -> None:
    lines = [
        format_command("GET", "VARIABLE", "CC_SERVICE").decode(),
        format_command("EXEC", "Read", "CC_DIGITS,cc/choose-service,1,t(),1,6").decode(),
        format_command("GET", "VARIABLE", "CC_DIGITS").decode(),
        format_command("SET", "VARIABLE", "CC_RESULT", "QUEUE").decode(),
    ]
    server = FastAGIServer({"inbound": replay_route(lines)}, host="127.0.0.1", port=0)
    await server.start()
    try:
        run = await run_route(server.port, "inbound", uniqueid="1700000000.5", callerid="+15550000001", variables={})
    finally:
        await server.stop()
    assert [line.decode() for line in run.lines] == lines
    assert run.sets == {"CC_RESULT": "QUEUE"}
    assert [name for name, _ in run.steps] == ["inbound: connect -> service menu", "inbound: service menu key -> end"]


async def test_the_fake_ami_logs_in_answers_actions_and_empty_lists() -> None:
    ami = FakeAMI()
    await ami.start()
    try:
        link = AMILink(AMISettings("127.0.0.1", ami.port, "callcenter", "x"))
        await link.start()
        try:
            assert (await link.send({"Action": "QueuePenalty", "Queue": "q"})).success
            listed = await link.send_list({"Action": "Status"})
            assert [m.get("Event") for m in listed if m.get("Event")] == ["StatusComplete"]
        finally:
            await link.close()
    finally:
        await ami.close()


def test_a_process_tree_has_cpu_time() -> None:
    sum(i * i for i in range(200_000))
    assert tree_cpu(os.getpid()) > 0
