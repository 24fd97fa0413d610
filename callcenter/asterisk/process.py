"""Start, query and stop one Asterisk instance inside the private root (chroot shares the host network)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import structlog

from callcenter.asterisk.render import InstanceLayout
from callcenter.asterisk.root import ASTERISK_BIN, refresh_hosts

log = structlog.get_logger(__name__)


class AsteriskError(Exception):
    """Asterisk did not start, answer or stop as asked; the message says what happened."""


@dataclass
class AsteriskProcess:
    layout: InstanceLayout
    _proc: asyncio.subprocess.Process | None = field(default=None, init=False)

    def _base(self) -> list[str]:
        return ["chroot", str(self.layout.root), ASTERISK_BIN, "-C", self.layout.conf_file]

    async def start(self, boot_timeout: float = 60.0, *, foreground: bool = True) -> None:
        """Start Asterisk and return once it is fully booted.

        ``foreground``: Asterisk is our child (make run, tests) and dies with us; otherwise it daemonises
        (``callcenter asterisk start``) and is stopped with ``callcenter asterisk stop``.
        """
        refresh_hosts(self.layout.root)
        if await self.running():
            raise AsteriskError(
                f"an Asterisk already runs for instance {self.layout.name!r} "
                f"(stop it: callcenter asterisk stop, or chroot {self.layout.root} asterisk -C "
                f"{self.layout.conf_file} -rx 'core stop now')"
            )
        self.layout.control_socket.unlink(missing_ok=True)
        args = [*self._base(), "-n", "-g", *(["-f"] if foreground else [])]
        log.info("asterisk_starting", instance=self.layout.name)
        self._proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us, not Asterisk: we stop it cleanly ourselves
        )
        try:
            async with asyncio.timeout(boot_timeout):
                await self._wait_booted()
        except TimeoutError:
            await self.stop()
            raise AsteriskError(
                f"Asterisk did not boot within {boot_timeout:.0f} s; see {self.layout.log_dir}/messages.log"
            ) from None
        log.info("asterisk_booted", instance=self.layout.name)

    async def _wait_booted(self) -> None:
        delay = 0.05
        while True:
            if self._proc is not None and self._proc.returncode is not None and self._proc.returncode != 0:
                raise AsteriskError(
                    f"Asterisk exited with status {self._proc.returncode} while booting; "
                    f"see {self.layout.log_dir}/messages.log"
                )
            if self.layout.control_socket.exists():
                rc, _ = await self._rx("core waitfullybooted", timeout=30.0)
                if rc == 0:
                    return
            # the control socket appears a moment after exec; nothing to await on but the file itself
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def running(self) -> bool:
        if not self.layout.control_socket.exists():
            return False
        rc, _ = await self._rx("core show uptime", timeout=5.0)
        return rc == 0

    async def cli(self, command: str, timeout: float = 30.0) -> str:
        rc, out = await self._rx(command, timeout=timeout)
        if rc != 0:
            raise AsteriskError(f"asterisk -rx {command!r} failed ({rc}): {out.strip()}")
        return out

    async def _rx(self, command: str, timeout: float) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            *self._base(), "-rx", command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        try:
            async with asyncio.timeout(timeout):
                out, _ = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return -1, f"timed out after {timeout} s"
        assert proc.returncode is not None
        return proc.returncode, out.decode(errors="replace")

    async def stop(self, timeout: float = 15.0) -> None:
        """Stop the instance: ``core stop now``, then a kill if it does not go."""
        if await self.running():
            await self._rx("core stop now", timeout=timeout)
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await proc.wait()
        except TimeoutError:
            log.warning("asterisk_kill", instance=self.layout.name)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        log.info("asterisk_stopped", instance=self.layout.name)

    async def kill(self) -> None:
        """SIGKILL, as a crash would: no hangup handlers run, no call ends cleanly (for the fault tests)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        self.layout.control_socket.unlink(missing_ok=True)
        log.warning("asterisk_killed", instance=self.layout.name)
