"""Who owns the peer's socket (callcenter/agi/peers.py): the kernel's sock_diag answer, and /proc as the fallback."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from callcenter.agi import peers


@contextmanager
def accepted(connect_as: str | None = None) -> Iterator[tuple[socket.socket, subprocess.Popen[bytes] | None]]:
    """A loopback connection accepted here: from this process, or from a child running as ``connect_as``."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(10)  # a child that could not connect fails the test instead of hanging it
        port = server.getsockname()[1]
        child = None
        client = None
        if connect_as is None:
            client = socket.create_connection(("127.0.0.1", port))
        else:
            script = f"import socket, sys; s = socket.create_connection(('127.0.0.1', {port})); sys.stdin.read()"
            # Debian's python: the virtualenv, under root's checkout, is not for other users to run
            child = subprocess.Popen(["runuser", "-u", connect_as, "--", "/usr/bin/python3", "-c", script],
                                     stdin=subprocess.PIPE)  # fmt: skip
        conn, _ = server.accept()
        try:
            yield conn, child
        finally:
            conn.close()
            if client is not None:
                client.close()
            if child is not None:
                assert child.stdin is not None
                child.stdin.close()
                child.wait(10)


def test_the_peer_socket_of_this_process_is_ours() -> None:
    with accepted() as (conn, _):
        assert peers.peer_uid(conn) == os.getuid()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another user (CI runs as root)")
def test_a_peer_of_another_user_is_that_user_by_sock_diag_and_by_proc_alike() -> None:
    nobody = int(subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True, check=True).stdout)
    with accepted("nobody") as (conn, _):
        assert peers.peer_uid(conn) == nobody
        peer, ours = conn.getpeername()[:2], conn.getsockname()[:2]
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
        assert peers.owner_uid(lines, peer, ours) == nobody


def test_a_socket_the_kernel_does_not_know_is_nobodys() -> None:
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, peers.NETLINK_SOCK_DIAG) as netlink:
        netlink.send(peers.diag_request(("127.0.0.1", 1), ("127.0.0.1", 2)))
        reply = netlink.recv(8192)
    assert struct.unpack_from("=H", reply, 4)[0] == peers.NLMSG_ERROR
    assert peers.diag_uid(reply) is None
    assert peers.diag_uid(b"") is None
