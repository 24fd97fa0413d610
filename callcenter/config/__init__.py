"""Configuration: its shape (``schema``), how it is found and loaded (``loading``), its secrets (``secrets``) and
the agent roster file (``roster``). Import from here; the submodules are the implementation."""

from callcenter.config.loading import (
    BUILT_IN_DEFAULTS,
    CONFIG_ENV,
    DEMO_CONFIG,
    ConfigSource,
    find_config,
    load_config,
    no_config_found,
)
from callcenter.config.schema import (
    AgentsConfig,
    AGIConfig,
    AMIConfig,
    AsteriskConfig,
    ClusterConfig,
    Config,
    ConfigError,
    JourneyConfig,
    LogConfig,
    SelfServiceConfig,
    ServiceConfig,
    StoreConfig,
    WebConfig,
)
from callcenter.config.secrets import AMI_SECRET_ENV, ami_secret_path, ensure_secret, require_ami_secret

__all__ = [
    "AMI_SECRET_ENV",
    "BUILT_IN_DEFAULTS",
    "CONFIG_ENV",
    "DEMO_CONFIG",
    "AGIConfig",
    "AMIConfig",
    "AgentsConfig",
    "AsteriskConfig",
    "ClusterConfig",
    "Config",
    "ConfigError",
    "ConfigSource",
    "JourneyConfig",
    "LogConfig",
    "SelfServiceConfig",
    "ServiceConfig",
    "StoreConfig",
    "WebConfig",
    "ami_secret_path",
    "ensure_secret",
    "find_config",
    "load_config",
    "no_config_found",
    "require_ami_secret",
]
