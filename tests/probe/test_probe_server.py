"""The standalone server (TCP and Unix socket) over real sockets, with httpx."""

from __future__ import annotations

import functools
import gc
import http.client
import json
import logging
import os
import socket
import stat
import subprocess
import time
from typing import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import memdash.probe as probe
import memdash.probe.server as probe_server
from memdash.probe.discovery import socket_dir
from memdash.probe.errors import UnsafeBindError
from probe_helpers import AUTH, PYTHON, ROOT, TOKEN, child_env, read_line, stop_child

HERE = os.path.dirname(os.path.abspath(__file__))
CYCLES = 5000


@pytest.fixture
def server() -> Iterator[probe.server.ProbeServer]:  # type: ignore[name-defined]
    with probe.serve(token=TOKEN, min_interval=0) as handle:
        yield handle


@pytest.fixture
def gc_service(runtime_dir: str) -> Iterator[str]:
    """A child with the GC disabled and CYCLES cycles to collect; its URL."""
    proc = subprocess.Popen([PYTHON, os.path.join(HERE, "gc_service.py"), str(CYCLES)],
                            env=child_env(runtime_dir, MEMDASH_PROBE_TOKEN=TOKEN), cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield read_line(proc)
    finally:
        stop_child(proc)


def gen(snapshot: dict, n: int) -> dict:
    return snapshot["gc"]["generations"][n]


def test_tcp_snapshot_and_handle(server):
    assert server.url == f"http://127.0.0.1:{server.port}/" and server.host == "127.0.0.1"
    r = httpx.get(server.url, headers=AUTH)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["pid"] == os.getpid()
    assert httpx.get(server.url.rstrip("/"), headers=AUTH).status_code == 200


def test_one_thread_only_and_stop_closes():
    import threading

    before = threading.active_count()
    handle = probe.serve()
    assert threading.active_count() == before + 1
    handle.stop()
    assert threading.active_count() == before
    with pytest.raises(httpx.ConnectError):
        httpx.get(handle.url, timeout=2)


def test_unix_socket_private_and_trusted(runtime_dir):
    with probe.serve(port=None, unix_socket=True) as handle:
        path = handle.socket_path
        assert path == os.path.join(runtime_dir, "memdash", f"{os.getpid()}.sock")
        assert handle.url == f"unix:{path}" and handle.port is None
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(socket_dir()).st_mode) == 0o700
        with httpx.Client(transport=httpx.HTTPTransport(uds=path), base_url="http://probe") as client:
            assert client.get("/").json()["pid"] == os.getpid()
            # Over our own private socket, a cleanup needs no token.
            r = client.post("/cleanup/caches")
            assert r.status_code == 200 and r.json()["action"] == "caches"
    assert not os.path.exists(path)  # removed on stop


def test_unix_socket_with_tcp_and_token(runtime_dir):
    with probe.serve(token=TOKEN, unix_socket=True) as handle:
        assert handle.port and handle.socket_path
        assert httpx.get(handle.url).status_code == 401  # TCP: token needed, reads too
        with httpx.Client(transport=httpx.HTTPTransport(uds=handle.socket_path)) as client:
            assert client.get("http://probe/").status_code == 200


