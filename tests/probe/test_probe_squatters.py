"""Another local user squats where the probe puts its sockets: the host service
still starts and answers, and the probe never deletes what it did not make.

The squatter is a real second Unix user (created with ``useradd`` when we run as
root, removed afterwards). The ``/tmp/memdash-<uid>`` cases run the service in a
private mount namespace with its own empty ``/tmp`` (``unshare``), so they never
touch this machine's real ``/tmp/memdash-0`` nor race other test runs for it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
from typing import Iterator, NamedTuple

import httpx
import pytest

import memdash.probe as probe
from memdash.probe.discovery import find_sockets, socket_dir
from memdash.probe.errors import ProbeError
from probe_helpers import AUTH, PYTHON, TOKEN, child_env, read_line, stop_child

HERE = os.path.dirname(os.path.abspath(__file__))


class User(NamedTuple):
    name: str
    uid: int
    gid: int


@pytest.fixture(scope="module")
def squatter() -> Iterator[User]:
    """A real second Unix user, created for these tests and removed after them."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a second Unix user with useradd")
    if shutil.which("useradd") is None or shutil.which("userdel") is None:
        pytest.skip("useradd/userdel are not installed")
    import pwd

    name = f"mdsq{os.getpid() % 1_000_000}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True, timeout=60)
    try:
        entry = pwd.getpwnam(name)
        yield User(name, entry.pw_uid, entry.pw_gid)
    finally:
        subprocess.run(["userdel", name], capture_output=True, timeout=60)


def as_user(user: User, *argv: str) -> list[str]:
    """``argv`` run as ``user`` (setpriv: no PAM, no login shell needed)."""
    return ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", "--", *argv]


def _own(path: str) -> tuple[int, int, int]:
    st = os.lstat(path)
    return st.st_uid, stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode)


# -- $XDG_RUNTIME_DIR/memdash held by someone else: in-process ----------------------------------

@pytest.fixture
def squatted_runtime_dir(runtime_dir: str, squatter: User) -> str:
    """``$XDG_RUNTIME_DIR/memdash`` is the other user's (as if it had been left behind)."""
    path = os.path.join(runtime_dir, "memdash")
    subprocess.run(as_user(squatter, "mkdir", "-m", "0700", path), check=False, timeout=30)
    if not os.path.isdir(path):  # our runtime dir is 0700, so root makes it and hands it over
        os.mkdir(path, 0o700)
        os.chown(path, squatter.uid, squatter.gid)
    assert os.lstat(path).st_uid == squatter.uid
    return path


def test_serve_runs_without_the_socket_and_warns_once(squatted_runtime_dir, squatter, caplog):
    caplog.set_level(logging.WARNING, logger="memdash.probe")
    with probe.serve(unix_socket=True) as handle:
        assert handle.socket_path is None
        assert httpx.get(handle.url).json()["pid"] == os.getpid()  # TCP still serves
        with probe.serve(unix_socket=True) as second:
            assert second.socket_path is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "running without the discovery socket" in warnings[0] and f"uid {squatter.uid}" in warnings[0]
    assert _own(squatted_runtime_dir)[0] == squatter.uid  # left as it was
    assert find_sockets() == []  # and nothing in it is trusted


def test_serve_socket_only_still_returns_a_handle(squatted_runtime_dir):
    with probe.serve(port=None, unix_socket=True) as handle:
        assert handle.socket_path is None and handle.url is None and repr(handle)


