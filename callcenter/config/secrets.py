"""Secrets never live in git or in the config file: the service's AMI secret comes from $CALLCENTER_AMI_SECRET
or a secret file; the sandbox's secrets (AMI users, SIP agents) are generated on first use, mode 0600, in the
git-ignored state dir."""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from callcenter.config.schema import Config, ConfigError

AMI_SECRET_ENV = "CALLCENTER_AMI_SECRET"  # noqa: S105 - the variable's name, not a secret


def ami_secret_path(config: Config, username: str | None = None) -> Path:
    user = username or config.ami.username
    if user == config.ami.username and config.ami.secret_file is not None:
        return config.ami.secret_file
    return config.state_dir / "secrets" / f"ami-{user}.secret"


def with_ami_secret(config: Config, env: Mapping[str, str]) -> Config:
    """The config with the service's AMI secret: the environment's, else the secret file's (else none)."""
    secret = env.get(AMI_SECRET_ENV, "")
    if not secret:
        path = ami_secret_path(config)
        if path.exists():
            secret = path.read_text().strip()
    return dataclasses.replace(config, ami=dataclasses.replace(config.ami, secret=secret))


def require_ami_secret(config: Config) -> str:
    if not config.ami.secret:
        raise ConfigError(
            f"no AMI secret for user {config.ami.username!r}: set {AMI_SECRET_ENV}, or run "
            f"`callcenter asterisk start` (sandbox mode), which generates {ami_secret_path(config)}"
        )
    return config.ami.secret


def ensure_secret(path: Path) -> str:
    """Read a generated secret, creating it (mode 0600) on first use. Lives in the git-ignored state dir."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value
