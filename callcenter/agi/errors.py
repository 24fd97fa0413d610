"""Typed failures of a FastAGI session: routes catch what they can handle, the server classifies the rest."""

from __future__ import annotations


class AGIError(Exception):
    """Base of every FastAGI failure raised by this package."""


class AGIConnectionClosed(AGIError):
    """Asterisk closed the connection (EOF), possibly in the middle of a line."""


class AGIProtocolError(AGIError):
    """Asterisk (or whatever connected) sent something that is not FastAGI: malformed or oversized."""


class AGITimeout(AGIError):
    """A deadline of ours passed: Asterisk never ends a wait by itself, so the server must."""


class AGIHangup(AGIError):
    """The channel hung up: a command failed after Asterisk announced the hangup, or answered 511."""


class RouteRefused(AGIError):
    """A route will not serve this request: its parameters or the call it names do not check out (a hostile or
    stale request, not a bug). The server logs it as a warning without a traceback and closes the session."""


class AGICommandError(AGIError):
    """Asterisk refused or failed a command: 510 (unknown), 520 (usage, with the full usage text), ..."""

    def __init__(self, code: int, text: str, *, command: str = "") -> None:
        self.code = code
        self.text = text
        self.command = command
        prefix = f"{command}: " if command else ""
        super().__init__(f"{prefix}{code} {text}")


class AGISoundError(AGICommandError):
    """A sound did not play on a live channel (STREAM FILE / SAY returned -1): usually a missing file."""

    def __init__(self, text: str, *, file: str, command: str = "") -> None:
        self.file = file
        super().__init__(200, text, command=command)
