"""Kamailio in front of a cluster's nodes: its config rendered from ``asterisk-conf/kamailio/kamailio.cfg``, and
its process (started and stopped by ``callcenter cluster run`` and the tests).

The template's ``{{...}}`` placeholders are filled like the Asterisk ones (``asterisk/render.py``); the nodes and
the agents' passwords go in generated files beside it, so an operator's edit of the template is never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from callcenter.asterisk.render import GENERATED_HEADER, render_template
from callcenter.config import ensure_secret
from callcenter.domain import naming
from callcenter.domain.agents import AgentSpec

KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"


class KamailioError(Exception):
    """Kamailio cannot be rendered or started; the message says why."""


@dataclass(frozen=True, slots=True)
class KamailioSetup:
    listen: str  # host:port
    nodes: tuple[str, ...]  # each node's SIP address, host:port
    directory: Path  # where the rendered files go
    secrets: Path  # the agents' SIP passwords (sip-agent<id>.secret), shared with the nodes' renders
    probe_seconds: int = 1
    failover_ms: int = 2000

    @property
    def cfg(self) -> Path:
        return self.directory / "kamailio.cfg"

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


def render_kamailio(setup: KamailioSetup, project_dir: Path, agents: Sequence[AgentSpec]) -> Path:
    """Write kamailio.cfg, dispatcher.list and agents.cfg into ``setup.directory`` (private: passwords)."""
    template = project_dir / "asterisk-conf" / "kamailio" / "kamailio.cfg"
    if not template.is_file():
        raise KamailioError(f"{template} is missing: run from the project directory")
    setup.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    values = {
        "listen": setup.listen,
        "dir": str(setup.directory),
        "probe_seconds": str(setup.probe_seconds),
        "failover_ms": str(setup.failover_ms),
    }
    _write(setup.cfg, render_template(template.read_text(), values, str(template)))
    nodes = "".join(f"1 sip:{node} 0 0 node={n}\n" for n, node in enumerate(setup.nodes))
    _write(setup.directory / "dispatcher.list", "# " + GENERATED_HEADER.lstrip("; ") + nodes)
    _write(setup.directory / "agents.cfg", agents_cfg(agents, setup.secrets))
    return setup.cfg


def agents_cfg(agents: Sequence[AgentSpec], secrets: Path) -> str:
    """route[AGENT_SECRET]: $var(pw) is the password of the softphone registering ($fU), empty for anyone else.
    The roster's SIP agents (``sip = true``) only; the passwords are the ones their Asterisk endpoints had."""
    cases = []
    for agent in agents:
        if agent.kind != "sip" and not agent.interface.startswith("PJSIP/trunk/sip:agent"):
            continue
        endpoint = naming.sip_endpoint(agent.id)
        password = ensure_secret(secrets / f"sip-{endpoint}.secret")
        cases.append(f'        case "{endpoint}":\n            $var(pw) = "{password}";\n            break;\n')
    return (
        "# " + GENERATED_HEADER.lstrip("; ") + "route[AGENT_SECRET] {\n"
        '    $var(pw) = "";\n'
        "    switch ($fU) {\n" + "".join(cases) + "        default:\n            break;\n    }\n}\n"
    )


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    path.chmod(0o600)


class KamailioProcess:
    """Kamailio in the foreground (``-DD``), its log in ``directory/kamailio.log``."""

    def __init__(self, setup: KamailioSetup) -> None:
        self.setup = setup
        self.process: asyncio.subprocess.Process | None = None

    @property
    def log(self) -> Path:
        return self.setup.directory / "kamailio.log"

    async def start(self, timeout: float = 15.0) -> None:
        check = await asyncio.create_subprocess_exec(
            KAMAILIO, "-c", "-f", str(self.setup.cfg), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await check.communicate()
        if check.returncode != 0:
            raise KamailioError(f"kamailio -c refused {self.setup.cfg}:\n{out.decode(errors='replace')[-3000:]}")
        run = self.setup.directory / "run"
        run.mkdir(exist_ok=True)
        log = self.log.open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                KAMAILIO,
                "-DD",
                "-E",
                "-f",
                str(self.setup.cfg),
                "-Y",
                str(run),
                "-P",
                str(run / "kamailio.pid"),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        await self._answering(timeout)

    async def _answering(self, timeout: float) -> None:
        """Kamailio answers an OPTIONS to itself: it is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.returncode is not None:
                raise KamailioError(f"kamailio exited ({self.process.returncode}); see {self.log}")
            if await asyncio.to_thread(options_answered, self.setup.host, self.setup.port):
                return
            await asyncio.sleep(0.2)
        raise KamailioError(f"kamailio did not answer on {self.setup.listen} within {timeout:.0f} s; see {self.log}")

    async def stop(self) -> None:
        p, self.process = self.process, None
        if p is None or p.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, 15)
        try:
            await asyncio.wait_for(p.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, 9)
            await p.wait()


def options_answered(host: str, port: int, timeout: float = 0.5) -> bool:
    """One SIP OPTIONS to ``host:port``: True if anything answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        s.settimeout(timeout)
        me = s.getsockname()
        tag = f"{os.getpid()}{time.monotonic_ns()}"
        msg = (
            f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {me[0]}:{me[1]};branch=z9hG4bK{tag}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@{me[0]}:{me[1]}>;tag={tag}\r\n"
            f"To: <sip:{host}:{port}>\r\n"
            f"Call-ID: probe-{tag}@{me[0]}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        try:
            s.sendto(msg.encode(), (host, port))
            data = s.recv(4096)
        except OSError:
            return False
        return data.startswith(b"SIP/2.0 ")
