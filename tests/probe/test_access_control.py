"""Who may read the probe and who may run cleanups, for every way in.

The tables below are what an attacker would try: every entry point (the
standalone server over TCP from loopback and from another address, behind a
proxy, over Unix sockets as the same and another uid; WSGI, Flask and ASGI
front ends with every kind of peer address, including none), every action,
and no / a wrong / the right token. Each row states the HTTP status the client
sees, so a weakened check (a remote peer taken for loopback, a proxy ignored,
a missing address trusted) fails a row.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tempfile

import psutil
import pytest

from memdash import probe
from memdash.probe.errors import UnsafeBindError

TOKEN = "acl-token-9f3e1c"
ACTIONS = [("GET", "/"), ("GET", "/metrics"), ("POST", "/cleanup/gc")]


def _other_local_ipv4() -> str | None:
    """A non-loopback address of this machine: connecting from it makes the
    probe see a peer that is not 127.x (traffic still stays on this box)."""
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                return a.address
    return None


def _http(host: str, port: int, method: str, path: str, headers: dict[str, str] | None = None,
          source: str | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=30, source_address=(source, 0) if source else None)
    try:
        conn.request(method, path, body=b"" if method == "POST" else None, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(self._path)


def _unix(path: str, method: str, target: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = _UnixHTTP(path)
    try:
        conn.request(method, target, body=b"" if method == "POST" else None, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _check_body(status: int, body: bytes, method: str, path: str) -> None:
    """What the client reads with each status: our own pid on success, a
    sentence (never the token) on refusal."""
    assert TOKEN.encode() not in body
    if status == 200 and path == "/":
        assert json.loads(body)["pid"] == os.getpid()
    elif status == 200 and path == "/metrics":
        assert b"memdash_" in body
    elif status == 200:
        receipt = json.loads(body)
        assert receipt["ok"] is True and receipt["action"] == "gc"
    else:
        assert json.loads(body)["status"] == status


# -- the standalone server --------------------------------------------------

@pytest.mark.parametrize("method,path", ACTIONS)
@pytest.mark.parametrize("presented,expected", [(None, 401), ("wrong-token", 401), (TOKEN, 200)])
def test_standalone_loopback_with_a_token(method: str, path: str, presented: str | None, expected: int) -> None:
    with probe.serve(token=TOKEN, min_interval=0) as handle:
        status, headers, body = _http("127.0.0.1", handle.port, method, path, _auth(presented))
    assert status == expected
    if expected == 401:
        assert headers["www-authenticate"].startswith("Bearer")
    _check_body(status, body, method, path)


@pytest.mark.parametrize("method,path,extra,expected", [
    ("GET", "/", {}, 200),
    ("GET", "/metrics", {}, 200),
    ("POST", "/cleanup/gc", {}, 403),              # cleanups always need a token
    ("POST", "/cleanup/gc", _auth("anything"), 403),  # and none is configured to match
    ("GET", "/", {"X-Forwarded-For": "198.51.100.4"}, 403),  # a proxy on loopback relays the world
    ("GET", "/metrics", {"X-Forwarded-For": "198.51.100.4"}, 403),
    ("GET", "/", {"Forwarded": "for=198.51.100.4"}, 403),
    ("GET", "/", {"X-Real-IP": "198.51.100.4"}, 403),
    ("POST", "/cleanup/gc", {"X-Forwarded-For": "198.51.100.4"}, 403),
])
def test_standalone_loopback_without_a_token(method: str, path: str, extra: dict[str, str], expected: int) -> None:
    with probe.serve(min_interval=0) as handle:
        status, _, body = _http("127.0.0.1", handle.port, method, path, extra)
    assert status == expected, body
    _check_body(status, body, method, path)


@pytest.mark.parametrize("method,path", ACTIONS)
@pytest.mark.parametrize("presented,expected", [(None, 401), ("wrong-token", 401), (TOKEN, 200)])
@pytest.mark.parametrize("proxied", [False, True])
def test_standalone_remote_peer(method: str, path: str, presented: str | None, expected: int,
                                proxied: bool) -> None:
    """Bound to all addresses with a token, reached from a non-loopback address."""
    source = _other_local_ipv4()
    if source is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    headers = _auth(presented)
    if proxied:
        headers["X-Forwarded-For"] = "198.51.100.4"
    with probe.serve(host="0.0.0.0", token=TOKEN, min_interval=0) as handle:
        status, _, body = _http(source, handle.port, method, path, headers, source=source)
    assert status == expected
    _check_body(status, body, method, path)


@pytest.mark.parametrize("host", ["", "0.0.0.0", "::", "192.0.2.10", "example.invalid", "localhost.example",
                                  "127.0.0.1.example"])
def test_serve_refuses_a_non_loopback_host_without_a_token(host: str) -> None:
    with pytest.raises(UnsafeBindError, match="without a token"):
        probe.serve(host=host)


def test_serve_refuses_a_non_loopback_host_with_an_empty_token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMDASH_PROBE_TOKEN", "")
    with pytest.raises(UnsafeBindError):
        probe.serve(host="0.0.0.0")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.0.0.2", "::1"])
def test_serve_binds_loopback_hosts_without_a_token(host: str) -> None:
    try:
        handle = probe.serve(host=host)
    except OSError as exc:  # ::1 where IPv6 is off
        pytest.skip(f"cannot bind {host}: {exc}")
    with handle:
        connect = "127.0.0.1" if host == "localhost" else host
        status, _, _ = _http(connect, handle.port, "GET", "/")
    assert status == 200


def test_serve_binds_all_addresses_with_a_token_from_the_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMDASH_PROBE_TOKEN", TOKEN)
    with probe.serve(host="0.0.0.0") as handle:
        assert _http("127.0.0.1", handle.port, "GET", "/")[0] == 401
        assert _http("127.0.0.1", handle.port, "GET", "/", _auth(TOKEN))[0] == 200


# -- Unix sockets -----------------------------------------------------------

@pytest.mark.parametrize("method,path", ACTIONS)
@pytest.mark.parametrize("token", [None, TOKEN])
def test_private_unix_socket_same_uid_needs_no_token(method: str, path: str, token: str | None) -> None:
    """The probe's own socket in its 0700 directory: the filesystem authenticates."""
    with probe.serve(port=None, unix_socket=True, token=token, min_interval=0) as handle:
        assert oct(os.stat(handle.socket_path).st_mode & 0o777) == "0o600"
        status, body = _unix(handle.socket_path, method, path)
    assert status == 200
    _check_body(status, body, method, path)


