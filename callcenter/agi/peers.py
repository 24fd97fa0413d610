"""Who is on the other end of a FastAGI connection: the local user owning the peer's socket.

FastAGI has no authentication, and whatever connects speaks for Asterisk: it answers our GET VARIABLEs, so it
can claim any channel, call or endpoint (a local user forged a rating and opened an agent's menu without a PIN
that way). On loopback the kernel knows who owns the peer's socket; /proc/net/tcp lists every TCP socket with
its owner's uid, so the server serves only connections whose peer socket belongs to Asterisk's user (root in the
sandbox, ``asterisk`` on a packaged install). Pure parsing here; the server does the one read per connection.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from pathlib import Path

PROC_TCP = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))


def _hex_endpoint(host: str, port: int) -> str:
    """An address as /proc/net/tcp writes it: the address in host byte order (little-endian words), the port."""
    address = ipaddress.ip_address(host)
    raw = address.packed
    words = [raw[i : i + 4][::-1] for i in range(0, len(raw), 4)]
    return "".join(w.hex().upper() for w in words) + f":{port:04X}"


def owner_uid(lines: Iterable[str], local: tuple[str, int], remote: tuple[str, int]) -> int | None:
    """The uid owning the socket whose local end is ``local`` and remote end ``remote`` (as that socket sees
    them), found in the lines of /proc/net/tcp{,6}; None if no such socket is listed."""
    want_local, want_remote = _hex_endpoint(*local), _hex_endpoint(*remote)
    for line in lines:
        fields = line.split()
        # "01": ESTABLISHED. A socket in TIME_WAIT or FIN_WAIT2 is listed with uid 0, whoever owned it
        if len(fields) > 9 and fields[1] == want_local and fields[2] == want_remote and fields[3] == "01":
            return int(fields[7])
    return None


def peer_uid(sock: socket.socket) -> int | None:
    """The uid owning the other end of ``sock``, a loopback TCP connection; None if it cannot be told (not on
    this host, or no /proc)."""
    peer = sock.getpeername()[:2]
    ours = sock.getsockname()[:2]
    for table in PROC_TCP:
        try:
            text = table.read_text()
        except OSError:
            continue
        # the peer's socket: its local end is our remote end, and the other way round
        found = owner_uid(text.splitlines()[1:], (peer[0], peer[1]), (ours[0], ours[1]))
        if found is not None:
            return found
    return None
