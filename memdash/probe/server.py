"""``serve()``: the standalone probe server, on ONE daemon thread.

One thread runs a selector loop over every listening socket (TCP and/or Unix)
and answers each request itself, start to finish: no thread per request, so
the probe adds exactly one thread to the host. The price is that one slow
client delays the others; each connection gets a 5 s socket timeout so a
stalled client holds the loop at most that long, and answers are HTTP/1.0
(one request per connection) so an idle keep-alive never holds it. The HTTP
side is a few lines over ``socketserver`` (see :class:`_Handler`).
"""

from __future__ import annotations

import atexit
import os
import selectors
import socket
import socketserver
import threading
import weakref
from typing import Any

from memdash.probe import discovery
from memdash.probe.core import (REASONS, ProbeCore, Request, Response, error_response, resolve_token,
                                too_large_response)
from memdash.probe.errors import MAX_BODY_BYTES, ProbeError, UnsafeBindError

#: Seconds a connection may stall before the loop drops it.
CLIENT_TIMEOUT_SECONDS = 5.0
#: Bodies over the cap but under this are read and dropped before the 413.
DRAIN_LIMIT_BYTES = 1 << 20
#: Longest request line or header line, and most header lines, accepted.
MAX_LINE_BYTES = 8192
MAX_HEADERS = 100


def _drain(stream: Any, length: int) -> None:
    try:
        while length > 0:
            chunk = stream.read(min(length, 65536))
            if not chunk:
                return
            length -= len(chunk)
    except OSError:
        pass


class _Handler(socketserver.StreamRequestHandler):
    """A minimal HTTP/1.0 server side: one request per connection.

    Written here rather than taken from ``http.server``, whose import pulls in
    ``http.client``, ``email`` and ``ssl`` (~5 MiB of RSS) for features the
    probe does not use. It accepts what the probe needs (a request line,
    headers, a Content-Length body) and refuses the rest with a status.
    """

    timeout = CLIENT_TIMEOUT_SECONDS  # StreamRequestHandler sets it on the socket

    def handle(self) -> None:
        try:
            resp, method = self._answer()
        except (OSError, ValueError):
            return  # the client went away or sent garbage: nobody to answer
        if resp is not None:
            self._send(resp, method)

    def _answer(self) -> tuple[Response | None, str]:
        srv: Any = self.server
        core: ProbeCore = srv.core
        line = self.rfile.readline(MAX_LINE_BYTES + 1)
        if not line:
            return None, "GET"
        parts = line.decode("latin-1").split()
        if len(line) > MAX_LINE_BYTES or len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return _error(400, "malformed request line"), "GET"
        method, target = parts[0].upper(), parts[1]
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            raw = self.rfile.readline(MAX_LINE_BYTES + 1)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, sep, value = raw.decode("latin-1").partition(":")
            if len(raw) > MAX_LINE_BYTES or not sep:
                return _error(431 if sep else 400, "malformed or oversized header"), method
            headers[name.strip().lower()] = value.strip()
        else:
            return _error(431, f"more than {MAX_HEADERS} headers"), method
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return _error(411, "send a Content-Length (chunked bodies are not accepted)"), method
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            return _error(400, "bad Content-Length"), method
        if length > core.max_body:
            if length <= DRAIN_LIMIT_BYTES:
                # Read what the client is sending before answering: closing a
                # socket with unread data resets it, and the client would see
                # "connection reset" instead of our 413.
                _drain(self.rfile, length)
            return too_large_response(core.max_body), method
        body = self.rfile.read(length) if length else b""
        if target.startswith(("http://", "https://")):  # absolute form: keep the path
            target = "/" + target.split("/", 3)[-1] if target.count("/") >= 3 else "/"
        path, _, query = target.partition("?")
        req = Request(method=method, path=path, query=query, headers=headers, body=body,
                      client=srv.client_label(self.client_address), via=srv.via)
        return core.handle(req), method

    def _send(self, resp: Response, method: str) -> None:
        lines = [f"HTTP/1.0 {resp.status} {REASONS.get(resp.status, 'Unknown')}", "Server: memdash-probe",
                 "Connection: close"]
        lines += [f"{name}: {value}" for name, value in resp.headers]
        lines.append(f"Content-Length: {len(resp.body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head if method == "HEAD" else head + resp.body)
        except OSError:
            pass


def _error(status: int, message: str) -> Response:
    return error_response(ProbeError(message, status=status))


class _Quiet:
    """Mixin: no tracebacks on stderr for a client that hung up."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class _TCPServer(_Quiet, socketserver.TCPServer):
    allow_reuse_address = True
    via = "tcp"

    def __init__(self, host: str, port: int, core: ProbeCore) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.core = core
        super().__init__((host, port), _Handler)

    @staticmethod
    def client_label(address: Any) -> str | None:
        return str(address[0]) if isinstance(address, tuple) and address else None


class _UnixServer(_Quiet, socketserver.UnixStreamServer):
    def __init__(self, path: str, core: ProbeCore) -> None:
        self.core = core
        self.path = path
        super().__init__(path, _Handler)
        # Trusted (no token for cleanups) only if we made it private ourselves.
        self.via = "unix-private" if discovery.is_private(path) else "unix"

    def server_bind(self) -> None:
        if os.path.exists(self.path):
            if discovery._listening(self.path):
                raise ProbeError(f"another process already listens on {self.path}")
            os.unlink(self.path)  # a stale socket from a dead process
        super().server_bind()
        os.chmod(self.path, 0o600)

    @staticmethod
    def client_label(address: Any) -> str:
        return "unix"


_live: "weakref.WeakSet[ProbeServer]" = weakref.WeakSet()


class ProbeServer:
    """A running probe server. ``url`` is ``http://host:port/`` (or
    ``unix:/path`` when there is no TCP listener); ``stop()`` closes every
    socket and removes the Unix socket file. Usable as a context manager."""

    def __init__(self, servers: list[Any], host: str | None, port: int | None, socket_path: str | None) -> None:
        self._servers = servers
        self.host = host
        self.port = port
        self.socket_path = socket_path
        self.pid = os.getpid()
        self.closed = False
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._loop, name="memdash-probe", daemon=True)
        self._thread.start()
        _live.add(self)

    @property
    def url(self) -> str:
        """Where to reach the probe: the TCP URL, else ``unix:<socket path>``."""
        if self.port is not None and self.host is not None:
            host = f"[{self.host}]" if ":" in self.host else self.host
            return f"http://{host}:{self.port}/"
        return f"unix:{self.socket_path}"

    def _loop(self) -> None:
        with selectors.DefaultSelector() as sel:
            for srv in self._servers:
                srv.timeout = 0  # handle_request() returns at once when nothing is pending
                sel.register(srv.socket, selectors.EVENT_READ, srv)
            sel.register(self._wake_r, selectors.EVENT_READ, None)
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=1.0):
                    if key.data is None:
                        return
                    try:
                        key.data.handle_request()
                    except Exception:  # the loop must survive any one request
                        pass

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, close the sockets, remove the socket file (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        if self.pid == os.getpid():
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass
            if self._thread is not threading.current_thread():
                self._thread.join(timeout)
        for srv in self._servers:
            srv.server_close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.socket_path and self.pid == os.getpid():
            try:
                os.unlink(self.socket_path)
            except OSError:
                pass

    def forget_after_fork(self) -> None:
        """In a forked child: close the inherited sockets but leave the
        parent's socket file, which the parent still serves."""
        self.closed = True
        for srv in self._servers:
            try:
                srv.socket.close()
            except OSError:
                pass
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> "ProbeServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ProbeServer {self.url} {'stopped' if self.closed else 'running'}>"


