"""Who is on the other end of a FastAGI connection: the local user owning the peer's socket.

FastAGI has no authentication, and whatever connects speaks for Asterisk: it answers our GET VARIABLEs, so it
can claim any channel, call or endpoint (a local user forged a rating and opened an agent's menu without a PIN
that way). On loopback the kernel knows who owns the peer's socket, so the server serves only connections whose
peer socket belongs to Asterisk's user (root in the sandbox, ``asterisk`` on a packaged install).

How it asks: the kernel's socket diagnostics (netlink ``NETLINK_SOCK_DIAG``, one exact lookup of the peer's socket,
about 10 microseconds). /proc/net/tcp says the same, but the kernel writes out every TCP socket of the host for
each read, so a lookup grew with the connections open: 1.4 ms with 310 sockets here, and a fifth of the service's
CPU with 100 callers through the real Asterisk (``make bench BENCH="--only asterisk"``). It stays as the fallback
for a kernel without sock_diag.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Final

PROC_TCP = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))

# linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h
NETLINK_SOCK_DIAG: Final = 4
SOCK_DIAG_BY_FAMILY: Final = 20
NLM_F_REQUEST: Final = 1
NLMSG_ERROR: Final = 2
TCP_ESTABLISHED: Final = 1
INET_DIAG_NOCOOKIE: Final = 0xFFFFFFFF
# struct inet_diag_msg: family, state, timer, retrans (4 bytes), the socket id (48), expires, rqueue, wqueue (12),
# then idiag_uid
UID_OFFSET: Final = 4 + 48 + 12


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


def diag_request(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """A SOCK_DIAG_BY_FAMILY request for the one established TCP socket from ``source`` to ``destination``."""
    family = socket.AF_INET6 if ":" in source[0] else socket.AF_INET

    def address(host: str) -> bytes:
        raw = ipaddress.ip_address(host).packed
        return raw + bytes(16 - len(raw))

    sockid = (
        struct.pack("!HH", source[1], destination[1])
        + address(source[0])
        + address(destination[0])
        + struct.pack("=III", 0, INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE)
    )
    body = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_ESTABLISHED) + sockid
    return struct.pack("=IHHII", 16 + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0) + body


def diag_uid(reply: bytes) -> int | None:
    """The uid in the kernel's answer to ``diag_request``; None if it found no such socket (or said no)."""
    if len(reply) < 16:
        return None
    _, kind = struct.unpack_from("=IH", reply)
    if kind != SOCK_DIAG_BY_FAMILY or len(reply) < 16 + UID_OFFSET + 4:
        return None  # NLMSG_ERROR: ENOENT for a socket gone (or never there)
    return int(struct.unpack_from("=I", reply, 16 + UID_OFFSET)[0])


def peer_uid(sock: socket.socket) -> int | None:
    """The uid owning the other end of ``sock``, a loopback TCP connection; None if it cannot be told (not on
    this host, or neither sock_diag nor /proc)."""
    peer = sock.getpeername()[:2]
    ours = sock.getsockname()[:2]
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as netlink:
            netlink.settimeout(1.0)
            # the peer's socket: from its end (our remote end) to ours
            netlink.send(diag_request((peer[0], peer[1]), (ours[0], ours[1])))
            return diag_uid(netlink.recv(8192))
    except OSError:
        pass  # no sock_diag here: the slow way
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
