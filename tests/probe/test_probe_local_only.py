"""A tokenless probe answers only this machine: Host headers (DNS rebinding),
proxy headers, over every front end; young GC is rate-limited; outside text in
log lines is escaped; ``memdash demo`` never prints its token."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import stat
import subprocess
import threading
import time
from typing import Iterator

import httpx
import pytest

import memdash.probe as probe
from memdash.probe.core import PROXY_HEADERS
from probe_helpers import AUTH, PYTHON, TOKEN, child_env


def _werkzeug(app) -> Iterator[str]:
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}/memdash/"
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def _uvicorn(app) -> Iterator[str]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start within 15 s"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/memdash/"
    finally:
        server.should_exit = True
        thread.join(10)


ALLOWED = ("intranet.example",)


@pytest.fixture(params=["standalone", "flask", "wsgi", "asgi"])
def tokenless_url(request) -> Iterator[str]:
    """The probe's snapshot URL on loopback, no token, ``intranet.example`` allowed."""
    kind = request.param
    if kind == "standalone":
        with probe.serve(allowed_hosts=ALLOWED) as handle:
            yield handle.url
    elif kind == "flask":
        from flask import Flask

        app = Flask("tokenless")
        app.register_blueprint(probe.flask_blueprint(allowed_hosts=ALLOWED), url_prefix="/memdash")
        yield from _werkzeug(app)
    elif kind == "wsgi":
        from werkzeug.middleware.dispatcher import DispatcherMiddleware

        def base(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"app"]

        yield from _werkzeug(DispatcherMiddleware(base, {"/memdash": probe.wsgi_app(allowed_hosts=ALLOWED)}))
    else:
        from fastapi import FastAPI

        app = FastAPI()
        app.mount("/memdash", probe.asgi_app(allowed_hosts=ALLOWED))
        yield from _uvicorn(app)


LOCAL_HOSTS = ["127.0.0.1", "127.0.0.1:8080", "localhost", "LocalHost:1", "localhost.", "127.9.8.7:80",
               "[::1]", "[::1]:8080", "intranet.example", "Intranet.Example:8443", os.uname().nodename]
FOREIGN_HOSTS = ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "localhost.evil.example",
                 "evil-localhost", "127.0.0.256", "128.0.0.1", "[::2]:80", "0.0.0.0", "intranet.example.evil",
                 ""]


@pytest.mark.parametrize("host", LOCAL_HOSTS)
def test_local_host_names_are_answered(tokenless_url, host):
    r = httpx.get(tokenless_url, headers={"Host": host})
    assert r.status_code == 200, r.text
    assert r.json()["pid"] == os.getpid()


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_other_host_names_are_refused_dns_rebinding(tokenless_url, host):
    r = httpx.get(tokenless_url, headers={"Host": host})
    assert r.status_code == 403, r.text
    assert "addressed to this machine" in r.json()["error"]
    assert "rss_bytes" not in r.text  # nothing of the snapshot leaks
    r = httpx.get(tokenless_url.replace("/memdash/", "/memdash/metrics"), headers={"Host": host})
    assert r.status_code == 403 and "process_resident_memory_bytes" not in r.text


@pytest.mark.parametrize("header", PROXY_HEADERS)
def test_proxy_headers_make_a_request_remote(tokenless_url, header):
    r = httpx.get(tokenless_url, headers={header: "203.0.113.9"})
    assert r.status_code == 403, r.text
    assert "through a proxy count as remote" in r.json()["error"]


def test_the_proxy_headers_include_the_cdn_ones():
    assert {"true-client-ip", "cf-connecting-ip", "x-forwarded-for", "forwarded", "x-real-ip"} <= set(PROXY_HEADERS)


def test_a_token_makes_the_host_irrelevant():
    with probe.serve(token=TOKEN) as handle:
        assert httpx.get(handle.url, headers={"Host": "evil.example", **AUTH}).status_code == 200
        assert httpx.get(handle.url, headers={"Host": "evil.example"}).status_code == 401


def test_the_configured_host_is_allowed():
    # serve(host=...) allows its own host: here a loopback address by another spelling.
    with probe.serve(host="127.0.0.2") as handle:
        assert httpx.get(handle.url).status_code == 200
        assert httpx.get(handle.url, headers={"Host": "evil.example"}).status_code == 403


