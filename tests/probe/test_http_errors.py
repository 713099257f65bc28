"""What a client sees when its request is broken: a 400 with a sentence, and the
connection closed (the rest of the stream cannot be trusted)."""

from __future__ import annotations

import json
import socket

import pytest

from memdash import probe


def _exchange(port: int, raw: bytes) -> tuple[bytes, bool]:
    """Send ``raw``; return everything the server sent and whether it then closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(raw)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return data, True
            if not chunk:
                return data, True
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                if len(body) >= length:
                    # answered: does the server close, or wait for the next request?
                    s.settimeout(5)
                    try:
                        rest = s.recv(1)
                    except socket.timeout:
                        return data, False
                    except ConnectionResetError:
                        return data, True
                    return data + rest, rest == b""


@pytest.mark.parametrize("raw,status,message", [
    (b"GET / HTTP/1.1\r\nHost: localhost\r\nNo colon here\r\n\r\n", 400, "malformed header line"),
    (b"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400, None),
])
def test_a_broken_request_gets_400_and_the_connection_closes(raw: bytes, status: int, message: str | None) -> None:
    with probe.serve() as handle:
        data, closed = _exchange(handle.port, raw)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} Bad Request".encode()), head
    assert b"connection: close" in head.lower()
    doc = json.loads(body)
    assert doc["status"] == status
    if message:
        assert doc["error"] == message
    assert closed


def test_too_many_headers_get_431_and_the_connection_closes() -> None:
    from memdash.probe.httphead import MAX_HEADERS

    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADERS + 1))
    with probe.serve() as handle:
        data, closed = _exchange(handle.port, b"GET / HTTP/1.1\r\nHost: localhost\r\n" + headers + b"\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large"), head
    assert json.loads(body) == {"error": f"more than {MAX_HEADERS} headers", "status": 431}
    assert closed  # the rest of the stream cannot be trusted


def test_blank_lines_before_a_request_are_ignored() -> None:
    # RFC 9112 2.2: a server should ignore at least one empty line before a
    # request line (some clients send a CRLF after a POST body).
    with probe.serve() as handle:
        data, closed = _exchange(handle.port, b"\r\n\r\nGET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 OK"), data[:200]
    assert not closed


def test_a_good_request_keeps_the_connection_open() -> None:
    with probe.serve() as handle:
        data, closed = _exchange(handle.port, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert not closed


def _wsgi(app, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
          client: str = "127.0.0.1") -> tuple[int, dict]:
    import io

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "svc",
               "SERVER_PORT": "80", "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
               "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": client}
    for k, v in (headers or {}).items():
        environ["HTTP_" + k.upper().replace("-", "_")] = v
    seen: list = []
    out = b"".join(app(environ, lambda status, hdrs, exc_info=None: seen.append(status)))
    status = int(seen[0].split()[0])
    return status, (json.loads(out) if out.startswith(b"{") else {"text": out.decode()})


TOKEN = "errs-token-77aa"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_an_internal_fault_is_a_500_sentence_not_a_traceback(monkeypatch, caplog) -> None:
    """A fault inside the probe must never break the host's request handling."""
    import memdash.probe.core as core

    def broken():
        raise RuntimeError(f"boom with {TOKEN}")

    monkeypatch.setattr(core, "collect", broken)
    app = probe.wsgi_app(token=TOKEN)
    with caplog.at_level("ERROR", logger="memdash.probe"):
        status, body = _wsgi(app, "GET", "/", headers=AUTH)
    assert (status, body) == (500, {"error": "internal error in the probe (RuntimeError)", "status": 500})
    assert "internal error answering 'GET' '/'" in caplog.text  # the traceback goes to the host's log


@pytest.mark.parametrize("path,status", [("/foo/bar", 404), ("/cleanup", 404), ("/cleanup/gc/x", 404),
                                         ("/metrics/", 200), ("", 200)])
def test_routes(path: str, status: int) -> None:
    app = probe.wsgi_app(token=TOKEN)
    assert _wsgi(app, "GET", path, headers=AUTH)[0] == status


def test_the_missing_token_message_says_how_to_send_one() -> None:
    status, body = _wsgi(probe.wsgi_app(token=TOKEN), "GET", "/")
    assert status == 401
    assert body["error"] == "this probe needs a token: send 'Authorization: Bearer <token>'"


def test_a_worker_option_naming_this_process_is_accepted() -> None:
    import os

    app = probe.wsgi_app(token=TOKEN, min_interval=0)
    status, body = _wsgi(app, "POST", "/cleanup/gc", json.dumps({"worker": os.getpid()}).encode(), AUTH)
    assert (status, body["pid"]) == (200, os.getpid())
    status, body = _wsgi(app, "POST", "/cleanup/gc", json.dumps({"worker": 1}).encode(), AUTH)
    assert status == 404 and "not in pre-fork mode" in body["error"]


def test_a_tcp_client_cannot_name_itself_in_the_log(caplog) -> None:
    """X-Memdash-Forwarded-For is trusted only on the probe's own socket (from
    its pre-fork siblings); over TCP the log names the real peer."""
    app = probe.wsgi_app(token=TOKEN, min_interval=0)
    with caplog.at_level("INFO", logger="memdash.probe"):
        status, _ = _wsgi(app, "POST", "/cleanup/gc", headers={**AUTH, "X-Memdash-Forwarded-For": "10.6.6.6"},
                          client="192.0.2.9")
    assert status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "memdash.probe"]
    assert len(lines) == 1 and lines[0].startswith("cleanup gc from 192.0.2.9: ok")
    assert "10.6.6.6" not in caplog.text
