"""``serve()``: the standalone probe server, on ONE daemon thread.

One thread runs a poll loop over every listening socket (TCP and/or Unix) and
answers each request itself, start to finish: no thread per request, so the
probe adds exactly one thread to the host. The price is that one slow client
delays the others; each connection gets a 5 s socket timeout so a stalled
client holds the loop at most that long, and answers are HTTP/1.0 (one request
per connection) so an idle keep-alive never holds it.

Written over the C modules ``_socket`` and ``select`` rather than
``socket``/``socketserver``/``selectors`` or ``http.server``: those would add
several MiB to a host that had not loaded them (``socket.py`` alone pulls in
``enum`` and ``selectors``). The loop thread is a ``threading.Thread`` named
``memdash-probe``; ``threading`` is imported when the server starts, in the
caller's thread. (Not a bare ``_thread`` thread to save its ~0.7 MiB: on
Python < 3.13, if ``threading`` were then first imported from the probe's
thread, for instance by ``logging``, it would take that thread for the main
one and the interpreter would hang at exit waiting for it.)
"""

from __future__ import annotations

import atexit
import os
from _thread import get_ident

try:  # the C module under socket.py
    import _socket as _sock
except ImportError:  # pragma: no cover - an interpreter without it
    import socket as _sock
import select

from memdash.probe.core import (REASONS, ProbeCore, Request, Response, error_response, resolve_token,
                                too_large_response)
from memdash.probe.errors import MAX_BODY_BYTES, ProbeError, UnsafeBindError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any

#: Seconds a connection may stall before the loop drops it.
CLIENT_TIMEOUT_SECONDS = 5.0
#: Bodies over the cap but under this are read and dropped before the 413.
DRAIN_LIMIT_BYTES = 1 << 20
#: Longest request line or header line, and most header lines, accepted.
MAX_LINE_BYTES = 8192
MAX_HEADERS = 100
#: Pending connections the kernel queues while the loop answers one.
LISTEN_BACKLOG = 16


def _drain(stream: Any, length: int) -> None:
    try:
        while length > 0:
            chunk = stream.read(min(length, 65536))
            if not chunk:
                return
            length -= len(chunk)
    except OSError:
        pass