def test_explicit_socket_in_a_shared_dir_is_not_trusted(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    path = str(shared / "p.sock")
    with probe.serve(port=None, unix_socket=path, token=TOKEN) as handle:
        with httpx.Client(transport=httpx.HTTPTransport(uds=handle.socket_path)) as client:
            assert client.post("http://probe/cleanup/caches").status_code == 401
            assert client.post("http://probe/cleanup/caches", headers=AUTH).status_code == 200


def test_reads_open_on_loopback_without_token_but_cleanups_refused():
    with probe.serve() as handle:
        assert httpx.get(handle.url).status_code == 200
        r = httpx.post(handle.url + "cleanup/gc")
        assert r.status_code == 403
        assert "token" in r.json()["error"]


def test_proxied_requests_count_as_remote():
    with probe.serve() as handle:
        r = httpx.get(handle.url, headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 403


def test_gc_cleanup_collects_cycles_and_moves_counters(gc_service):
    before = httpx.get(gc_service, headers=AUTH).json()
    assert before["gc"]["enabled"] is False
    r = httpx.post(gc_service + "cleanup/gc", headers=AUTH, timeout=30)
    assert r.status_code == 200, r.text
    receipt = r.json()
    assert receipt["collected"] >= 2 * CYCLES
    assert receipt["tracked_objects_before"] - receipt["tracked_objects_after"] >= 2 * CYCLES
    after = httpx.get(gc_service, headers=AUTH).json()
    top = len(after["gc"]["generations"]) - 1
    assert gen(after, top)["collections"] == gen(before, top)["collections"] + 1
    assert gen(after, top)["collected"] - gen(before, top)["collected"] >= 2 * CYCLES
    assert gen(after, top)["pauses"] == gen(before, top)["pauses"] + 1
    assert gen(after, top)["pause_total_seconds"] > gen(before, top)["pause_total_seconds"]
    assert after["gc"]["pause_last_seconds"] > 0


def test_wrong_or_missing_token_runs_nothing(gc_service):
    before = httpx.get(gc_service, headers=AUTH).json()
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}):
        r = httpx.post(gc_service + "cleanup/gc", headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["status"] == 401
    assert httpx.get(gc_service).status_code == 401  # reads are guarded too
    after = httpx.get(gc_service, headers=AUTH).json()
    for n in range(len(after["gc"]["generations"])):
        assert gen(after, n)["collections"] == gen(before, n)["collections"]


def test_trim_reports_rss_before_and_after(gc_service):
    r = httpx.post(gc_service + "cleanup/trim", headers=AUTH, timeout=30)
    assert r.status_code == 200, r.text
    receipt = r.json()
    assert receipt["steps"][0]["action"] == "trim"
    before, after = receipt["rss_before_bytes"], receipt["rss_after_bytes"]
    assert before > 0 and after > 0
    assert receipt["rss_freed_bytes"] == before - after
    # ~40 MiB of freed 2 KiB chunks sat in glibc's heap: trim gives most back.
    assert before - after > 16 << 20


def test_lru_hits_and_misses_over_http(server):
    @probe.track_cache(name="lookup_user")
    @functools.lru_cache(maxsize=128)
    def lookup_user(uid):
        return {"id": uid}

    for uid in [1, 2, 3, 1, 1, 2, 4]:  # misses 1,2,3,4; hits 1,1,2
        lookup_user(uid)
    (entry,) = httpx.get(server.url, headers=AUTH).json()["caches"]
    assert entry == {"name": "lookup_user", "kind": "lru_cache", "hits": 3, "misses": 4,
                     "hit_rate": pytest.approx(3 / 7), "size": 4, "maxsize": 128}
    r = httpx.post(server.url + "cleanup/caches", headers=AUTH)
    assert r.json()["caches_cleared"] == ["lookup_user"]
    assert lookup_user.cache_info().currsize == 0
    assert httpx.get(server.url, headers=AUTH).json()["caches"][0]["size"] == 0


def test_metrics_parse_with_prometheus_client(server):
    @probe.track_cache(name="prices")
    @functools.lru_cache(maxsize=32)
    def price(n):
        return n

    for n in [1, 1, 1, 2]:
        price(n)
    r = httpx.get(server.url + "metrics", headers=AUTH)
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    assert samples[("memdash_cache_hits_total", (("cache", "prices"),))] == 2
    assert samples[("memdash_cache_misses_total", (("cache", "prices"),))] == 2
    assert samples[("memdash_cache_size", (("cache", "prices"),))] == 2
    assert samples[("memdash_cache_maxsize", (("cache", "prices"),))] == 32
    snap = probe.collect()
    rss = samples[("process_resident_memory_bytes", ())]
    assert abs(rss - snap["memory"]["rss_bytes"]) < 32 << 20
    assert samples[("process_start_time_seconds", ())] == pytest.approx(snap["started_at"])
    for n in range(len(gc.get_stats())):
        key = (("generation", str(n)),)
        assert samples[("python_gc_collections_total", key)] <= gc.get_stats()[n]["collections"]
        assert ("python_gc_objects_collected_total", key) in samples
        assert ("python_gc_objects_uncollectable_total", key) in samples
        assert ("memdash_gc_pause_seconds_total", key) in samples
    info = [k for k in samples if k[0] == "python_info"]
    assert len(info) == 1 and ("version", snap["python"]) in info[0][1]


def test_refuses_non_loopback_without_token():
    with pytest.raises(UnsafeBindError, match="without a token"):
        probe.serve(host="0.0.0.0")
    with pytest.raises(ValueError):
        probe.serve(host="::")


def test_rate_limit_answers_429_with_retry_after():
    with probe.serve(token=TOKEN, min_interval=5.0) as handle:
        assert httpx.post(handle.url + "cleanup/gc", headers=AUTH).status_code == 200
        r = httpx.post(handle.url + "cleanup/gc", headers=AUTH)
        assert r.status_code == 429
        assert 1 <= int(r.headers["retry-after"]) <= 5
        assert 0 < r.json()["retry_after_seconds"] <= 5
        # A young-generation collection walks the heap twice too: limited like the full one.
        assert httpx.post(handle.url + "cleanup/gc?generation=0", headers=AUTH).status_code == 429
        # Nor is another action.
        assert httpx.post(handle.url + "cleanup/caches", headers=AUTH).status_code == 200


def test_errors_are_json_with_the_right_status(server):
    r = httpx.post(server.url + "cleanup/defrag", headers=AUTH)
    assert r.status_code == 404
    assert r.json()["valid_actions"][:2] == ["gc", "caches"] and "all" in r.json()["valid_actions"]
    r = httpx.post(server.url + "cleanup/gc", headers=AUTH, content=b"x" * (64 * 1024 + 1))
    assert r.status_code == 413 and "body" in r.json()["error"]
    r = httpx.get(server.url + "cleanup/gc", headers=AUTH)
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    r = httpx.post(server.url, headers=AUTH)
    assert r.status_code == 405
    assert httpx.get(server.url + "nope", headers=AUTH).status_code == 404
    r = httpx.post(server.url + "cleanup/gc?generation=7", headers=AUTH)
    assert r.status_code == 400 and "generation" in r.json()["error"]
    r = httpx.post(server.url + "cleanup/gc", headers=AUTH, content=b"{not json")
    assert r.status_code == 400
    r = httpx.post(server.url + "cleanup/gc", headers=AUTH, json={"generation": 0})
    assert r.status_code == 200 and r.json()["steps"][0]["generation"] == 0
    r = httpx.post(server.url + "cleanup/cuda", headers=AUTH)
    assert r.status_code == 409 and "cuda" not in r.json()["valid_actions"]
    for resp in (r,):
        assert "Traceback" not in resp.text


def test_token_never_in_logs_or_responses(server, caplog):
    caplog.set_level(logging.DEBUG)
    bodies = []
    for method, path, headers in [
        ("GET", "", AUTH), ("GET", "", {"Authorization": "Bearer wrong"}), ("GET", "metrics", AUTH),
        ("POST", "cleanup/gc", AUTH), ("POST", "cleanup/gc", {"Authorization": f"Bearer {TOKEN}0"}),
        ("POST", "cleanup/nope", AUTH), ("POST", "cleanup/all", AUTH), ("POST", "cleanup/gc?generation=x", AUTH),
    ]:
        r = httpx.request(method, server.url + path, headers=headers)
        bodies.append(r.text + repr(dict(r.headers)))
    assert any("cleanup 'gc'" in m or "cleanup gc" in m for m in caplog.messages)
    assert TOKEN not in caplog.text
    assert not any(TOKEN in b for b in bodies)
    assert TOKEN not in repr(server) and TOKEN not in repr(server._servers[0].core)


def test_cleanup_all_runs_every_step(server):
    @probe.track_cache(name="c")
    @functools.lru_cache
    def c(n):
        return n

    c(1)
    receipt = httpx.post(server.url + "cleanup/all", headers=AUTH).json()
    assert [s["action"] for s in receipt["steps"]] == ["caches", "gc", "trim"]
    assert receipt["caches_cleared"] == ["c"] and receipt["collected"] is not None


# --------------------------------------------------------------------------- HTTP/1.1 keep-alive


def _connect(handle, timeout: float = 5.0) -> socket.socket:
    if handle.port is not None:
        sock = socket.create_connection(("127.0.0.1", handle.port), timeout=timeout)
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(handle.socket_path)
    return sock


class _Responses:
    """Reads HTTP responses (Content-Length framed) off a raw socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def read(self, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            assert self._fill(), f"connection closed mid-head: {self.buf[:200]!r}"
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.1 "), lines[0]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = 0 if head_only else int(headers["content-length"])
        while len(self.buf) < length:
            assert self._fill(), "connection closed mid-body"
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(lines[0].split()[1]), headers, body

    def closed(self) -> bool:
        """True once the server closed the connection (EOF or reset) with nothing more to read."""
        try:
            return not self.buf and not self._fill()
        except ConnectionResetError:
            return True


def _get(path: str = "/", *extra: str, version: str = "HTTP/1.1") -> bytes:
    lines = [f"GET {path} {version}", "Host: localhost", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_pipelined_requests_are_all_answered_on_one_connection():
    with probe.serve() as handle:
        with _connect(handle) as sock:
            sock.sendall(_get("/") + _get("/metrics") + _get("/nope"))
            reader = _Responses(sock)
            answers = [reader.read() for _ in range(3)]
            assert [status for status, _, _ in answers] == [200, 200, 404]
            assert all(h["connection"] == "keep-alive" for _, h, _ in answers)
            assert json.loads(answers[0][2])["pid"] == os.getpid()
            assert b"process_resident_memory_bytes" in answers[1][2]
            # Still open: one more request on the same connection.
            sock.sendall(_get("/"))
            assert reader.read()[0] == 200
        assert handle.accepted == 1


def test_http_client_reuses_one_connection(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        for _ in range(5):
            conn.request("GET", "/", headers=AUTH)
            r = conn.getresponse()
            assert r.status == 200 and r.version == 11 and r.getheader("Connection") == "keep-alive"
            assert json.loads(r.read())["pid"] == os.getpid()
        conn.request("POST", "/cleanup/caches", headers=AUTH)  # a cleanup on the same connection
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["action"] == "caches"
        conn.request("HEAD", "/", headers=AUTH)
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b""
        conn.request("GET", "/", headers={"Authorization": "Bearer wrong"})
        r = conn.getresponse()
        assert r.status == 401 and r.read()  # an error answer keeps the connection too
        conn.request("GET", "/", headers=AUTH)
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    assert server.accepted == 1


def test_connection_close_and_http10_close_after_the_answer():
    with probe.serve() as handle:
        for request, kept in [(_get("/", "Connection: close"), False),
                              (_get("/", version="HTTP/1.0"), False),
                              (_get("/", "Connection: keep-alive", version="HTTP/1.0"), True),
                              (_get("/", "Connection: Keep-Alive, foo"), True)]:
            with _connect(handle) as sock:
                sock.sendall(request)
                reader = _Responses(sock)
                status, headers, _ = reader.read()
                assert status == 200
                if kept:
                    assert headers["connection"] == "keep-alive"
                    sock.sendall(request)
                    assert reader.read()[0] == 200
                else:
                    assert headers["connection"] == "close"
                    assert reader.closed()
        assert _wait_until(lambda: handle.connections == 0)


def test_idle_connection_is_closed_after_the_idle_timeout(monkeypatch):
    monkeypatch.setattr(probe_server, "IDLE_TIMEOUT_SECONDS", 0.5)
    with probe.serve() as handle:
        with _connect(handle) as sock:
            sock.sendall(_get("/"))
            reader = _Responses(sock)
            assert reader.read()[0] == 200
            assert handle.connections == 1
            start = time.monotonic()
            assert reader.closed()  # blocks until the server closes it (timeout 5 s)
            assert 0.4 <= time.monotonic() - start < 3
        assert _wait_until(lambda: handle.connections == 0)


def test_slow_client_does_not_delay_others_and_is_dropped(monkeypatch):
    monkeypatch.setattr(probe_server, "REQUEST_TIMEOUT_SECONDS", 8.0)  # long: "no delay" must not be close to it
    with probe.serve() as handle:
        with _connect(handle, timeout=30) as slow:
            slow.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow:")  # half a head, never finished
            time.sleep(0.05)
            start = time.monotonic()
            for _ in range(3):
                assert httpx.get(handle.url, timeout=2).status_code == 200
            assert time.monotonic() - start < 6.0  # blocked, they would wait for the 8 s deadline
            # A second slow client beside the first: still no delay for a fast one.
            with _connect(handle, timeout=30) as slower:
                slower.sendall(b"POST /cleanup/gc HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc")
                assert httpx.get(handle.url, timeout=2).status_code == 200
                start = time.monotonic()
                assert _Responses(slow).closed() and _Responses(slower).closed()
                assert time.monotonic() - start < 8 + 10  # both dropped at the request deadline
        assert _wait_until(lambda: handle.connections == 0)


def test_connections_past_the_cap_close_the_oldest_idle(monkeypatch):
    monkeypatch.setattr(probe_server, "MAX_CONNECTIONS", 4)
    with probe.serve() as handle:
        socks = []
        try:
            for _ in range(4):
                sock = _connect(handle)
                sock.sendall(_get("/"))
                assert _Responses(sock).read()[0] == 200
                socks.append(sock)
                time.sleep(0.01)  # distinct idle times
            assert handle.connections == 4
            # A busy (half-sent) connection is not the one evicted while idle ones exist.
            socks[1].sendall(b"GET / HTTP/1.1\r\n")
            for n in range(3):  # each new one closes the longest-idle one
                extra = _connect(handle)
                extra.sendall(_get("/"))
                assert _Responses(extra).read()[0] == 200
                socks.append(extra)
                assert handle.connections == 4
            assert _Responses(socks[0]).closed()
            assert _Responses(socks[2]).closed() and _Responses(socks[3]).closed()
            socks[1].sendall(b"Host: localhost\r\n\r\n")  # the busy one is still served
            assert _Responses(socks[1]).read()[0] == 200
        finally:
            for sock in socks:
                sock.close()
        assert handle.accepted == 7


def test_many_pipelined_answers_the_client_reads_late(monkeypatch):
    """More answers than the socket buffers hold: partial writes wait for POLLOUT, and
    requests past the write-buffer mark wait in the read buffer, in order."""
    accept = probe_server._Listener.accept
    flushes = {"partial": 0}
    flush = probe_server.ProbeServer._flush

    def small_send_buffer(self):
        accepted = accept(self)
        if accepted is not None:
            accepted[0].setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        return accepted

    def counting_flush(self, conn, now):
        before = len(conn.wbuf)
        ok = flush(self, conn, now)
        flushes["partial"] += 0 < len(conn.wbuf) < before or len(conn.wbuf) == before
        return ok

    monkeypatch.setattr(probe_server._Listener, "accept", small_send_buffer)
    monkeypatch.setattr(probe_server.ProbeServer, "_flush", counting_flush)
    monkeypatch.setattr(probe_server, "WRITE_BUFFER_HIGH", 64 * 1024)
    with probe.serve() as handle:
        with _connect(handle, timeout=10) as sock:
            n = 300
            paths = ["/metrics" if i % 3 else "/nope" for i in range(n)]
            sock.sendall(b"".join(_get(p) for p in paths))
            time.sleep(0.2)  # the server fills the socket and waits
            assert httpx.get(handle.url, timeout=2).status_code == 200  # others are not held
            reader = _Responses(sock)
            assert [reader.read()[0] for _ in range(n)] == [200 if p == "/metrics" else 404 for p in paths]
            sock.sendall(_get("/"))
            assert reader.read()[0] == 200
        assert handle.accepted == 2
    assert flushes["partial"] > 0


def test_head_and_body_limits_close_the_connection():
    with probe.serve(token=TOKEN, min_interval=0) as handle:
        cases = [
            (_get("/", *[f"X-H{i}: v" for i in range(101)]), 431),
            (_get("/", "X-Big: " + "v" * 9000), 431),
            (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 400),
            (b"GARBAGE\r\n\r\n", 400),
            (b"POST /cleanup/gc HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
            (b"POST /cleanup/gc HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5, 6\r\n\r\n", 400),
            (b"POST /cleanup/gc HTTP/1.1\r\nHost: localhost\r\nContent-Length: 70000\r\n\r\n" + b"x" * 70000, 413),
        ]
        for request, status in cases:
            with _connect(handle) as sock:
                sock.sendall(request)
                reader = _Responses(sock)
                got, headers, body = reader.read()
                assert (got, headers["connection"]) == (status, "close"), request[:60]
                assert json.loads(body)["status"] == status
                assert reader.closed()
        # A head trickled in past the line cap is refused before it ends.
        with _connect(handle) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nX-Long: ")
            for _ in range(10):
                sock.sendall(b"v" * 1000)
            assert _Responses(sock).read()[0] == 431


def test_body_split_across_packets_and_expect_continue(server):
    with _connect(server) as sock:
        body = json.dumps({"generation": 0}).encode()
        head = (f"POST /cleanup/gc HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n").encode()
        sock.sendall(head)
        reader = _Responses(sock)
        assert reader.read(head_only=True)[0] == 100
        sock.sendall(body[:5])
        time.sleep(0.05)
        sock.sendall(body[5:] + _get("/", f"Authorization: Bearer {TOKEN}"))
        status, _, answer = reader.read()
        assert status == 200 and json.loads(answer)["steps"][0]["generation"] == 0
        assert reader.read()[0] == 200


def test_unix_socket_keep_alive_and_trusted_cleanups(runtime_dir):
    with probe.serve(port=None, unix_socket=True) as handle:
        with _connect(handle) as sock:
            sock.sendall(_get("/") + b"POST /cleanup/caches HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n" + _get("/"))
            reader = _Responses(sock)
            statuses = [reader.read()[0] for _ in range(3)]
            assert statuses == [200, 200, 200]  # the cleanup needs no token over the private socket
            assert handle.accepted == 1 and handle.connections == 1
            handle.stop()
            assert reader.closed()  # stop() closes kept-alive connections
        assert not os.path.exists(handle.socket_path)
        assert handle.connections == 0


def test_stop_closes_open_connections(server):
    with _connect(server) as sock:
        sock.sendall(_get("/", f"Authorization: Bearer {TOKEN}"))
        reader = _Responses(sock)
        assert reader.read()[0] == 200
        server.stop()
        assert reader.closed()
    assert server.connections == 0