@pytest.fixture
def prefork_reset(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """prefork=True is remembered process-wide: undo it after the test."""
    from memdash.probe import prefork

    monkeypatch.setattr(prefork, "_wanted", None)
    monkeypatch.setattr(prefork, "_worker_server", None)
    yield
    server = prefork._worker_server
    if server is not None:
        server.stop()


def test_front_ends_are_created_in_a_worker_whose_socket_dir_is_squatted(squatted_runtime_dir, prefork_reset,
                                                                        caplog):
    caplog.set_level(logging.WARNING, logger="memdash.probe")
    bp = probe.flask_blueprint(token=TOKEN, prefork=True, name="squatted")
    app = probe.wsgi_app(token=TOKEN, prefork=True)
    asgi = probe.asgi_app(token=TOKEN, prefork=True)
    assert bp.core.prefork_active() and app.core.prefork_active() and asgi.core.prefork_active()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "running without the discovery socket" in warnings[0]


def test_runtime_dir_of_another_user_or_open_to_all_is_not_used(runtime_dir, squatter, monkeypatch, tmp_path):
    fallback = f"/tmp/memdash-{os.geteuid()}"
    os.chown(runtime_dir, squatter.uid, squatter.gid)
    assert socket_dir(create=False) == fallback
    os.chown(runtime_dir, 0, 0)
    os.chmod(runtime_dir, 0o755)
    assert socket_dir(create=False) == fallback
    os.chmod(runtime_dir, 0o700)
    assert socket_dir(create=False) == os.path.join(runtime_dir, "memdash")
    monkeypatch.setenv("XDG_RUNTIME_DIR", os.path.relpath(runtime_dir))
    assert socket_dir(create=False) == fallback


# -- an explicit unix_socket=PATH: only a stale socket of ours is ever removed ----------------

def test_a_regular_file_at_the_path_is_refused_and_kept(tmp_path):
    path = tmp_path / "important.conf"
    path.write_text("keep me\n")
    with pytest.raises(ProbeError, match="is a regular file, not a socket; refusing"):
        probe.serve(port=None, unix_socket=str(path))
    assert path.read_text() == "keep me\n"


def test_a_directory_at_the_path_is_refused(tmp_path):
    path = tmp_path / "d"
    path.mkdir()
    (path / "x").write_text("x")
    with pytest.raises(ProbeError, match="is a directory, not a socket"):
        probe.serve(port=None, unix_socket=str(path))
    assert (path / "x").read_text() == "x"


def test_a_symlink_at_the_path_is_refused_and_its_target_kept(tmp_path):
    target = tmp_path / "target"
    target.write_text("t")
    link = tmp_path / "probe.sock"
    link.symlink_to(target)
    with pytest.raises(ProbeError, match="is a symlink, not a socket"):
        probe.serve(port=None, unix_socket=str(link))
    assert link.is_symlink() and target.read_text() == "t"


def test_another_users_socket_is_refused(tmp_path, squatter):
    path = str(tmp_path / "theirs.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    os.chown(path, squatter.uid, squatter.gid)
    with pytest.raises(ProbeError, match=f"socket of uid {squatter.uid}, not ours"):
        probe.serve(port=None, unix_socket=path)
    assert _own(path)[:2] == (squatter.uid, stat.S_IFSOCK)


def test_a_stale_socket_of_ours_is_replaced(tmp_path):
    path = str(tmp_path / "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # nobody listens: what a killed probe leaves
    with probe.serve(port=None, unix_socket=path, token=TOKEN) as handle:
        transport = httpx.HTTPTransport(uds=path)
        with httpx.Client(transport=transport, headers=AUTH) as client:
            assert client.get("http://localhost/").json()["pid"] == os.getpid()
        with pytest.raises(ProbeError, match="already listens"):
            probe.serve(port=None, unix_socket=path)
        assert handle.socket_path == path


def test_refusals_show_control_characters_escaped(tmp_path):
    path = tmp_path / "a\x1b]2;owned\x07b"
    path.write_text("x")
    with pytest.raises(ProbeError) as info:
        probe.serve(port=None, unix_socket=str(path))
    assert "\x1b" not in info.value.message and "\x07" not in info.value.message
    assert "a\\x1b]2;owned\\x07b" in info.value.message


# -- /tmp/memdash-<uid> squatted, in a private /tmp: a real gunicorn and a real worker ---------

@pytest.fixture(scope="module")
def private_tmp() -> None:
    probe_ns = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               "mount -t tmpfs -o mode=1777 tmpfs /tmp"], capture_output=True, timeout=30)
    if probe_ns.returncode != 0:
        pytest.skip(f"cannot make a private /tmp with unshare: {probe_ns.stderr.decode(errors='replace')[:200]}")


#: How the squatter occupies /tmp/memdash-<uid> (uid 0: we run as root): shell run as the squatter.
SQUATS = {
    "their-dir": "mkdir -m 0700 {d}",
    "their-open-dir": "mkdir -m 0777 {d}",
    "symlink-to-their-dir": "mkdir -m 0700 /tmp/theirs && ln -s /tmp/theirs {d}",
    "file": "echo squat > {d}",
}


def _in_private_tmp(squatter: User, squat: str | None, argv: list[str], runtime: str) -> list[str]:
    """``argv`` run in a new mount namespace whose /tmp is empty, after the
    squatter took /tmp/memdash-<uid> there; $XDG_RUNTIME_DIR is theirs too, so
    the probe must fall back to /tmp."""
    d = f"/tmp/memdash-{os.geteuid()}"
    steps = ["mount -t tmpfs -o mode=1777 tmpfs /tmp",
             f"mkdir -m 0700 {runtime} && chown {squatter.uid}:{squatter.gid} {runtime}"]
    if squat:
        steps.append(" ".join(as_user(squatter, "sh", "-c", f"'{SQUATS[squat].format(d=d)}'")))
    script = " && ".join(steps) + ' && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *argv]


@pytest.mark.parametrize("squat", sorted(SQUATS))
def test_worker_with_serve_unix_socket_starts_and_answers(private_tmp, squatter, squat):
    code = ("import logging, os, sys, time\n"
            "logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s %(message)s')\n"
            "import memdash.probe as p\n"
            "h = p.serve(unix_socket=True)\n"
            "print(h.url, h.socket_path, flush=True)\n"
            "time.sleep(60)\n")
    runtime = "/tmp/xdg-theirs"
    argv = _in_private_tmp(squatter, squat, [PYTHON, "-c", code], runtime)
    proc = subprocess.Popen(argv, env=child_env(runtime), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url, socket_path = read_line(proc).split()
        assert socket_path == "None"
        assert httpx.get(url).json()["pid"] == proc.pid
        d = f"/proc/{proc.pid}/root/tmp/memdash-{os.geteuid()}"  # the child's /tmp, seen from here
        assert os.lstat(d).st_uid == squatter.uid  # untouched
    finally:
        stop_child_and_stderr = _stop(proc)
    warnings = [line for line in stop_child_and_stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "running without the discovery socket" in warnings[0], stop_child_and_stderr


def test_worker_falls_back_to_tmp_when_the_runtime_dir_is_not_ours(private_tmp, squatter):
    code = ("import memdash.probe as p, time\n"
            "h = p.serve(unix_socket=True)\n"
            "print(h.url, h.socket_path, flush=True)\n"
            "time.sleep(60)\n")
    argv = _in_private_tmp(squatter, None, [PYTHON, "-c", code], "/tmp/xdg-theirs")
    proc = subprocess.Popen(argv, env=child_env("/tmp/xdg-theirs"), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url, socket_path = read_line(proc).split()
        assert socket_path == f"/tmp/memdash-{os.geteuid()}/{proc.pid}.sock"
        seen = f"/proc/{proc.pid}/root{socket_path}"
        uid, kind, mode = _own(seen)
        assert (uid, kind, mode) == (os.geteuid(), stat.S_IFSOCK, 0o600)
        assert _own(os.path.dirname(seen)) == (os.geteuid(), stat.S_IFDIR, 0o700)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.terminate()
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=5)
    return err or ""


@pytest.mark.parametrize("squat", ["their-dir", "symlink-to-their-dir"])
def test_gunicorn_with_the_flask_blueprint_boots_and_answers(private_tmp, squatter, squat, tmp_path):
    log = tmp_path / "gunicorn.log"
    runtime = "/tmp/xdg-theirs"
    argv = _in_private_tmp(squatter, squat, [
        PYTHON, "-m", "gunicorn", "--workers", "2", "--bind", "127.0.0.1:0", "--chdir", HERE,
        "--log-level", "info", "--graceful-timeout", "5", "gunicorn_app:app"], runtime)
    env = child_env(runtime, MEMDASH_PROBE_TOKEN=TOKEN, MEMDASH_PROBE_MIN_INTERVAL="0")
    with open(log, "w") as err:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            m = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read_text())
            url = m.group(1) if m else time.sleep(0.1)
        assert url, log.read_text()[-3000:]
        with httpx.Client(headers=AUTH) as client:
            assert client.get(url + "/").text == "ok"
            r = client.get(url + "/memdash/")
            assert r.status_code == 200, r.text
            assert r.json()["prefork"] is True  # a worker that answers for itself
        deadline = time.monotonic() + 30
        while log.read_text().count("running without the discovery socket") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # the other worker may still be loading the app
        text = log.read_text()
        workers = [int(p) for p in re.findall(r"Booting worker with pid: (\d+)", text)]
        assert len(workers) == 2 and r.json()["pid"] in workers
        assert all(os.path.exists(f"/proc/{pid}") for pid in workers)  # both booted and stay up
        assert "Worker failed to boot" not in text and "Traceback" not in text
        assert text.count("running without the discovery socket") == 2, text[-3000:]  # one per worker
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        stop_child(proc)