class _Reader:
    """Buffered reads from a connected socket: ``readline(limit)`` and
    ``read(n)`` behave as a ``BufferedReader``'s (a short result only at EOF)."""

    __slots__ = ("_sock", "_buf")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = bytearray()

    def _fill(self) -> bool:
        chunk = self._sock.recv(65536)
        if not chunk:
            return False
        self._buf += chunk
        return True

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def readline(self, limit: int) -> bytes:
        start = 0
        while True:
            end = self._buf.find(b"\n", start, limit)
            if end >= 0:
                return self._take(end + 1)
            if len(self._buf) >= limit:
                return self._take(limit)
            start = len(self._buf)
            if not self._fill():
                return self._take(len(self._buf))

    def read(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not self._fill():
                break
        return self._take(n)


class _Connection:
    """A minimal HTTP/1.0 server side: one request per connection.

    Written here rather than taken from ``http.server``, whose import pulls in
    ``http.client``, ``email`` and ``ssl`` (~5 MiB of RSS) for features the
    probe does not use. It accepts what the probe needs (a request line,
    headers, a Content-Length body) and refuses the rest with a status.
    """

    def __init__(self, sock: Any, client_address: Any, server: Any) -> None:
        self.sock = sock
        self.client_address = client_address
        self.server = server
        self.rfile = _Reader(sock)

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
            self.sock.sendall(head if method == "HEAD" else head + resp.body)
        except OSError:
            pass


def _error(status: int, message: str) -> Response:
    return error_response(ProbeError(message, status=status))


class _Listener:
    """A listening socket and the core that answers on it. ``handle_request()``
    accepts one pending connection (if any) and answers it, start to finish."""

    via = "tcp"

    def __init__(self, sock: Any, core: ProbeCore) -> None:
        self.socket = sock
        self.core = core
        self.server_address = sock.getsockname()

    def fileno(self) -> int:
        return self.socket.fileno()

    def handle_request(self) -> None:
        try:
            fd, address = self.socket._accept()
        except OSError:  # nothing pending after all (another accept won), or a transient error
            return
        conn = _sock.socket(self.socket.family, _sock.SOCK_STREAM, 0, fd)
        try:
            conn.settimeout(CLIENT_TIMEOUT_SECONDS)
            _Connection(conn, address, self).handle()
        except Exception:  # no tracebacks on the host's stderr for a client that hung up
            pass
        finally:
            try:
                conn.shutdown(_sock.SHUT_WR)
            except OSError:
                pass
            conn.close()

    def server_close(self) -> None:
        self.socket.close()


class _TCPServer(_Listener):
    via = "tcp"

    def __init__(self, host: str, port: int, core: ProbeCore) -> None:
        family = _sock.AF_INET6 if ":" in host else _sock.AF_INET
        sock = _sock.socket(family, _sock.SOCK_STREAM)
        try:
            sock.setsockopt(_sock.SOL_SOCKET, _sock.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(LISTEN_BACKLOG)
            sock.settimeout(0)  # accept() returns at once when nothing is pending
        except BaseException:
            sock.close()
            raise
        super().__init__(sock, core)

    @staticmethod
    def client_label(address: Any) -> str | None:
        return str(address[0]) if isinstance(address, tuple) and address else None


class _UnixServer(_Listener):
    def __init__(self, path: str, core: ProbeCore) -> None:
        from memdash.probe import discovery  # here: only Unix sockets need it

        self.path = path
        if os.path.exists(path):
            if discovery._listening(path):
                raise ProbeError(f"another process already listens on {path}")
            os.unlink(path)  # a stale socket from a dead process
        sock = _sock.socket(_sock.AF_UNIX, _sock.SOCK_STREAM)
        try:
            sock.bind(path)
            os.chmod(path, 0o600)
            sock.listen(LISTEN_BACKLOG)
            sock.settimeout(0)
        except BaseException:
            sock.close()
            raise
        super().__init__(sock, core)
        # Trusted (no token for cleanups) only if we made it private ourselves.
        self.via = "unix-private" if discovery.is_private(path) else "unix"

    @staticmethod
    def client_label(address: Any) -> str:
        return "unix"


#: Running servers of this process, stopped at exit.
_live: set[ProbeServer] = set()


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
        self._stopping = False
        self._wake_r, self._wake_w = os.pipe()
        import threading  # here, in the caller's thread: see the module's docstring

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
        wake = self._wake_r
        by_fd = {srv.fileno(): srv for srv in self._servers}
        poll = getattr(select, "poll", None)
        if poll is not None:
            poller = poll()
            for fd in by_fd:
                poller.register(fd, select.POLLIN)
            poller.register(wake, select.POLLIN)

            def ready() -> list[int]:
                return [fd for fd, _ in poller.poll(1000)]
        else:  # pragma: no cover - no poll() on this system
            fds = list(by_fd) + [wake]

            def ready() -> list[int]:
                return select.select(fds, [], [], 1.0)[0]

        while not self._stopping:
            try:
                fds_ready = ready()
            except InterruptedError:
                continue
            except (OSError, ValueError):
                return  # our sockets were closed under us
            for fd in fds_ready:
                if fd == wake or self._stopping:
                    return
                try:
                    by_fd[fd].handle_request()
                except Exception:  # the loop must survive any one request
                    pass

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, close the sockets, remove the socket file (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self._stopping = True
        _live.discard(self)
        if self.pid == os.getpid():
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass
            if self._thread.ident != get_ident():
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
        self._stopping = True
        _live.discard(self)
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

    def __enter__(self) -> ProbeServer:
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
    if host in ("localhost", "localhost.", "ip6-localhost", "127.0.0.1", "::1"):
        return True
    import ipaddress  # here: only for a host that is not one of the usual loopback names

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
            from memdash.probe import discovery

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
    from memdash.probe import discovery

    core = ProbeCore(None, gather=False)
    path = discovery.socket_path()
    return ProbeServer([_UnixServer(path, core)], None, None, path)
