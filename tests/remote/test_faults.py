"""Targets that are down, slow, broken, huge or redirecting: real loopback servers."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time

import pytest
from flask import Flask, jsonify, redirect, request

from memdash.config import TargetConfig
from memdash.levels import Thresholds
from memdash.sources.remote import BACKOFF_CAP_SECONDS, TargetPoller, scrub

from .servers import TOKEN, RawServer, free_port, read_request, wsgi_server

GOOD_DOC = {"memory_percent": 42.0, "memory_used_mb": 100.0}


def good_app() -> Flask:
    app = Flask("good")

    @app.get("/stats")
    def stats():  # type: ignore[no-untyped-def]
        return jsonify(GOOD_DOC)

    return app


def hang(conn: socket.socket, server: RawServer) -> None:
    """Accept, read the request, never answer."""
    read_request(conn)
    server.stop.wait(30)


def answer(status: str, body: bytes, content_type: str = "application/json"):  # type: ignore[no-untyped-def]
    def handler(conn: socket.socket, server: RawServer) -> None:
        read_request(conn)
        conn.sendall(
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n".encode() + body
        )

    return handler


def target(name: str, url: str, **kw: object) -> TargetConfig:
    kw.setdefault("timeout", 1.0)
    kw.setdefault("interval", 0.2)
    return TargetConfig(name=name, url=url, **kw)  # type: ignore[arg-type]


async def poll_one(t: TargetConfig) -> tuple:
    async with TargetPoller([t], Thresholds()) as poller:
        return await poller.poll_once()


async def test_connection_refused() -> None:
    (s,) = await poll_one(target("dead", f"http://127.0.0.1:{free_port()}/stats"))
    assert not s.ok and s.error == "connection refused"
    assert s.last_ok is None and s.rss_bytes is None


async def test_hung_server_times_out(raw_server) -> None:  # type: ignore[no-untyped-def]
    srv = raw_server(hang)
    start = time.monotonic()
    (s,) = await poll_one(target("hung", srv.url + "/", timeout=0.5))
    assert time.monotonic() - start < 10  # the 0.5 s deadline, not the server's hang
    assert not s.ok and s.error == "timed out after 0.5 s"


async def test_trickling_server_hits_overall_deadline(raw_server) -> None:  # type: ignore[no-untyped-def]
    """One byte every 0.2 s never trips a per-read timeout; the overall deadline stops it."""

    def trickle(conn: socket.socket, server: RawServer) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        while not server.stop.wait(0.2):
            conn.sendall(b" ")

    srv = raw_server(trickle)
    start = time.monotonic()
    (s,) = await poll_one(target("slow", srv.url + "/", timeout=0.8))
    assert time.monotonic() - start < 10  # the 0.8 s deadline, not the 5.5 hours of trickle
    assert s.error == "timed out after 0.8 s"


async def test_http_500(raw_server) -> None:  # type: ignore[no-untyped-def]
    srv = raw_server(answer("500 Internal Server Error", b'{"error": "boom"}'))
    (s,) = await poll_one(target("err", srv.url + "/"))
    # issue 11: the service's own reason beside memdash's words
    assert s.error == "HTTP 500 Internal Server Error (the service says: boom)"


async def test_invalid_json(raw_server) -> None:  # type: ignore[no-untyped-def]
    srv = raw_server(answer("200 OK", b'{"memory_percent": 4'))
    (s,) = await poll_one(target("garbage", srv.url + "/", kind="json"))
    assert s.error == "invalid JSON"


async def test_probe_kind_rejects_other_json(raw_server) -> None:  # type: ignore[no-untyped-def]
    srv = raw_server(answer("200 OK", b'{"memory_percent": 4}'))
    (s,) = await poll_one(target("notprobe", srv.url + "/", kind="probe"))
    assert s.error is not None and s.error.startswith("not a memdash.probe document")


@pytest.mark.parametrize("declare_length", [True, False])
async def test_50mb_body_refused_without_reading_it(raw_server, declare_length: bool) -> None:  # type: ignore[no-untyped-def]
    total = 50 * 1024 * 1024

    def flood(conn: socket.socket, server: RawServer) -> None:
        read_request(conn)
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {total}\r\n\r\n" if declare_length else "Connection: close\r\n\r\n"
        conn.sendall(head.encode())
        chunk = b"[" + b"1," * 32767 + b"1"
        sent = 0
        server.stats["sent"] = 0
        conn.settimeout(5)
        while sent < total and not server.stop.is_set():
            sent += conn.send(chunk)
            server.stats["sent"] = sent

    srv = raw_server(flood)
    start = time.monotonic()
    (s,) = await poll_one(target("huge", srv.url + "/", kind="json", timeout=5.0))
    assert time.monotonic() - start < 30  # the message below already says it was the cap, not the deadline
    assert s.error == "response larger than 1 MB"
    time.sleep(0.2)  # let the sender notice the closed connection
    # What the server got out is at most the cap plus the kernel's socket buffers.
    assert int(srv.stats.get("sent", 0)) < 16 * 1024 * 1024  # type: ignore[call-overload]


async def test_redirect_to_another_origin_drops_token(raw_server, token_env: str) -> None:  # type: ignore[no-untyped-def]
    seen: list[bytes] = []

    def other(conn: socket.socket, server: RawServer) -> None:
        seen.append(read_request(conn))
        body = json.dumps(GOOD_DOC).encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    elsewhere = raw_server(other)
    first_seen: list[bytes] = []

    def redirector(conn: socket.socket, server: RawServer) -> None:
        first_seen.append(read_request(conn))
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {elsewhere.url}/stats\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n".encode())

    srv = raw_server(redirector)
    (s,) = await poll_one(target("redir", srv.url + "/", kind="json", token_env=token_env))
    assert s.ok, s.error
    assert s.percent == 42.0
    assert b"authorization: bearer " + TOKEN.encode().lower() in first_seen[0].lower()
    assert seen and b"authorization" not in seen[0].lower()
    assert TOKEN.encode() not in seen[0]


async def test_same_origin_redirect_keeps_token(token_env: str) -> None:
    app = Flask("same")

    @app.get("/old")
    def old():  # type: ignore[no-untyped-def]
        return redirect("/new", 307)

    @app.get("/new")
    def new():  # type: ignore[no-untyped-def]
        authorized = request.headers.get("Authorization") == f"Bearer {TOKEN}"
        return jsonify({"memory_percent": 1.0 if authorized else 99.0})

    with wsgi_server(app) as base:
        (s,) = await poll_one(target("same", base + "/old", kind="json", token_env=token_env))
    assert s.ok and s.percent == 1.0  # followed, and the token went along


async def test_redirect_loop_is_bounded(raw_server) -> None:  # type: ignore[no-untyped-def]
    def loop(conn: socket.socket, server: RawServer) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    srv = raw_server(loop)
    (s,) = await poll_one(target("loop", srv.url + "/"))
    assert s.error == "too many redirects (more than 5)"


async def test_dead_and_hung_do_not_delay_good(raw_server) -> None:  # type: ignore[no-untyped-def]
    hung = raw_server(hang)
    with wsgi_server(good_app()) as base:
        targets = [
            target("dead", f"http://127.0.0.1:{free_port()}/", timeout=1.0),
            target("hung", hung.url + "/", timeout=1.0),
            target("good", base + "/stats", timeout=1.0),
        ]
        async with TargetPoller(targets, Thresholds()) as poller:
            start = time.monotonic()
            dead, stuck, good = await poller.poll_once()
            elapsed = time.monotonic() - start
    assert elapsed < 1.0 + 9.0  # the 1 s timeout, not the hung server's 30 s
    assert dead.error == "connection refused"
    assert stuck.error == "timed out after 1 s"
    assert good.ok and good.percent == 42.0 and good.kind == "json"


async def test_run_keeps_good_target_on_schedule(raw_server) -> None:  # type: ignore[no-untyped-def]
    hung = raw_server(hang)
    with wsgi_server(good_app()) as base:
        targets = [target("hung", hung.url + "/", timeout=3.0, interval=0.2),
                   target("good", base + "/stats", interval=0.2)]
        times: list[float] = []
        stop = asyncio.Event()

        def on_sample(sample) -> None:  # type: ignore[no-untyped-def]
            if sample.name == "good":
                assert sample.ok
                times.append(time.monotonic())
                if len(times) >= 6:
                    stop.set()

        async with TargetPoller(targets, Thresholds()) as poller:
            await asyncio.wait_for(poller.run(on_sample, stop), 5)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) < 0.5, gaps


async def test_backoff_grows_and_resets() -> None:
    """Down: interval * 2**n, capped; back up: the interval again, last good figures kept while down."""
    up = {"on": True}
    app = Flask("flaky")

    @app.get("/")
    def index():  # type: ignore[no-untyped-def]
        if not up["on"]:
            return jsonify({"error": "down"}), 503
        return jsonify(GOOD_DOC)

    with wsgi_server(app) as base:
        async with TargetPoller([target("flaky", base + "/", interval=1.0)], Thresholds()) as poller:
            s = await poller.poll("flaky")
            assert s.ok and poller.next_delay("flaky") == 1.0
            up["on"] = False
            delays = []
            for _ in range(8):
                s = await poller.poll("flaky")
                delays.append(poller.next_delay("flaky"))
            assert delays == [2.0, 4.0, 8.0, 16.0, 32.0, BACKOFF_CAP_SECONDS, BACKOFF_CAP_SECONDS, BACKOFF_CAP_SECONDS]
            assert not s.ok and s.error == "HTTP 503 SERVICE UNAVAILABLE (the service says: down)"
            assert s.percent == 42.0 and s.last_ok is not None and s.last_ok < s.time
            up["on"] = True
            s = await poller.poll("flaky")
            assert s.ok and poller.next_delay("flaky") == 1.0 and poller.failures("flaky") == 0


async def test_token_never_in_errors_or_logs(raw_server, token_env: str, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    """A server that echoes the Authorization header back in its error, and a URL
    holding the token: neither reaches an error string or a log record."""

    def echo(conn: socket.socket, server: RawServer) -> None:
        head = read_request(conn).decode()
        auth = next((l for l in head.split("\r\n") if l.lower().startswith("authorization")), "")
        body = json.dumps({"error": f"bad {auth}"}).encode()
        conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    srv = raw_server(echo)
    caplog.set_level(logging.DEBUG)
    targets = [
        target("echo", srv.url + "/", kind="probe", token_env=token_env),
        target("userinfo", f"http://u:{TOKEN}@127.0.0.1:{free_port()}/", token_env=token_env),
    ]
    async with TargetPoller(targets, Thresholds()) as poller:
        samples = await poller.poll_once()
        samples += await poller.poll_once()
        result = await poller.cleanup("echo", "gc")
    assert samples[0].error.startswith("HTTP 401 Unauthorized: the token is missing or wrong (set token_env or token_file)")
    assert result.error.startswith("refused: the token is missing or wrong (set token_env or token_file)"
                                   " (the service says: ")
    texts = [s.error or "" for s in samples] + [s.url for s in samples] + [result.error or "", str(result.raw)]
    texts += [r.getMessage() for r in caplog.records]
    assert caplog.records, "failures are logged"
    for text in texts:
        assert TOKEN not in text


def test_scrub() -> None:
    assert scrub("Authorization: Bearer abc.def", ()) == "Authorization: Bearer ***"
    assert scrub("http://me:pw@host/x", ()) == "http://***@host/x"
    assert scrub("said xyz-secret twice xyz-secret", ("xyz-secret",)) == "said *** twice ***"


async def test_unreadable_token_file_is_an_error_in_words(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with wsgi_server(good_app()) as base:
        (s,) = await poll_one(target("tf", base + "/stats", token_file=str(tmp_path / "missing")))
    assert not s.ok and s.error is not None and s.error.startswith("cannot read ")


async def test_read_only_refuses_and_hides_actions() -> None:
    app = Flask("ro")
    hits = []

    @app.get("/")
    def index():  # type: ignore[no-untyped-def]
        return jsonify(GOOD_DOC)

    @app.post("/gc")
    def gc():  # type: ignore[no-untyped-def]
        hits.append(1)
        return jsonify({})

    with wsgi_server(app) as base:
        t = target("ro", base + "/", kind="json", actions={"gc": "POST /gc"}, read_only=True)
        async with TargetPoller([t], Thresholds()) as poller:
            (s,) = await poller.poll_once()
            result = await poller.cleanup("ro", "gc")
    assert s.actions == ()
    assert result.error == "read-only: cleanups are disabled" and not hits
