"""What a dashboard finds in the discovery directory, and what it refuses to
trust: only live, listening sockets in a private directory of ours."""

from __future__ import annotations

import os
import socket

import pytest

from memdash import probe
from memdash.probe.discovery import find_sockets, socket_dir


def test_nothing_there_is_nothing_found(runtime_dir: str) -> None:
    assert not os.path.exists(os.path.join(runtime_dir, "memdash"))
    assert find_sockets() == []
    assert not os.path.exists(os.path.join(runtime_dir, "memdash"))  # looking creates nothing


def test_live_sockets_are_found_and_junk_is_skipped_or_removed(runtime_dir: str) -> None:
    with probe.serve(port=None, unix_socket=True, min_interval=0) as handle:
        d = socket_dir()
        # ... and a file that starts like a dead pid but is no socket name.
        junk = [f"note{i}.txt" for i in range(10)] + [f"abc{i}.sock" for i in range(10)] + ["4194302.json"]
        for name in junk:
            open(os.path.join(d, name), "w").close()
        dead = os.path.join(d, "4194303.sock")  # above pid_max's default: no such process
        open(dead, "w").close()
        # a live pid (ours is excluded: the probe's own socket) with a socket nobody listens on
        parent = os.getppid()
        stale = os.path.join(d, f"{parent}.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(stale)  # bound, never listening: connections are refused
        s.close()
        found = find_sockets()
        assert found == [(os.getpid(), handle.socket_path)]
        assert not os.path.exists(dead) and not os.path.exists(stale)  # removed as found
        assert all(os.path.exists(os.path.join(d, n)) for n in junk)    # not ours to delete


@pytest.mark.parametrize("mode", [0o755, 0o770, 0o707])
def test_an_open_directory_is_not_trusted(runtime_dir: str, mode: int) -> None:
    with probe.serve(port=None, unix_socket=True, min_interval=0) as handle:
        os.chmod(os.path.dirname(handle.socket_path), mode)
        assert find_sockets() == []  # anyone could have planted these
        assert os.path.exists(handle.socket_path)  # and nothing in it is touched


def test_only_a_0700_directory_of_ours_is_private(tmp_path) -> None:
    """Privacy is judged when the socket is made: an explicit path in a 0755
    directory is a plain Unix socket (see test_access_control for the table)."""
    from memdash.probe.discovery import is_private

    os.chmod(tmp_path, 0o755)
    assert not is_private(str(tmp_path / "p.sock"))
    os.chmod(tmp_path, 0o700)
    assert is_private(str(tmp_path / "p.sock"))
    if os.geteuid() == 0:
        os.chown(tmp_path, 65534, 65534)
        assert not is_private(str(tmp_path / "p.sock"))
        os.chown(tmp_path, 0, 0)


def test_a_directory_of_another_user_is_not_trusted(runtime_dir: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the directory to another uid")
    with probe.serve(port=None, unix_socket=True, min_interval=0) as handle:
        d = os.path.dirname(handle.socket_path)
        os.chown(d, 65534, 65534)
        try:
            assert find_sockets() == []
        finally:
            os.chown(d, 0, 0)


def test_a_busy_socket_is_alive_not_stale(runtime_dir: str) -> None:
    """A probe too busy to accept (its backlog full) is slow, not gone: keep its socket."""
    d = socket_dir()
    path = os.path.join(d, f"{os.getppid()}.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(0)
    queued = []
    try:
        for _ in range(64):  # fill the backlog without accepting
            c = socket.socket(socket.AF_UNIX)
            c.setblocking(False)
            try:
                c.connect(path)
            except BlockingIOError:
                c.close()
                break
            queued.append(c)
        else:
            pytest.skip("the backlog never filled")
        assert find_sockets() == [(os.getppid(), path)]
        assert os.path.exists(path)
    finally:
        for c in queued:
            c.close()
        listener.close()


def _runtime_dir_kinds(base: str) -> dict[str, str]:
    """``$XDG_RUNTIME_DIR`` values the probe must not use, each made under ``base``."""
    made = {}
    for mode in (0o755, 0o750, 0o701):
        made[f"mode {mode:o}"] = path = os.path.join(base, f"m{mode:o}")
        os.mkdir(path)
        os.chmod(path, mode)
    made["missing"] = os.path.join(base, "missing")
    made["a file"] = path = os.path.join(base, "file")
    open(path, "w").close()
    made["relative"] = "relative-runtime"
    return made


@pytest.mark.parametrize("kind", ["mode 755", "mode 750", "mode 701", "missing", "a file", "relative", "another uid"])
def test_a_runtime_dir_that_is_not_private_is_passed_over(runtime_dir: str, kind: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe and the dashboard use ``$XDG_RUNTIME_DIR/memdash`` only under a
    runtime dir that is an absolute, existing directory of ours closed to others;
    anything else means ``/tmp/memdash-<uid>``, whose own checks then apply."""
    fallback = os.path.join("/tmp", f"memdash-{os.geteuid()}")
    if kind == "another uid":
        if os.geteuid() != 0:
            pytest.skip("needs root to give the directory to another uid")
        path = os.path.join(runtime_dir, "theirs")
        os.mkdir(path, 0o700)
        os.chown(path, 65534, 65534)
    else:
        path = _runtime_dir_kinds(runtime_dir)[kind]
    monkeypatch.setenv("XDG_RUNTIME_DIR", path)
    assert socket_dir(create=False) == fallback
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime_dir)  # the same checks pass a private one
    assert socket_dir(create=False) == os.path.join(runtime_dir, "memdash")
