"""Both cores: do two service processes carry >= 1.8x the calls of one at the same latency? (``python -m bench.cores``)

The service runs as it does in production (``callcenter serve``, ``[service] workers`` = 1 or 2, a SQLite store of
its own per run) against a fake Asterisk in this process: ``bench.fake_ami_queues`` for AMI (every worker logs in and
receives every queue event, as from Asterisk) and a FastAGI load generator speaking the real protocol bytes. Each
call is the real routes' sequence of a whole answered call: ``inbound`` (service 1, the first agent offered),
``screen`` (the agent accepts), ``connected``, ``after-queue`` (the caller rates "4534") and ``call-end``, with the
AMI events Asterisk would send between them (QueueCallerJoin/Leave, AgentConnect/Complete: every worker follows
them). Callers run in a closed loop at growing concurrency; a call's latency is the sum of its five FastAGI
sessions (connect to close, as the fake Asterisk sees it; no think time). Throughput at a fixed p99 is interpolated
between the concurrency levels; 1 and 2 workers are measured interleaved (1, 2, then 2, 1, ...) ``--reps`` times.

The machine has two cores and this generator needs one too: it is kept cheap (asyncio protocols, one dict lookup
and a pre-built reply per command) and its own CPU is printed beside the service's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.fake_ami_queues import FakeAMI
from callcenter.agi.protocol import header_block
from callcenter.config.roster import load_roster
from callcenter.domain import naming

PROJECT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

OK = b"200 result=0\n"
STREAMED = b"200 result=0 endpos=0\n"
UNSET = b"200 result=0\n"
READ_OK = b"200 result=1 (OK)\n"
ONE = b"200 result=1\n"


def value(text: str) -> bytes:
    return b"200 result=1 (" + text.encode() + b")\n"


# ---- the fake Asterisk's FastAGI side --------------------------------------------------------------------------


class Session(asyncio.Protocol):
    """One FastAGI connection: sends the header block, answers each command from ``variables`` (GET VARIABLE),
    ``keys`` (the Read() digits, one per GET VARIABLE of the digits variable) or a pre-built default."""

    __slots__ = ("buffer", "done", "header", "keys", "set_vars", "started", "transport", "variables")

    def __init__(self, header: bytes, variables: dict[bytes, bytes], keys: list[bytes], done: asyncio.Future[int]):
        self.header = header
        self.variables = variables
        self.keys = keys
        self.done = done
        self.buffer = b""
        self.set_vars: dict[bytes, bytes] = {}
        self.started = time.perf_counter_ns()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.header)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies = []
        while (end := self.buffer.find(b"\n")) >= 0:
            line, self.buffer = self.buffer[:end], self.buffer[end + 1 :]
            replies.append(self.reply(line))
        if replies and self.transport is not None:
            self.transport.write(b"".join(replies))

    def reply(self, line: bytes) -> bytes:
        if line.startswith(b"GET VARIABLE "):
            name = line[13:].strip(b'" ')
            if name == DIGITS:
                key = self.keys.pop(0) if self.keys else b""
                return value(key.decode()) if key else UNSET
            if name == b"READSTATUS":
                return READ_OK
            return self.variables.get(name, UNSET)
        if line.startswith(b"SET VARIABLE "):
            name, _, rest = line[13:].partition(b" ")
            self.set_vars[name.strip(b'"')] = rest.strip(b'"')
            return ONE
        if line.startswith(b"STREAM"):
            return STREAMED
        return OK

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(time.perf_counter_ns() - self.started)


DIGITS = naming.DIGITS.encode()
# nothing during the welcome, 1 for the first service, 1 for the first agent offered; and 1 again for the next
# menu when that agent was taken meanwhile by a caller choosing at the same moment ("not free any more")
INBOUND_KEYS = ("", "1", "1", "1", "1")


@dataclass
class Driver:
    """Whole calls against the service's FastAGI port, with the AMI events between the routes."""

    port: int
    ami: FakeAMI
    calls: int = 0
    failed: int = 0  # inbound sessions that ended in the shared queue (see call())
    latencies_ns: list[int] = field(default_factory=list)
    _next: int = 0

    async def session(
        self, route: str, uid: str, channel: str, variables: dict[bytes, bytes], keys: Sequence[str], caller: str = ""
    ) -> tuple[int, dict[bytes, bytes]]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        header = header_block(route, uniqueid=uid, channel=channel, callerid=caller or "unknown", port=self.port)
        if "?" in route:
            path, _, query = route.partition("?")
            header = header_block(
                path, query=query, uniqueid=uid, channel=channel, callerid=caller or "unknown", port=self.port
            )
        proto = Session(header, variables, [k.encode() for k in keys], done)
        await loop.create_connection(lambda: proto, "127.0.0.1", self.port)
        return await asyncio.wait_for(done, 60), proto.set_vars

    async def call(self) -> None:
        self._next += 1
        n = self._next
        uid = f"bench-{os.getpid()}.{n}"
        caller = f"+1555{n % 5000:07d}"
        chan = f"PJSIP/trunk-{n:08x}"
        total, set_vars = await self.session(
            naming.ROUTE_INBOUND, uid, chan, {b"CHANNEL(linkedid)": value(uid)}, INBOUND_KEYS, caller
        )
        agent = set_vars.get(naming.CHOSEN.encode(), b"").decode()
        queue = set_vars.get(naming.QUEUE.encode(), b"").decode()
        if set_vars.get(naming.RESULT.encode()) != naming.RESULT_QUEUE.encode() or not agent:
            # not an error as such: every caller presses 1 for the agent offered first, and with no prompt taking
            # any time a dozen callers hear the same first agent at once; the one whose pick is taken three times
            # runs out of keys and goes to the shared queue (what a silent caller gets). Counted apart, not a call.
            self.failed += 1
            return
        member = naming.member_interface(agent)
        self.ami.broadcast(
            f"Event: QueueCallerJoin\r\nQueue: {queue}\r\nUniqueid: {uid}\r\nPosition: 1\r\n\r\n".encode()
        )
        agent_vars = {naming.CALL.encode(): value(uid), naming.AGENT.encode(): value(agent)}
        took, _ = await self.session(naming.ROUTE_SCREEN, f"{uid}-a", f"Local/{agent}@x-1;2", agent_vars, ["1"])
        total += took
        self.ami.broadcast(
            f"Event: QueueCallerLeave\r\nQueue: {queue}\r\nUniqueid: {uid}\r\n\r\n"
            f"Event: AgentConnect\r\nQueue: {queue}\r\nUniqueid: {uid}\r\nInterface: {member}\r\n"
            f"MemberName: {agent}\r\nHoldTime: 0\r\n\r\n".encode()
        )
        member_vars = {
            b"MEMBERNAME": value(agent),
            b"MEMBERINTERFACE": value(member),
            naming.CHOSEN.encode(): value(agent),
        }
        took, _ = await self.session(naming.ROUTE_CONNECTED, uid, chan, member_vars, [])
        total += took
        self.ami.broadcast(
            f"Event: AgentComplete\r\nQueue: {queue}\r\nUniqueid: {uid}\r\nInterface: {member}\r\n"
            f"MemberName: {agent}\r\nTalkTime: 30\r\nReason: agent\r\n\r\n".encode()
        )
        took, _ = await self.session(f"{naming.ROUTE_AFTER_QUEUE}?status=CONTINUE", uid, chan, member_vars, ["4534"])
        total += took
        took, _ = await self.session(naming.ROUTE_CALL_END, uid, chan, member_vars, [])
        total += took
        self.calls += 1
        self.latencies_ns.append(total)

    async def callers(self, concurrency: int, seconds: float) -> None:
        stop = time.monotonic() + seconds

        async def one() -> None:
            while time.monotonic() < stop:
                await self.call()

        await asyncio.gather(*(one() for _ in range(concurrency)))


