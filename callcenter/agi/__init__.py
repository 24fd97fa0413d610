"""FastAGI: the IVR runs as routes of our own asyncio FastAGI server (server.py says why not panoramisk)."""

from callcenter.agi.errors import (
    AGICommandError,
    AGIConnectionClosed,
    AGIError,
    AGIHangup,
    AGIProtocolError,
    AGISoundError,
    AGITimeout,
    RouteRefused,
)
from callcenter.agi.protocol import (
    AGIEnv,
    Reply,
    ReplyAssembler,
    build_env,
    format_command,
    format_reply,
    parse_header_line,
    parse_reply,
)
from callcenter.agi.server import FastAGIServer, Route
from callcenter.agi.session import (
    MEDIA_MARGIN,
    UNKNOWN_SOUND_SECONDS,
    AGISession,
    Digits,
    PlayTime,
    UnknownSounds,
)

__all__ = [
    "MEDIA_MARGIN",
    "UNKNOWN_SOUND_SECONDS",
    "AGICommandError",
    "AGIConnectionClosed",
    "AGIEnv",
    "AGIError",
    "AGIHangup",
    "AGIProtocolError",
    "AGISession",
    "AGISoundError",
    "AGITimeout",
    "Digits",
    "FastAGIServer",
    "PlayTime",
    "Reply",
    "ReplyAssembler",
    "Route",
    "RouteRefused",
    "UnknownSounds",
    "build_env",
    "format_command",
    "format_reply",
    "parse_header_line",
    "parse_reply",
]