@atexit.register
def _stop_all_at_exit() -> None:
    for srv in list(_live):
        if srv.pid == os.getpid():  # a forked child must not remove its parent's socket
            srv.stop(timeout=1.0)


def _is_loopback_host(host: str) -> bool:
    if host in ("localhost", "localhost.", "ip6-localhost"):
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(host: str = "127.0.0.1", port: int | None = 0, token: str | None = None,
          unix_socket: bool | str | None = None, *, min_interval: float | None = None,
          max_body: int = MAX_BODY_BYTES) -> ProbeServer:
    """Serve this process's probe on one daemon thread; returns a :class:`ProbeServer`.

    ``host``/``port``: the TCP listener (``port=0`` picks a free port, ``None``
    means no TCP listener). ``token``: the shared secret, else
    ``MEMDASH_PROBE_TOKEN``; required for any non-loopback ``host`` (raises
    :class:`UnsafeBindError` otherwise). ``unix_socket``: ``True`` adds the
    discovery socket ``<socket_dir()>/<pid>.sock``, a string an explicit path;
    sockets are mode 0600, and over one in a private (0700, ours) directory
    cleanups need no token. ``min_interval``: seconds between two runs of the
    same cleanup (default ``MEMDASH_PROBE_MIN_INTERVAL`` or 5). ``max_body``:
    request body cap, bytes.
    """
    resolved = resolve_token(token)
    if port is not None and not _is_loopback_host(host) and resolved is None:
        raise UnsafeBindError(
            f"refusing to serve the probe on {host!r} without a token: anyone who can reach it could "
            "read this process and run cleanups. Pass token=... (or set MEMDASH_PROBE_TOKEN), "
            "or bind 127.0.0.1 / a Unix socket.")
    if port is None and not unix_socket:
        raise ValueError("serve() needs a TCP port or a Unix socket")
    # gather=False: a standalone server answers for its own process only.
    core = ProbeCore(resolved, min_interval=min_interval, max_body=max_body, gather=False)
    servers: list[Any] = []
    path: str | None = None
    try:
        if port is not None:
            servers.append(_TCPServer(host, port, core))
        if unix_socket:
            path = discovery.socket_path() if unix_socket is True else os.fspath(unix_socket)
            servers.append(_UnixServer(path, core))
    except Exception:
        for srv in servers:
            srv.server_close()
        raise
    bound_port = servers[0].server_address[1] if port is not None else None
    return ProbeServer(servers, host if port is not None else None, bound_port, path)


def serve_worker_socket() -> ProbeServer:
    """A pre-fork worker's own discovery socket: answers for this worker only."""
    core = ProbeCore(None, gather=False)
    path = discovery.socket_path()
    return ProbeServer([_UnixServer(path, core)], None, None, path)
