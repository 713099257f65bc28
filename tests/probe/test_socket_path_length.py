"""A Unix socket path holds at most 107 bytes. A service whose
``$XDG_RUNTIME_DIR`` is deeper than that still starts, with its discovery socket
where a dashboard looks; an explicit path that long is refused in words; a path
that just fits is served."""

from __future__ import annotations

import os
import socket
import tempfile

import pytest

from memdash import probe
from memdash.probe import discovery
from memdash.probe.errors import ProbeError


def _private_dir_of_length(base: str, total: int, tail: str) -> str:
    """A 0700 directory under ``base`` such that ``<dir>/<tail>`` is ``total`` bytes long."""
    pad = total - len(base) - 2 - len(tail)
    assert pad > 0, (base, total, tail)
    path = os.path.join(base, "d" * pad)
    os.mkdir(path, 0o700)
    assert len(os.path.join(path, tail)) == total
    return path


def test_a_runtime_dir_too_deep_for_a_socket_falls_back_and_is_still_discovered(
        runtime_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = _private_dir_of_length(runtime_dir, 100, "memdash")
    monkeypatch.setenv("XDG_RUNTIME_DIR", deep)
    with probe.serve(port=None, unix_socket=True) as handle:
        path = handle.socket_path
        assert path == os.path.join("/tmp", f"memdash-{os.geteuid()}", f"{os.getpid()}.sock")
        assert (os.getpid(), path) in discovery.find_sockets()  # the dashboard's side finds it
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(10)
        try:
            client.connect(path)
            client.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
        finally:
            client.close()
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert f'"pid":{os.getpid()}'.encode() in answer.replace(b" ", b"")
    assert not os.path.exists(path)


def test_a_runtime_dir_that_fits_is_used(runtime_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The longest pid's name must fit: "<dir>/memdash/4194304.sock" at exactly 107 bytes.
    fits = _private_dir_of_length(runtime_dir, 107, os.path.join("memdash", "4194304.sock"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", fits)
    assert discovery.socket_dir() == os.path.join(fits, "memdash")
    with probe.serve(port=None, unix_socket=True) as handle:
        assert handle.socket_path == os.path.join(fits, "memdash", f"{os.getpid()}.sock")
        assert (os.getpid(), handle.socket_path) in discovery.find_sockets()


def test_a_runtime_dir_one_byte_too_deep_is_passed_over(runtime_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # "<dir>/memdash/4194304.sock" at 108 bytes: the largest pid's socket would not fit.
    deep = _private_dir_of_length(runtime_dir, 108, os.path.join("memdash", "4194304.sock"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", deep)
    assert discovery.socket_dir(create=False) == os.path.join("/tmp", f"memdash-{os.geteuid()}")


def test_an_explicit_path_that_just_fits_is_served_and_one_byte_more_is_refused_in_words() -> None:
    base = tempfile.mkdtemp(prefix="mdl-", dir="/tmp")
    try:
        exact = os.path.join(_private_dir_of_length(base, 107, "p.sock"), "p.sock")
        with probe.serve(port=None, unix_socket=exact) as handle:
            assert handle.socket_path == exact
            assert os.path.exists(exact)
            # Only the socket is left in the directory: no staging name behind.
            assert os.listdir(os.path.dirname(exact)) == ["p.sock"]
        over = exact[:-len("p.sock")] + "pp.sock"
        with pytest.raises(ProbeError, match="too long for a Unix socket path"):
            probe.serve(port=None, unix_socket=over)
        assert not os.path.exists(over)
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
