"""The sandbox: a private Asterisk for this config, from the cached root: prompts, rendered config, secrets, the
process (``make run``, ``callcenter asterisk start``, the tests)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from callcenter.asterisk.process import AsteriskProcess
from callcenter.asterisk.prompts import all_prompts, ensure_prompts
from callcenter.asterisk.render import InstanceLayout, render_instance
from callcenter.asterisk.root import ensure_root
from callcenter.config import Config, ami_secret_path, ensure_secret
from callcenter.domain.agents import AgentSpec


@dataclasses.dataclass
class Sandbox:
    """A private Asterisk for this config: root, prompts, rendered config, secrets, the process."""

    config: Config
    project_dir: Path
    agents: Sequence[AgentSpec]
    layout: InstanceLayout | None = None
    process: AsteriskProcess | None = None

    def with_secrets(self) -> Config:
        """The config with the service's AMI secret, generating it (outside git) on first use."""
        if self.config.ami.secret:
            return self.config
        secret = ensure_secret(ami_secret_path(self.config))
        return dataclasses.replace(self.config, ami=dataclasses.replace(self.config.ami, secret=secret))

    def driver_secret(self) -> str:
        return ensure_secret(ami_secret_path(self.config, self.config.asterisk.driver_username))

    async def prepare(self, layout: InstanceLayout | None = None) -> str:
        version = await ensure_root(self.config.asterisk.root)
        await ensure_prompts(self.config.asterisk.root, all_prompts(self.config, self.agents))
        self.config = self.with_secrets()
        self.layout = render_instance(self.config, self.project_dir, self.agents, self.driver_secret(), layout)
        return version

    async def start(self, *, foreground: bool = True) -> None:
        assert self.layout is not None, "prepare() first"
        self.process = AsteriskProcess(self.layout)
        await self.process.start(self.config.asterisk.boot_timeout, foreground=foreground)

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.stop()
