"""memdash.sources.sockets: who listens where, read from /proc against real listening children."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from memdash.sources.sockets import owners, tcp_listening_inodes, unix_listening_inodes

CHILD = r"""
import socket, sys, time
family, where = sys.argv[1], sys.argv[2]
if family == "unix":
    s = socket.socket(socket.AF_UNIX); s.bind(where)
elif family == "tcp6":
    s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))
else:
    s = socket.socket(); s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1] if family != "unix" else "ready", flush=True)
time.sleep(60)
"""


def _child(family: str, where: str = "-"):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, family, where], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    return proc, line


@pytest.mark.parametrize("family", ["tcp", "tcp6"])
def test_tcp_listener_found_among_candidates(family):
    if family == "tcp6" and not socket.has_ipv6:
        pytest.skip("no IPv6 on this box")
    proc, port = _child(family)
    try:
        if not port.isdigit():
            pytest.skip(f"could not listen on {family}: {port!r}")
        inodes = tcp_listening_inodes(int(port))
        assert inodes
        # The candidates include memdash's own pid, which does not hold the socket.
        assert owners(inodes, [os.getpid(), proc.pid, 999_999_999]) == [proc.pid]
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_unix_listener_found_and_a_closed_port_owned_by_nobody(tmp_path):
    path = str(tmp_path / "app.sock")
    proc, line = _child("unix", path)
    try:
        assert line == "ready"
        inodes = unix_listening_inodes(path)
        assert inodes
        assert owners(inodes, [proc.pid]) == [proc.pid]
        assert unix_listening_inodes(str(tmp_path / "other.sock")) == set()
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]  # bound, never listening
        assert tcp_listening_inodes(free) == set()


def test_one_table_read_answers_every_port_and_holders_find_each_owner_in_order():
    """What the engine's join reads once per refresh for all its targets."""
    from memdash.sources.sockets import Holders, tcp_listeners

    a, port_a = _child("tcp")
    b, port_b = _child("tcp")
    try:
        table = tcp_listeners("tcp")
        assert table[int(port_a)] and table[int(port_b)]
        assert table[int(port_a)].isdisjoint(table[int(port_b)])
        assert table[int(port_a)] == tcp_listening_inodes(int(port_a))
        holders = Holders([os.getpid(), b.pid, a.pid, 999_999_999])
        assert holders.first(table[int(port_a)]) == a.pid
        assert holders.first(table[int(port_b)]) == b.pid  # answered from what was read already
        assert holders.first({123_456_789_012}) is None  # no one: every candidate read, then none
        assert holders.first(set()) is None
    finally:
        for p in (a, b):
            p.kill()
            p.wait()
            p.stdout.close()