def test_private_unix_socket_refuses_another_uid() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to connect as another uid")
    with probe.serve(port=None, unix_socket=True, min_interval=0) as handle:
        # The child drops to nobody after the interpreter started (nobody may not
        # be able to exec this venv's python), then tries to connect.
        code = ("import os,socket,sys\nos.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
                "s=socket.socket(socket.AF_UNIX)\n"
                "try:\n s.connect(sys.argv[1]); print('connected')\n"
                "except PermissionError: print('denied')\n")
        out = subprocess.run([sys.executable, "-c", code, handle.socket_path],
                             capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "denied", out.stderr


@pytest.fixture
def open_dir() -> str:
    """A directory others can read: a socket there is not private."""
    path = tempfile.mkdtemp(prefix="mdo-", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))
    os.rmdir(path)


@pytest.mark.parametrize("method,path,headers,expected", [
    ("GET", "/", {}, 200),
    ("GET", "/metrics", {}, 200),
    ("POST", "/cleanup/gc", {}, 403),
    ("GET", "/", {"X-Forwarded-For": "198.51.100.4"}, 403),   # a proxy in front of the socket
    ("GET", "/metrics", {"X-Real-IP": "198.51.100.4"}, 403),
])
def test_unix_socket_outside_the_private_dir_without_a_token(open_dir: str, method: str, path: str,
                                                             headers: dict[str, str], expected: int) -> None:
    sock = os.path.join(open_dir, "p.sock")
    with probe.serve(port=None, unix_socket=sock, min_interval=0) as handle:
        status, body = _unix(handle.socket_path, method, path, headers)
    assert status == expected
    _check_body(status, body, method, path)


@pytest.mark.parametrize("method,path", ACTIONS)
@pytest.mark.parametrize("presented,expected", [(None, 401), ("wrong-token", 401), (TOKEN, 200)])
def test_unix_socket_outside_the_private_dir_with_a_token(open_dir: str, method: str, path: str,
                                                          presented: str | None, expected: int) -> None:
    sock = os.path.join(open_dir, "p.sock")
    with probe.serve(port=None, unix_socket=sock, token=TOKEN, min_interval=0) as handle:
        status, body = _unix(handle.socket_path, method, path, _auth(presented))
    assert status == expected
    _check_body(status, body, method, path)


# -- the WSGI, Flask and ASGI front ends --------------------------------------

