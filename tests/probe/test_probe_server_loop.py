"""The standalone server's loop as a client sees it: HEAD answers, absolute-form
targets, IPv6, which deadline applies to which connection, lingering after an
error, hosts without ``select.poll``, and nothing left open after ``stop()``.

Real sockets on loopback throughout; waits are bounded polls, never upper
bounds on how long something took.
"""

from __future__ import annotations

import json
import os
import select
import socket
import threading
import time
from typing import Iterator

import httpx
import pytest

import memdash.probe as probe
import memdash.probe.server as probe_server
from probe_helpers import AUTH, TOKEN


def _connect(handle: probe_server.ProbeServer, timeout: float = 10.0) -> socket.socket:
    if handle.port is not None:
        family = socket.AF_INET6 if handle.host and ":" in handle.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect((handle.host, handle.port))
        return sock
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(handle.socket_path)
    return sock


def _request(method: str, path: str, *extra: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", *extra]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Reader:
    """Reads answers off a raw socket, exactly as framed by Content-Length (no
    knowledge of HEAD: a HEAD answer that carried a body would show as garbage
    in front of the next answer)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self.buf:
            assert self._fill(), f"closed mid-head: {self.buf[:200]!r}"
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.1 "), lines[0]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        return int(lines[0].split()[1]), headers

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        status, headers = self.head()
        length = int(headers["content-length"])
        while len(self.buf) < length:
            assert self._fill(), "closed mid-body"
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, headers, body

    def closed(self) -> bool:
        try:
            return not self.buf and not self._fill()
        except ConnectionResetError:
            return True


def _wait_until(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def server() -> Iterator[probe_server.ProbeServer]:
    with probe.serve(token=TOKEN, min_interval=0) as handle:
        yield handle


# --------------------------------------------------------------------------- what comes back


def test_head_gets_the_get_headers_and_no_body(server: probe_server.ProbeServer) -> None:
    auth = f"Authorization: Bearer {TOKEN}"
    with _connect(server) as sock:
        sock.sendall(_request("GET", "/", auth))
        reader = _Reader(sock)
        status, headers, body = reader.answer()
        assert status == 200 and json.loads(body)["pid"] == os.getpid()
        # HEADs then a GET pipelined: each HEAD answer is a head alone, even an
        # error's (whose GET would carry a JSON body), so the next status line
        # follows it directly
        sock.sendall(_request("HEAD", "/nope", auth) + _request("HEAD", "/", "Authorization: Bearer wrong")
                     + _request("HEAD", "/metrics", auth) + _request("GET", "/nope", auth))
        assert reader.head()[0] == 404
        assert reader.head()[0] == 401
        assert reader.head()[0] == 200
        status, headers, body = reader.answer()
        assert status == 404 and json.loads(body)["status"] == 404
        assert int(headers["content-length"]) == len(body) > 0


def test_an_absolute_form_target_reaches_the_same_route(server: probe_server.ProbeServer) -> None:
    auth = f"Authorization: Bearer {TOKEN}"
    base = f"http://127.0.0.1:{server.port}"
    with _connect(server) as sock:
        reader = _Reader(sock)
        sock.sendall(_request("POST", f"{base}/cleanup/caches", auth))
        status, _, body = reader.answer()
        assert status == 200 and json.loads(body)["action"] == "caches"
        sock.sendall(_request("GET", f"{base}/metrics?x=1", auth))
        status, headers, body = reader.answer()
        assert status == 200 and b"process_resident_memory_bytes" in body
        sock.sendall(_request("GET", base, auth))  # no path at all: the root
        status, _, body = reader.answer()
        assert status == 200 and json.loads(body)["pid"] == os.getpid()


def test_ipv6_loopback_url_is_usable() -> None:
    try:
        handle = probe.serve(host="::1")
    except OSError as exc:
        pytest.skip(f"cannot bind ::1 here: {exc}")
    with handle:
        assert handle.url == f"http://[::1]:{handle.port}/"
        r = httpx.get(handle.url, timeout=10)
        assert r.status_code == 200 and r.json()["pid"] == os.getpid()


def _probe_threads() -> int:
    return [t.name for t in threading.enumerate()].count("memdash-probe")


def test_the_one_thread_is_named_and_repr_says_running_then_stopped() -> None:
    before = _probe_threads()  # another test's server may still be winding down: count, do not assume none
    handle = probe.serve()
    try:
        assert _probe_threads() == before + 1  # what py-spy or a thread dump of the host shows
        assert repr(handle) == f"<ProbeServer {handle.url} running>"
    finally:
        handle.stop()
    assert repr(handle) == f"<ProbeServer {handle.url} stopped>"
    assert _wait_until(lambda: _probe_threads() <= before)


# --------------------------------------------------------------------------- deadlines


def test_a_half_sent_request_is_dropped_at_the_request_deadline_an_idle_one_is_kept(monkeypatch) -> None:
    monkeypatch.setattr(probe_server, "REQUEST_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(probe_server, "IDLE_TIMEOUT_SECONDS", 600.0)
    with probe.serve() as handle:
        with _connect(handle) as idle, _connect(handle) as slow:
            idle.sendall(_request("GET", "/"))
            idle_reader = _Reader(idle)
            assert idle_reader.answer()[0] == 200
            slow.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")  # never finished
            assert _Reader(slow).closed()  # dropped by the server
            time.sleep(1.5)  # three request deadlines: the idle connection is no request
            idle.sendall(_request("GET", "/"))
            assert idle_reader.answer()[0] == 200
        assert _wait_until(lambda: handle.connections == 0)


def test_an_idle_connection_is_dropped_at_the_idle_deadline_a_slow_request_is_not(monkeypatch) -> None:
    monkeypatch.setattr(probe_server, "IDLE_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(probe_server, "REQUEST_TIMEOUT_SECONDS", 600.0)
    with probe.serve() as handle:
        with _connect(handle) as idle, _connect(handle) as slow:
            idle.sendall(_request("GET", "/"))
            idle_reader = _Reader(idle)
            assert idle_reader.answer()[0] == 200
            slow.sendall(b"GET / HTTP/1.1\r\n")
            assert idle_reader.closed()
            time.sleep(1.5)  # three idle deadlines: a request on its way is not idle
            slow.sendall(b"Host: localhost\r\n\r\n")
            status, headers, _ = _Reader(slow).answer()
            assert status == 200 and headers["keep-alive"] == "timeout=1"  # 0.5 s rounds up to 1


def test_after_an_error_the_server_lets_go_as_soon_as_the_client_does(monkeypatch) -> None:
    """Closing after a 413 lingers to drain what the client still sends; once
    the client closes its side, the connection goes (not at the 10-minute mark)."""
    monkeypatch.setattr(probe_server, "CLIENT_TIMEOUT_SECONDS", 600.0)
    with probe.serve(token=TOKEN, min_interval=0) as handle:
        with _connect(handle) as sock:
            sock.sendall(b"POST /cleanup/gc HTTP/1.1\r\nHost: localhost\r\nContent-Length: 70000\r\n\r\n"
                         + b"x" * 1000)
            reader = _Reader(sock)
            status, headers, _ = reader.answer()
            assert (status, headers["connection"]) == (413, "close")
            assert reader.closed()  # the server's FIN
            assert handle.connections == 1  # still draining our body
        assert _wait_until(lambda: handle.connections == 0)
        assert httpx.get(handle.url, headers=AUTH, timeout=10).status_code == 200


def test_a_lingering_connection_goes_once_it_drained_the_limit(monkeypatch) -> None:
    monkeypatch.setattr(probe_server, "CLIENT_TIMEOUT_SECONDS", 600.0)
    monkeypatch.setattr(probe_server, "DRAIN_LIMIT_BYTES", 4096)
    with probe.serve(token=TOKEN) as handle:
        with _connect(handle) as sock:
            sock.sendall(b"POST /cleanup/gc HTTP/1.1\r\nHost: localhost\r\nContent-Length: 700000\r\n\r\n")
            reader = _Reader(sock)
            assert reader.answer()[0] == 413
            try:  # keep sending past the drain limit, our side stays open
                for _ in range(8):
                    sock.sendall(b"y" * 1024)
            except OSError:
                pass  # a reset once the server closed: what the limit is for
            assert _wait_until(lambda: handle.connections == 0)


# --------------------------------------------------------------------------- platforms, lifecycle


def test_without_select_poll_the_select_fallback_serves(monkeypatch) -> None:
    """Where ``select.poll`` is missing (macOS builds, some sandboxes) the loop
    runs on ``select.select``: keep-alive, pipelining and slow readers work."""
    monkeypatch.delattr(select, "poll")
    with probe.serve(token=TOKEN, min_interval=0) as handle:
        assert isinstance(handle._poller, probe_server._SelectPoll)
        with _connect(handle) as sock:
            auth = f"Authorization: Bearer {TOKEN}"
            sock.sendall(b"".join(_request("GET", p, auth) for p in ("/", "/metrics", "/nope") * 50))
            reader = _Reader(sock)
            statuses = [reader.answer()[0] for _ in range(150)]
            assert statuses == [200, 200, 404] * 50
            sock.sendall(_request("POST", "/cleanup/caches", auth))
            status, _, body = reader.answer()
            assert status == 200 and json.loads(body)["action"] == "caches"
        assert httpx.get(handle.url, headers=AUTH, timeout=10).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(handle.url, timeout=5)


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_stop_releases_every_descriptor(runtime_dir: str) -> None:
    """An embedded probe started and stopped many times (a test suite, a reload)
    leaks no file descriptor: sockets, connections and the wake-up pipe."""
    handle = probe.serve(unix_socket=True)
    handle.stop()  # warm-up: lazy imports, logging handlers
    before = _open_fds()
    for _ in range(20):
        handle = probe.serve(unix_socket=True)
        with _connect(handle) as sock:
            sock.sendall(_request("GET", "/"))
            assert _Reader(sock).answer()[0] == 200
            handle.stop()
        assert not os.path.exists(handle.socket_path)
    assert _wait_until(lambda: len(_open_fds() - before) == 0, timeout=10), sorted(_open_fds() - before)


def test_serve_worker_socket_answers_for_this_process(runtime_dir: str) -> None:
    from memdash.probe.unixserver import serve_worker_socket

    handle = serve_worker_socket()
    assert handle is not None
    try:
        assert handle.url == f"unix:{handle.socket_path}" and handle.port is None
        assert os.path.dirname(handle.socket_path) == os.path.join(runtime_dir, "memdash")
        with _connect(handle) as sock:
            sock.sendall(_request("GET", "/") + _request("POST", "/cleanup/caches"))
            reader = _Reader(sock)
            status, _, body = reader.answer()
            assert status == 200 and json.loads(body)["pid"] == os.getpid()
            assert reader.answer()[0] == 200  # private socket, same uid: no token needed
    finally:
        handle.stop()
    assert not os.path.exists(handle.socket_path)


def test_a_client_still_sending_after_an_error_reads_the_answer_not_a_reset(monkeypatch) -> None:
    """The server lingers after a 413: it reads and drops what the client is still
    sending, so the client's send does not fail and the answer is there to read."""
    monkeypatch.setattr(probe_server, "CLIENT_TIMEOUT_SECONDS", 60.0)
    with probe.serve(token=TOKEN) as handle:
        with _connect(handle) as sock:
            sock.sendall(b"POST /cleanup/gc HTTP/1.1\r\nHost: localhost\r\nContent-Length: 70000\r\n\r\n")
            deadline = time.monotonic() + 2.5  # past two sweeps of the loop's timers
            while time.monotonic() < deadline:
                sock.sendall(b"z" * 1024)  # raises if the server reset the connection
                time.sleep(0.05)
            reader = _Reader(sock)
            status, headers, body = reader.answer()
            assert (status, headers["connection"]) == (413, "close") and json.loads(body)["status"] == 413
            assert handle.connections == 1  # still draining
        assert _wait_until(lambda: handle.connections == 0)


def test_a_client_that_stays_silent_after_an_error_is_let_go(monkeypatch) -> None:
    monkeypatch.setattr(probe_server, "CLIENT_TIMEOUT_SECONDS", 0.5)
    with probe.serve(token=TOKEN) as handle:
        with _connect(handle) as sock:
            sock.sendall(b"POST /cleanup/gc HTTP/1.1\r\nHost: localhost\r\nContent-Length: 70000\r\n\r\nabc")
            reader = _Reader(sock)
            assert reader.answer()[0] == 413
            assert _wait_until(lambda: handle.connections == 0)  # neither closing nor sending: dropped
            assert reader.closed()
            assert httpx.get(handle.url, headers=AUTH, timeout=10).status_code == 200  # the loop lives on


def test_a_client_that_takes_none_of_its_answers_is_dropped(monkeypatch) -> None:
    """Pipelined requests whose answers the client never reads: once the socket
    is full and nothing moves for CLIENT_TIMEOUT_SECONDS, the connection goes
    (its buffers freed); other clients are served all along."""
    accept = probe_server._Listener.accept

    def small_send_buffer(self):  # type: ignore[no-untyped-def]
        accepted = accept(self)
        if accepted is not None:
            accepted[0].setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        return accepted

    monkeypatch.setattr(probe_server._Listener, "accept", small_send_buffer)
    monkeypatch.setattr(probe_server, "CLIENT_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(probe_server, "IDLE_TIMEOUT_SECONDS", 600.0)
    monkeypatch.setattr(probe_server, "REQUEST_TIMEOUT_SECONDS", 600.0)
    with probe.serve() as handle:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", handle.port))
        with sock:
            sock.sendall(b"".join(_request("GET", "/metrics") for _ in range(200)))
            assert httpx.get(handle.url, timeout=10).status_code == 200
            assert _wait_until(lambda: handle.connections == 0)
            got = b""
            try:
                while chunk := sock.recv(65536):
                    got += chunk
            except ConnectionResetError:
                pass
            assert 0 < got.count(b"HTTP/1.1 200 OK") < 200  # what fitted in the buffers, then the end


HOST_SCRIPT = """
import memdash.probe as probe
srv = probe.serve(unix_socket=True)
print(srv.url, flush=True)
# the host's main code returns without stopping the probe
"""


def test_a_host_that_returns_from_main_exits_with_the_probe_running(runtime_dir: str) -> None:
    """The probe's thread never keeps its host alive: a script that serves the
    probe and ends exits, removing its discovery socket on the way."""
    import subprocess
    import sys

    from probe_helpers import child_env

    proc = subprocess.run([sys.executable, "-c", HOST_SCRIPT],
                          env=child_env(runtime_dir), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("http://127.0.0.1:")
    sock_dir = os.path.join(runtime_dir, "memdash")
    assert not os.path.isdir(sock_dir) or os.listdir(sock_dir) == []