# ---- the service under test --------------------------------------------------------------------------------------


def write_roster(directory: Path, agents: int) -> Path:
    roster = directory / "agents.toml"
    roster.write_text(
        "".join(
            f'[[agent]]\nid = "{2000 + i}"\nname = "Agent {i}"\nservices = ["support"]\n'
            f'dial = "Local/{2000 + i}@cc-demo-agent"\n\n'
            for i in range(agents)
        )
    )
    return roster


def write_config(directory: Path, roster: Path, ami_port: int, agi_port: int) -> Path:
    config = directory / "callcenter.toml"
    config.write_text(
        f'state_dir = "{directory / "var"}"\nroster = "{roster}"\n\n'
        f'[asterisk]\nmode = "external"\nqueue_log = "{directory / "queue_log"}"\n\n'
        f'[ami]\nport = {ami_port}\n\n[agi]\nport = {agi_port}\npeer_check = "off"\nmax_sessions = 1024\n\n'
        f'[agents]\ninitial_state = "available"\n\n'
        # the console as a center runs it (worker 0 serves it), on any free port
        "[web]\nport = 0\n\n"
        '[[services]]\nid = "support"\nname = "technical support"\n'
    )
    return config


@dataclass
class Service:
    proc: asyncio.subprocess.Process
    pids: list[int]

    def cpu_seconds(self) -> float:
        """user + system CPU of the service's processes (the supervisor and its workers) so far."""
        return sum(self.cpu_by_process())

    def cpu_by_process(self) -> list[float]:
        """Each process's CPU-seconds so far: the supervisor (or the one process), then each worker."""
        seconds = []
        for pid in self.pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                seconds.append(0.0)
                continue
            seconds.append((int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
        return seconds


async def start_service(config: Path, workers: int, ami: FakeAMI, agi_port: int) -> Service:
    env = {
        **os.environ,
        "CALLCENTER_SERVICE_WORKERS": str(workers),
        "CALLCENTER_AMI_SECRET": "bench",
        "CALLCENTER_LOG_LEVEL": "warning",
    }
    logins = ami.logins
    # the service's logs (warnings and worse) only when asked for: BENCH_CORES_LOGS=1
    logs = sys.stderr if os.environ.get("BENCH_CORES_LOGS") else asyncio.subprocess.DEVNULL
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callcenter.cli", "--config", str(config), "--log-format", "json", "serve",
        env=env, cwd=PROJECT, stdout=asyncio.subprocess.DEVNULL, stderr=logs,
    )  # fmt: skip
    async with asyncio.timeout(60):
        while ami.logins < logins + workers or not await _listening(agi_port):
            if proc.returncode is not None:
                raise RuntimeError(f"the service exited with {proc.returncode}")
            await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # the resyncs after the logins
    return Service(proc, [proc.pid, *_children(proc.pid)])


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


def _children(pid: int) -> list[int]:
    """The service's worker processes (none with one worker: it serves in the process itself)."""
    with contextlib.suppress(OSError):
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    found = []  # a kernel without /proc/<pid>/task/<tid>/children: every process whose parent it is
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return sorted(found)


async def stop_service(service: Service) -> None:
    with contextlib.suppress(ProcessLookupError):
        service.proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(service.proc.wait(), 30)
    except TimeoutError:
        service.proc.kill()
        await service.proc.wait()


# ---- measuring ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    workers: int
    concurrency: int
    calls_per_s: float
    p50_ms: float
    p99_ms: float
    failed: int
    service_cpu: float  # CPU-seconds over the window
    generator_cpu: float
    seconds: float
    others_cpu: float  # what the rest of the machine used meanwhile (a shared machine: other people's work)
    worker_cpu: tuple[float, ...]  # each worker's share of the service's CPU (the spread of the connections)


def p(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


def machine_busy() -> float:
    """CPU-seconds the whole machine has been busy (every core, every process), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(
    driver: Driver, service: Service, workers: int, concurrency: int, seconds: float, warmup: float
) -> Point:
    await driver.callers(concurrency, warmup)
    driver.calls, driver.failed, driver.latencies_ns = 0, 0, []
    cpu0, gen0, busy0, t0 = service.cpu_by_process(), own_cpu(), machine_busy(), time.monotonic()
    await driver.callers(concurrency, seconds)
    elapsed = time.monotonic() - t0
    busy = machine_busy() - busy0
    cpu = [b - a for a, b in zip(cpu0, service.cpu_by_process(), strict=True)]
    workers_cpu = cpu[1:] if len(cpu) > 1 else cpu
    lat = driver.latencies_ns or [0]
    return Point(
        workers=workers,
        concurrency=concurrency,
        calls_per_s=driver.calls / elapsed,
        p50_ms=p(lat, 0.50),
        p99_ms=p(lat, 0.99),
        failed=driver.failed,
        service_cpu=sum(cpu),
        generator_cpu=own_cpu() - gen0,
        seconds=elapsed,
        others_cpu=max(0.0, busy - sum(cpu) - (own_cpu() - gen0)),
        worker_cpu=tuple(c / max(sum(workers_cpu), 1e-9) for c in workers_cpu),
    )


def at_latency(points: Sequence[Point], p99_ms: float) -> float:
    """Calls/s at a p99 of ``p99_ms``, interpolated between the levels around it (the best level below it if
    the curve never reaches it; 0 if even the lightest load is slower)."""
    ordered = sorted(points, key=lambda pt: pt.concurrency)
    best = 0.0
    for lo, hi in itertools.pairwise(ordered):
        if lo.p99_ms <= p99_ms:
            best = max(best, lo.calls_per_s)
        if lo.p99_ms <= p99_ms < hi.p99_ms:
            share = (p99_ms - lo.p99_ms) / (hi.p99_ms - lo.p99_ms)
            best = max(best, lo.calls_per_s + share * (hi.calls_per_s - lo.calls_per_s))
    if ordered and ordered[-1].p99_ms <= p99_ms:
        best = max(best, ordered[-1].calls_per_s)
    return best


async def run(args: argparse.Namespace) -> int:
    levels = [int(c) for c in args.levels.split(",")]
    base = Path(tempfile.mkdtemp(prefix="bench-cores-"))
    roster = write_roster(base, args.agents)
    # the fake AMI lists the bench roster as free members, as Asterisk would after the first resync
    ami = FakeAMI(load_roster(roster, {"support"}))
    await ami.start()
    agi_port = _free_port()
    config = write_config(base, roster, ami.port, agi_port)
    results: dict[int, list[list[Point]]] = {1: [], 2: []}
    print(
        f"bench.cores: {args.agents} agents, levels {levels} concurrent callers, {args.seconds:g} s each "
        f"(+{args.warmup:g} s warm-up), {args.reps} repetitions interleaved, p99 target {args.p99_ms:g} ms, "
        f"listen = {args.listen}; {os.cpu_count()} cores",
        flush=True,
    )
    try:
        for rep in range(args.reps):
            order = (1, 2) if rep % 2 == 0 else (2, 1)
            for workers in order:
                shutil.rmtree(base / "var", ignore_errors=True)
                os.environ["CALLCENTER_SERVICE_LISTEN"] = args.listen
                service = await start_service(config, workers, ami, agi_port)
                driver = Driver(agi_port, ami)
                points = []
                try:
                    for level in levels:
                        point = await measure(driver, service, workers, level, args.seconds, args.warmup)
                        points.append(point)
                        print(
                            f"  rep {rep + 1} workers {workers} callers {level:3d}: {point.calls_per_s:7.1f} calls/s  "
                            f"p50 {point.p50_ms:7.1f} ms  p99 {point.p99_ms:7.1f} ms  shared {point.failed}  "
                            f"service CPU {point.service_cpu / point.seconds:4.2f} cores  "
                            f"generator CPU {point.generator_cpu / point.seconds:4.2f} cores  "
                            f"others {point.others_cpu / point.seconds:4.2f}"
                            + (f"  split {'/'.join(f'{c:.0%}' for c in point.worker_cpu)}" if workers > 1 else ""),
                            flush=True,
                        )
                finally:
                    await stop_service(service)
                results[workers].append(points)
    finally:
        await ami.close()
        shutil.rmtree(base, ignore_errors=True)
    return report(results, args.p99_ms)


def report(results: dict[int, list[list[Point]]], p99_ms: float) -> int:
    one = [at_latency(points, p99_ms) for points in results[1]]
    two = [at_latency(points, p99_ms) for points in results[2]]
    ratios = [b / a for a, b in zip(one, two, strict=True) if a > 0]
    gen = [pt.generator_cpu / pt.seconds for runs in results.values() for points in runs for pt in points]
    svc_per_call = {
        w: statistics.median(
            pt.service_cpu / max(1, pt.calls_per_s * pt.seconds) * 1000 for points in runs for pt in points
        )
        for w, runs in results.items()
    }
    print(f"\ncalls/s at p99 <= {p99_ms:g} ms, per repetition:")
    print(f"  1 worker : {', '.join(f'{x:.1f}' for x in one)}  (median {statistics.median(one):.1f})")
    print(f"  2 workers: {', '.join(f'{x:.1f}' for x in two)}  (median {statistics.median(two):.1f})")
    if ratios:
        print(
            f"  ratio 2/1: {', '.join(f'{r:.2f}' for r in ratios)}  median {statistics.median(ratios):.2f} "
            "(target >= 1.8)"
        )
    for other in (p99_ms / 2, p99_ms * 2):
        # the same at a stricter and a looser latency: the ratio should not hinge on the one chosen
        a = [at_latency(points, other) for points in results[1]]
        b = [at_latency(points, other) for points in results[2]]
        more = [y / x for x, y in zip(a, b, strict=True) if x > 0]
        if more:
            print(
                f"  at p99 <= {other:g} ms: 1 worker {statistics.median(a):.1f}, 2 workers {statistics.median(b):.1f}"
                f" calls/s, ratio median {statistics.median(more):.2f}"
            )
    print(
        f"service CPU per call (median over levels): 1 worker {svc_per_call[1]:.2f} ms, "
        f"2 workers {svc_per_call[2]:.2f} ms"
    )
    print(f"load generator CPU: median {statistics.median(gen):.2f} cores, max {max(gen):.2f} (of the machine's 2)")
    others = [pt.others_cpu / pt.seconds for runs in results.values() for points in runs for pt in points]
    print(
        f"other processes on the machine meanwhile: median {statistics.median(others):.2f} cores, max "
        f"{max(others):.2f} (anything above ~0.1 takes a core from the workers: the ratio is then not the service's)"
    )
    return 0


def _free_port() -> int:
    import socket  # noqa: PLC0415 - only here

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.cores", description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions, 1 and 2 workers interleaved (3)")
    parser.add_argument("--levels", default="2,4,8,16,32", help="concurrent callers, comma-separated (2,4,8,16,32)")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds per level (6)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each level (1)")
    parser.add_argument("--agents", type=int, default=100, help="agents in the roster (100)")
    parser.add_argument("--p99-ms", type=float, default=100.0, help="the fixed latency: a call's p99 (100 ms)")
    parser.add_argument("--listen", choices=["reuseport", "shared"], default="reuseport", help="[service] listen")
    parser.add_argument("--quick", action="store_true", help="one repetition, two levels, 2 s each: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.reps, args.levels, args.seconds, args.warmup = 1, "2,8", 2.0, 0.5
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