def _wsgi_call(app, method: str, path: str, client: str | None, headers: dict[str, str]) -> tuple[int, bytes]:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "svc",
               "SERVER_PORT": "80", "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http",
               "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_LENGTH": "0", "REMOTE_ADDR": client or ""}
    for k, v in headers.items():
        environ["HTTP_" + k.upper().replace("-", "_")] = v
    seen: list[str] = []
    body = b"".join(app(environ, lambda status, hdrs, exc_info=None: seen.append(status)))
    return int(seen[0].split()[0]), body


def _flask_call(app, method: str, path: str, client: str | None, headers: dict[str, str]) -> tuple[int, bytes]:
    with app.test_client() as c:
        resp = c.open("/memdash" + path, method=method, headers=headers,
                      environ_overrides={"REMOTE_ADDR": client or ""})
        return resp.status_code, resp.get_data()


def _asgi_call(app, method: str, path: str, client: str | None, headers: dict[str, str]) -> tuple[int, bytes]:
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
             + [(b"content-length", b"0")],
             "client": (client, 50000) if client else None}
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def _make(kind: str, token: str | None):
    if kind == "wsgi":
        return probe.wsgi_app(token=token, min_interval=0), _wsgi_call
    if kind == "asgi":
        return probe.asgi_app(token=token, min_interval=0), _asgi_call
    flask = pytest.importorskip("flask")
    app = flask.Flask("acl")
    app.register_blueprint(probe.flask_blueprint(token=token, min_interval=0), url_prefix="/memdash")
    return app, _flask_call


FRONTENDS = ["wsgi", "flask", "asgi"]
LOOPBACK = ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"]
REMOTE = ["192.0.2.7", "10.0.0.1", "128.0.0.1", "::2", "::ffff:192.0.2.7", "fe80::1", "1127.0.0.1"]
PROXY_HEADERS = [{"X-Forwarded-For": "198.51.100.4"}, {"Forwarded": "for=198.51.100.4"},
                 {"X-Real-IP": "198.51.100.4"}]


def _tokenless_expectation(method: str, client: str | None, proxied: bool) -> int:
    if method == "POST":
        return 403  # no token configured: no cleanups over HTTP, from anywhere
    if proxied:
        return 403  # the peer is a proxy: the real client is unknown, so remote
    if client is None:
        return 200  # no peer address: the server is on a Unix socket
    return 200 if client in LOOPBACK else 403


TOKENLESS_ROWS = [(client, proxy) for client in LOOPBACK + REMOTE + [None] for proxy in [None]] + \
    [(client, proxy) for client in ["127.0.0.1", "::1", None, "192.0.2.7"] for proxy in range(len(PROXY_HEADERS))]


@pytest.mark.parametrize("kind", FRONTENDS)
def test_frontends_without_a_token(kind: str) -> None:
    app, call = _make(kind, None)
    failures = []
    for method, path in ACTIONS:
        for client, proxy in TOKENLESS_ROWS:
            headers = dict(PROXY_HEADERS[proxy]) if proxy is not None else {}
            status, body = call(app, method, path, client, headers)
            expected = _tokenless_expectation(method, client, proxy is not None)
            if status != expected:
                failures.append(f"{method} {path} from {client!r} {headers}: {status}, expected {expected}")
            else:
                _check_body(status, body, method, path)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("kind", FRONTENDS)
def test_frontends_with_a_token(kind: str) -> None:
    """With a token, the peer address does not matter: only the token does."""
    app, call = _make(kind, TOKEN)
    failures = []
    presented = {None: 401, "wrong-token": 401, TOKEN[:-1]: 401, TOKEN + "x": 401, TOKEN: 200}
    for method, path in ACTIONS:
        for client in ["127.0.0.1", "192.0.2.7", "::1", None]:
            for proxied in (False, True):
                for token, expected in presented.items():
                    headers = _auth(token)
                    if proxied:
                        headers["X-Forwarded-For"] = "198.51.100.4"
                    status, body = call(app, method, path, client, headers)
                    if status != expected:
                        failures.append(f"{method} {path} from {client!r} proxied={proxied} token={token!r}: "
                                        f"{status}, expected {expected}")
                    else:
                        _check_body(status, body, method, path)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("header,expected", [
    (f"Bearer {TOKEN}", 200), (f"bearer {TOKEN}", 200), (f"BEARER  {TOKEN} ", 200),
    (f"Basic {TOKEN}", 401), ("Bearer", 401), ("Bearer ", 401), (TOKEN, 401), ("", 401),
])
def test_authorization_header_forms(header: str, expected: int) -> None:
    app = probe.wsgi_app(token=TOKEN, min_interval=0)
    status, _ = _wsgi_call(app, "GET", "/", "192.0.2.7", {"Authorization": header} if header else {})
    assert status == expected