def test_an_http10_request_without_host_is_answered():
    with probe.serve() as handle:
        with socket.create_connection((handle.host, handle.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200 ")


# -- young-generation GC is rate-limited like the full one --------------------------------------

def test_young_gc_is_rate_limited_like_the_full_one():
    with probe.serve(token=TOKEN, min_interval=30.0) as handle:
        assert httpx.post(handle.url + "cleanup/gc?generation=0", headers=AUTH).status_code == 200
        for generation in ("0", "1", "2"):
            r = httpx.post(handle.url + f"cleanup/gc?generation={generation}", headers=AUTH)
            assert r.status_code == 429, (generation, r.text)
            assert 25 < r.json()["retry_after_seconds"] <= 30
        r = httpx.post(handle.url + "cleanup/all", headers=AUTH)
        assert r.status_code == 429  # all includes a gc
        assert httpx.post(handle.url + "cleanup/caches", headers=AUTH).status_code == 200
        # The caller of cleanup() in-process decided: not limited.
        assert probe.cleanup("gc", generation=0)["ok"] is True


# -- what the probe logs from outside is escaped ------------------------------------------------

HOSTILE = "\x1b]2;pwned\x07\x1b[2J\u202eevil\nforged line"


def _control_free(text: str) -> bool:
    return not re.search(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)


def _unix_exchange(path: str, request: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_forwarded_client_names_in_cleanup_logs_are_escaped(caplog):
    caplog.set_level(logging.INFO, logger="memdash.probe")
    head = b"POST /cleanup/caches HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n"
    with probe.serve(port=None, unix_socket=True) as handle:
        # The parser refuses C0 controls in a header value outright...
        value = HOSTILE.replace("\n", " ").encode("utf-8")
        data = _unix_exchange(handle.socket_path, head + b"X-Memdash-Forwarded-For: " + value + b"\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 400 ")
        # ...but bytes over 0x7f are legal (obs-text) and arrive as latin-1 text: 0x9b is
        # the 8-bit CSI, and U+202E's UTF-8 bytes hold the C1 control 0x80.
        value = b"\x9b2J\x9b1;1H\xe2\x80\xaeevil"
        data = _unix_exchange(handle.socket_path, head + b"X-Memdash-Forwarded-For: " + value + b"\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 ")
    lines = [r.getMessage() for r in caplog.records if r.name == "memdash.probe"]
    assert lines and all(_control_free(line) for line in lines), lines
    assert any("\\x9b2J\\x9b1;1H" in line and "\\x80" in line for line in lines), lines


def test_paths_in_the_socket_warning_are_escaped(runtime_dir, monkeypatch, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="memdash.probe")
    hostile_dir = os.path.join(runtime_dir, "run\x1b[2J\u202edir")
    os.mkdir(hostile_dir, 0o700)
    os.symlink(tmp_path, os.path.join(hostile_dir, "memdash"))  # refused: a symlink
    monkeypatch.setenv("XDG_RUNTIME_DIR", hostile_dir)
    with probe.serve(unix_socket=True) as handle:
        assert handle.socket_path is None
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert _control_free(line) and "run\\x1b[2J\\u202edir" in line


def test_shown_escapes_every_control_and_keeps_ordinary_text():
    from memdash.probe.logs import shown

    assert shown("plain /tmp/memdash-0 café ✓") == "plain /tmp/memdash-0 café ✓"
    every = "".join(map(chr, range(0x00, 0x20))) + "\x7f" + "".join(map(chr, range(0x80, 0xA0)))
    assert _control_free(shown(every + "\u202a\u2066\u200f\u061c"))
    assert shown("\udcff") == "\\udcff"  # a byte /proc could not decode


# -- memdash demo prints where the token is, never the token -------------------------------------

def _lines(proc: subprocess.Popen, n: int, timeout: float) -> list[str]:
    """The child's first ``n`` stdout lines (a reader thread: they may arrive in one write)."""
    import queue

    got: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for _ in range(n):
            got.put(proc.stdout.readline())

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    out = []
    while len(out) < n:
        try:
            out.append(got.get(timeout=max(0.01, deadline - time.monotonic())).strip())
        except queue.Empty:
            raise AssertionError(f"the demo printed {out} within {timeout} s") from None
    return out


def _end_demo(proc: subprocess.Popen) -> tuple[str, str]:
    """Ctrl-C the demo and collect its output; if it does not end, kill its whole
    process group (the demo and its service) so nothing outlives the test."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)
        raise AssertionError("the demo did not stop within 20 s of Ctrl-C") from None


def test_demo_prints_where_the_token_is_not_the_token(runtime_dir):
    proc = subprocess.Popen([PYTHON, "-m", "memdash.demo"], env=child_env(runtime_dir), start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    token = path = url = ""
    try:
        lines = _lines(proc, 3, timeout=30)
        first, second, third = lines
        url = re.search(r"running at (\S+) \(pid (\d+)\)", first).group(1)
        path = re.search(r"token is in (\S+) \(mode 0600", second).group(1)
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == 0o600 and stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
        with open(path) as f:
            token = f.read().strip()
        assert len(token) >= 24
        assert token not in first + second + third
        assert "MEMDASH_TOKEN=" in third and path in third and url in third
        assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).json()["probe"] == "memdash.probe"
        assert httpx.get(url).status_code == 401
    finally:
        out, err = _end_demo(proc)  # Ctrl-C: the demo stops its child and removes the token
    assert token not in out + err
    assert not os.path.exists(path) and not os.path.exists(os.path.dirname(path))
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=2)  # the demo service went with it


def test_demo_ctrl_c_while_it_prints_still_stops_its_service(runtime_dir):
    """Ctrl-C the moment the first line appears (the demo is still printing): the
    service it started goes too, and no traceback is printed."""
    proc = subprocess.Popen([PYTHON, "-m", "memdash.demo"], env=child_env(runtime_dir), start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        service = int(re.search(r"\(pid (\d+)\)", first).group(1))
    finally:
        out, err = _end_demo(proc)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{service}") and not _zombie(service):
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{service}") or _zombie(service), "the demo service outlived the demo"
    assert "Traceback" not in err, err


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
