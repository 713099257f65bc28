"""Discovery reads a pid from each socket's name, whatever its number of digits,
and trusts no directory it cannot see."""

from __future__ import annotations

import os
import socket

from memdash.probe import discovery


def test_a_listening_socket_is_found_under_its_pid_of_any_length(runtime_dir: str) -> None:
    directory = discovery.socket_dir()
    socks = []
    try:
        for pid in (1, os.getpid()):  # init (one digit) and this process: both alive
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(os.path.join(directory, f"{pid}{discovery.SUFFIX}"))
            s.listen(1)
            socks.append(s)
        found = discovery.find_sockets()
        assert found == sorted([(1, os.path.join(directory, f"1{discovery.SUFFIX}")),
                                (os.getpid(), os.path.join(directory, f"{os.getpid()}{discovery.SUFFIX}"))])
    finally:
        for s in socks:
            s.close()


def test_a_directory_that_cannot_be_seen_is_not_private(tmp_path) -> None:
    assert discovery.is_private(str(tmp_path / "gone" / "x.sock")) is False
    os.chmod(tmp_path, 0o700)
    assert discovery.is_private(str(tmp_path / "x.sock")) is True