def test_token_from_the_environment_guards_the_frontends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMDASH_PROBE_TOKEN", TOKEN)
    app = probe.wsgi_app(min_interval=0)
    assert _wsgi_call(app, "GET", "/", "127.0.0.1", {})[0] == 401
    assert _wsgi_call(app, "POST", "/cleanup/gc", "127.0.0.1", _auth(TOKEN))[0] == 200


def test_a_request_without_a_peer_address_over_tcp_is_not_local() -> None:
    """A front end that cannot tell who is calling must not count the caller as loopback."""
    from memdash.probe.core import ProbeCore, Request

    core = ProbeCore(None, gather=False)
    assert core.handle(Request("GET", "/", client=None, via="tcp")).status == 403
    assert core.handle(Request("GET", "/", client="", via="tcp")).status == 403
    assert core.handle(Request("GET", "/", client="127.0.0.1", via="tcp")).status == 200


@pytest.mark.parametrize("presented,why", [(None, "no token"), ("wrong-token", "wrong token")])
def test_refused_cleanups_are_logged_without_the_token(caplog: pytest.LogCaptureFixture, presented: str | None,
                                                       why: str) -> None:
    app = probe.wsgi_app(token=TOKEN, min_interval=0)
    with caplog.at_level("WARNING", logger="memdash.probe"):
        assert _wsgi_call(app, "POST", "/cleanup/trim", "192.0.2.7", _auth(presented))[0] == 401
        assert _wsgi_call(app, "GET", "/", "192.0.2.7", _auth(presented))[0] == 401
    lines = [r.getMessage() for r in caplog.records if r.name == "memdash.probe"]
    assert lines == [f"cleanup 'trim' from 192.0.2.7 refused: {why}"]
    assert TOKEN not in caplog.text


def test_a_cleanup_refused_for_want_of_a_configured_token_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    app = probe.wsgi_app(min_interval=0)
    with caplog.at_level("WARNING", logger="memdash.probe"):
        assert _wsgi_call(app, "POST", "/cleanup/gc", None, {})[0] == 403
    assert [r.getMessage() for r in caplog.records if r.name == "memdash.probe"] == \
        ["cleanup 'gc' from unix refused: no token configured"]


def test_status_lines_carry_their_reason_phrases() -> None:
    """What curl -i shows: the status with its standard reason, and Allow on a 405."""
    with probe.serve(token=TOKEN, min_interval=60) as handle:
        def status(method: str, path: str, headers: dict[str, str], body: bytes | None = None):
            conn = http.client.HTTPConnection("127.0.0.1", handle.port, timeout=30)
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                return resp.status, resp.reason, resp.getheader("Allow")
            finally:
                conn.close()

        auth = _auth(TOKEN)
        assert status("GET", "/", auth) == (200, "OK", None)
        assert status("GET", "/", {}) == (401, "Unauthorized", None)
        assert status("GET", "/nope", auth) == (404, "Not Found", None)
        assert status("GET", "/cleanup/gc", auth) == (405, "Method Not Allowed", "POST")
        assert status("POST", "/", auth) == (405, "Method Not Allowed", "GET, HEAD")
        assert status("POST", "/cleanup/gc", auth, b"{}") == (200, "OK", None)
        assert status("POST", "/cleanup/gc", auth, b"{}") == (429, "Too Many Requests", None)
        assert status("POST", "/cleanup/gc?generation=x", auth, b"") == (400, "Bad Request", None)
        from memdash.probe.snapshot import available_actions
        if "cuda" not in available_actions():  # no torch here: known action, not available
            assert status("POST", "/cleanup/cuda", auth, b"") == (409, "Conflict", None)
        # A body over the cap is refused on its declared length, before it is read
        # (sending all of it would race the server's close: a broken pipe).
        with socket.create_connection(("127.0.0.1", handle.port), timeout=30) as raw:
            head = "".join(f"{k}: {v}\r\n" for k, v in auth.items())
            raw.sendall(f"POST /cleanup/trim HTTP/1.1\r\nHost: localhost\r\n{head}"
                        f"Content-Length: {2 * 1024 * 1024}\r\n\r\n".encode())
            assert raw.recv(64).split(b"\r\n")[0] == b"HTTP/1.1 413 Content Too Large"
    with probe.serve(min_interval=0) as handle:
        assert _http("127.0.0.1", handle.port, "POST", "/cleanup/gc")[0] == 403
