"""``serve()``: the standalone probe server, on ONE daemon thread.

One thread runs a poll loop over every listening socket (TCP and/or Unix) and
every open connection, all non-blocking: no thread per request or connection,
so the probe adds exactly one thread to the host. Connections are HTTP/1.1
persistent ones (the dashboard polls each probe every second over one kept-alive
connection, which saves it a TCP handshake per poll): each has its own read and
write buffers, every complete request that has arrived is answered in order
(pipelining works), and a response the client is slow to take waits in the
write buffer for POLLOUT. A request is answered start to finish on the loop's
thread, so a cleanup holds the other clients for as long as it runs (cleanups
are serialised by design); reading and writing never block.

Bounded: at most ``MAX_CONNECTIONS`` open connections (a new one beyond that
closes the longest-idle one), an idle keep-alive connection is closed after
``IDLE_TIMEOUT_SECONDS``, a request's head and body must arrive within
``REQUEST_TIMEOUT_SECONDS`` of its first byte (a slowloris client is dropped),
a client that takes none of its answer for ``CLIENT_TIMEOUT_SECONDS`` is
dropped, and head lines, header counts and bodies have caps (answered
400/431/413 and the connection closed). Heads are parsed strictly by
:mod:`memdash.probe.httphead` (checked against h11). Unix-socket listeners
are :mod:`memdash.probe.unixserver`'s, loaded only when one is asked for.

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
from time import monotonic

try:  # the C module under socket.py
    import _socket as _sock
except ImportError:  # pragma: no cover - an interpreter without it
    import socket as _sock  # type: ignore[no-redef]
import select

from memdash.probe.core import (REASONS, ProbeCore, Request, Response, error_response, resolve_token,
                                too_large_response)
from memdash.probe.errors import MAX_BODY_BYTES, ProbeError, UnsafeBindError
from memdash.probe.httphead import HeadError, head_end, incomplete_head_error, parse_head

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any

#: Seconds a client may leave its answer untaken (no byte written) before the
#: loop drops it; also the longest a closing connection is drained ("lingers").
CLIENT_TIMEOUT_SECONDS = 5.0
#: Seconds a kept-alive connection may sit idle between requests.
IDLE_TIMEOUT_SECONDS = 30.0
#: Seconds from a request's first byte to its last (head and body).
REQUEST_TIMEOUT_SECONDS = 10.0
#: Open connections at most; a new one beyond that closes the longest-idle one.
MAX_CONNECTIONS = 64
#: After an error answer the connection is closed, first reading and dropping up
#: to this many bytes the client is still sending (so it sees the answer, not a
#: reset: closing a socket with unread data resets it).
DRAIN_LIMIT_BYTES = 1 << 20
#: Pending connections the kernel queues while the loop is busy.
LISTEN_BACKLOG = 16
#: Answers waiting for a client that does not read: past this, its next
#: pipelined requests wait (and are not read) until it takes some.
WRITE_BUFFER_HIGH = 256 * 1024

_RECV = 65536
POLLIN = getattr(select, "POLLIN", 1)
POLLOUT = getattr(select, "POLLOUT", 4)
_POLLBAD = getattr(select, "POLLERR", 8) | getattr(select, "POLLNVAL", 32)
_HUP = getattr(select, "POLLHUP", 16)
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
#: Statuses after which the request stream cannot be trusted: the connection closes.
_CLOSING = frozenset((400, 411, 413, 431, 505))


class _Conn:
    """One accepted connection's state in the loop."""

    __slots__ = ("sock", "fd", "listener", "address", "rbuf", "wbuf", "since", "started", "closing",
                 "drain", "eof", "held", "linger_until", "linger_left", "continued", "events")

    def __init__(self, sock: Any, listener: _Listener, address: Any, now: float) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.listener = listener
        self.address = address
        self.rbuf = bytearray()
        self.wbuf = bytearray()
        self.since = now  # last byte read or written
        self.started: float | None = None  # first byte of the request being read
        self.closing = False  # close once wbuf is written
        self.drain = False  # ...after reading what the client still sends
        self.eof = False  # the client will send nothing more
        self.held = False  # complete requests wait in rbuf for the answers to drain
        self.linger_until: float | None = None  # closing: answer written, draining input
        self.linger_left = 0
        self.continued = False  # "100 Continue" sent for the request being read
        self.events = 0

    @property
    def idle(self) -> bool:
        """Between requests (or done and draining): the first to go when full."""
        return self.linger_until is not None or (self.started is None and not self.wbuf and not self.closing)


def _error(status: int, message: str) -> Response:
    return error_response(ProbeError(message, status=status))


def _head_error(exc: HeadError) -> Response:
    return _error(exc.status, exc.message)


class _Listener:
    """A listening socket and the core that answers on it."""

    via = "tcp"

    def __init__(self, sock: Any, core: ProbeCore) -> None:
        self.socket = sock
        self.core = core
        self.server_address = sock.getsockname()

    def fileno(self) -> int:
        return self.socket.fileno()

    def accept(self) -> tuple[Any, Any] | None:
        """A newly accepted non-blocking socket and the peer's address, or None."""
        try:
            fd, address = self.socket._accept()
        except OSError:  # nothing pending (another accept won), or a transient error
            return None
        conn = _sock.socket(self.socket.family, _sock.SOCK_STREAM, 0, fd)
        conn.setblocking(False)
        if self.socket.family != _sock.AF_UNIX:
            try:  # one send per answer already; never wait on Nagle for a tail
                conn.setsockopt(_sock.IPPROTO_TCP, _sock.TCP_NODELAY, 1)
            except OSError:
                pass
        return conn, address

    def server_close(self) -> None:
        self.socket.close()

    @staticmethod
    def client_label(address: Any) -> str | None:
        """The client as the core's ``Request.client`` names it (set by each kind of listener)."""
        return None


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


#: Running servers of this process, stopped at exit.
_live: set[ProbeServer] = set()


class _SelectPoll:  # pragma: no cover - only where select.poll is missing
    """``select.poll``'s interface over ``select.select``."""

    def __init__(self) -> None:
        self._fds: dict[int, int] = {}

    def register(self, fd: int, events: int) -> None:
        self._fds[fd] = events

    modify = register

    def unregister(self, fd: int) -> None:
        self._fds.pop(fd, None)

    def poll(self, timeout_ms: float) -> list[tuple[int, int]]:
        r = [fd for fd, ev in self._fds.items() if ev & POLLIN]
        w = [fd for fd, ev in self._fds.items() if ev & POLLOUT]
        rr, ww, _ = select.select(r, w, [], timeout_ms / 1000)
        out: dict[int, int] = {}
        for fd in rr:
            out[fd] = POLLIN
        for fd in ww:
            out[fd] = out.get(fd, 0) | POLLOUT
        return list(out.items())


class ProbeServer:
    """A running probe server. ``url`` is ``http://host:port/`` (or
    ``unix:/path`` when there is no TCP listener); ``stop()`` closes every
    socket and connection and removes the Unix socket file. Usable as a
    context manager."""

    def __init__(self, servers: list[Any], host: str | None, port: int | None, socket_path: str | None) -> None:
        self._servers = servers
        self.host = host
        self.port = port
        self.socket_path = socket_path
        self.pid = os.getpid()
        self.closed = False
        self._stopping = False
        self._conns: dict[int, _Conn] = {}
        self._dropped: set[int] = set()  # fds closed while handling one poll's events
        #: Connections accepted since start (tests read it to count connections).
        self.accepted = 0
        self._wake_r, self._wake_w = os.pipe()
        poll = getattr(select, "poll", None)
        self._poller = poll() if poll is not None else _SelectPoll()
        import threading  # here, in the caller's thread: see the module's docstring

        self._thread = threading.Thread(target=self._loop, name="memdash-probe", daemon=True)
        self._thread.start()
        _live.add(self)

    @property
    def url(self) -> str | None:
        """Where to reach the probe: the TCP URL, else ``unix:<socket path>``;
        None when it listens nowhere (no TCP asked for, and no safe place for
        the discovery socket)."""
        if self.port is not None and self.host is not None:
            host = f"[{self.host}]" if ":" in self.host else self.host
            return f"http://{host}:{self.port}/"
        return f"unix:{self.socket_path}" if self.socket_path else None

    @property
    def connections(self) -> int:
        """Connections open now."""
        return len(self._conns)

    # ------------------------------------------------------------------ the loop

    def _loop(self) -> None:
        poller = self._poller
        wake = self._wake_r
        listeners = {srv.fileno(): srv for srv in self._servers}
        conns = self._conns
        for fd in listeners:
            poller.register(fd, POLLIN)
        poller.register(wake, POLLIN)
        next_check = 0.0
        try:
            while not self._stopping:
                if conns:
                    timeout = max(0.0, next_check - monotonic())
                    timeout_ms = int(timeout * 1000) + 1
                else:
                    timeout_ms = 1000
                try:
                    events = poller.poll(timeout_ms)
                except InterruptedError:
                    continue
                except (OSError, ValueError):
                    return  # our sockets were closed under us
                if self._stopping:
                    return
                now = monotonic()
                dropped = self._dropped
                dropped.clear()
                for fd, ev in events:
                    if fd == wake:
                        return
                    if fd in dropped:
                        continue  # closed earlier in this batch: the fd may be a new connection's now
                    try:
                        conn = conns.get(fd)
                        if conn is not None:
                            self._on_event(conn, ev, now)
                        elif fd in listeners:
                            self._accept(listeners[fd], now)
                    except Exception:  # the loop must survive any one connection
                        conn = conns.get(fd)
                        if conn is not None:
                            self._close(conn)
                if now >= next_check:
                    self._sweep(now)
                    next_check = now + self._check_every()
        finally:
            self._close_all()

    @staticmethod
    def _check_every() -> float:
        """How often the timeouts are checked: each is kept to within a quarter of itself, or 1 s."""
        return min(1.0, min(IDLE_TIMEOUT_SECONDS, REQUEST_TIMEOUT_SECONDS, CLIENT_TIMEOUT_SECONDS) / 4)

    def _accept(self, listener: _Listener, now: float) -> None:
        for _ in range(LISTEN_BACKLOG):
            accepted = listener.accept()
            if accepted is None:
                return
            sock, address = accepted
            if self._stopping:
                sock.close()
                return
            if len(self._conns) >= MAX_CONNECTIONS:
                self._evict()
            conn = _Conn(sock, listener, address, now)
            self._conns[conn.fd] = conn
            self.accepted += 1
            conn.events = POLLIN
            self._poller.register(conn.fd, POLLIN)

    def _evict(self) -> None:
        """Make room: close the longest-idle connection, else the one whose
        request has been arriving longest (a slow client, likely)."""
        conns = list(self._conns.values())
        idle = [c for c in conns if c.idle]
        if idle:
            victim = min(idle, key=lambda c: c.since)
        else:
            victim = min(conns, key=lambda c: c.started if c.started is not None else c.since)
        self._close(victim)

    def _sweep(self, now: float) -> None:
        for conn in list(self._conns.values()):
            if conn.linger_until is not None:
                expired = now >= conn.linger_until
            elif conn.wbuf:
                expired = now - conn.since > CLIENT_TIMEOUT_SECONDS
            elif conn.started is not None:
                expired = now - conn.started > REQUEST_TIMEOUT_SECONDS
            else:
                expired = now - conn.since > IDLE_TIMEOUT_SECONDS
            if expired:
                self._close(conn)

    def _on_event(self, conn: _Conn, ev: int, now: float) -> None:
        if ev & _POLLBAD:
            self._close(conn)
            return
        if ev & POLLOUT and conn.wbuf and not self._flush(conn, now):
            return
        if ev & (POLLIN | _HUP) and conn.events & POLLIN:
            try:
                chunk = conn.sock.recv(_RECV)
            except (BlockingIOError, InterruptedError):
                chunk = None
            except OSError:
                self._close(conn)
                return
            if chunk is not None:
                conn.since = now
                if conn.linger_until is not None:
                    conn.linger_left -= len(chunk)
                    if not chunk or conn.linger_left <= 0:
                        self._close(conn)
                    return
                if chunk:
                    if conn.started is None:
                        conn.started = now
                    conn.rbuf += chunk
                else:
                    conn.eof = True
                if not conn.closing:
                    self._process(conn, now)
                if conn.eof:
                    conn.closing = True  # answer what came, then close
                    conn.drain = False
        elif ev & _HUP and not conn.wbuf:
            self._close(conn)
            return
        self._after(conn, now)

    def _after(self, conn: _Conn, now: float) -> None:
        """Write what can be written; close, linger or re-arm the poll."""
        if conn.wbuf and not self._flush(conn, now):
            return
        while conn.held and len(conn.wbuf) < WRITE_BUFFER_HIGH:
            # Requests held back while the answers piled up: their turn now.
            self._process(conn, now)
            if conn.wbuf and not self._flush(conn, now):
                return
        if conn.closing and not conn.wbuf:
            if conn.drain and not conn.eof:
                self._linger(conn, now)
            else:
                self._close(conn)
            return
        want = POLLOUT if conn.wbuf else 0
        if conn.linger_until is not None or (not conn.closing and not conn.eof and len(conn.wbuf) < WRITE_BUFFER_HIGH):
            want |= POLLIN
        if want != conn.events:
            conn.events = want
            self._poller.modify(conn.fd, want)

    def _flush(self, conn: _Conn, now: float) -> bool:
        """Write what the socket takes now; False if the connection is gone."""
        try:
            sent = conn.sock.send(conn.wbuf)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            self._close(conn)
            return False
        if sent:
            del conn.wbuf[:sent]
            conn.since = now
        return True

    def _linger(self, conn: _Conn, now: float) -> None:
        """The answer is written: send FIN, then read and drop what the client
        still sends (up to a limit), so it reads our answer rather than a reset."""
        try:
            conn.sock.shutdown(_sock.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.rbuf.clear()
        conn.linger_until = now + CLIENT_TIMEOUT_SECONDS
        conn.linger_left = DRAIN_LIMIT_BYTES
        conn.events = POLLIN
        self._poller.modify(conn.fd, POLLIN)

    def _process(self, conn: _Conn, now: float) -> None:
        """Answer every complete request in the read buffer, in order."""
        buf = conn.rbuf
        conn.held = False
        while buf and not conn.closing:
            if len(conn.wbuf) >= WRITE_BUFFER_HIGH:
                conn.held = True  # the rest waits until the client takes some answers
                return
            if buf[0] in (10, 13):  # blank lines before a request are ignored (RFC 9112 2.2)
                del buf[:len(buf) - len(buf.lstrip(b"\r\n"))]
                if not buf:
                    break
            end = head_end(buf)
            if end < 0:
                err = incomplete_head_error(buf)
                if err is not None:
                    self._answer(conn, _head_error(err), "GET", False)
                return
            try:
                head = parse_head(buf, end)
            except HeadError as exc:
                self._answer(conn, _head_error(exc), "GET", False)
                return
            method, target, headers, length = head.method.upper(), head.target, head.headers, head.length
            core = conn.listener.core
            if length > core.max_body:
                self._answer(conn, too_large_response(core.max_body), method, False)
                return
            if len(buf) < end + length:  # the body is still coming
                if not conn.continued and head.expects_continue:
                    conn.continued = True
                    conn.wbuf += _CONTINUE
                return
            body = bytes(buf[end:end + length])
            del buf[:end + length]
            conn.continued = False
            conn.started = now if buf else None
            if target.startswith(("http://", "https://")):  # absolute form: keep the path
                target = "/" + target.split("/", 3)[-1] if target.count("/") >= 3 else "/"
            path, _, query = target.partition("?")
            listener = conn.listener
            req = Request(method=method, path=path, query=query, headers=headers, body=body,
                          client=listener.client_label(conn.address), via=listener.via)
            resp = core.handle(req)
            self._answer(conn, resp, method, head.keep_alive and not self._stopping)

    def _answer(self, conn: _Conn, resp: Response, method: str, keep: bool) -> None:
        keep = keep and resp.status not in _CLOSING
        lines = [f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Unknown')}", "Server: memdash-probe"]
        if keep:
            lines += ["Connection: keep-alive", f"Keep-Alive: timeout={max(1, int(IDLE_TIMEOUT_SECONDS))}"]
        else:
            lines.append("Connection: close")
        lines += [f"{name}: {value}" for name, value in resp.headers]
        lines.append(f"Content-Length: {len(resp.body)}")
        conn.wbuf += ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if method != "HEAD":
            conn.wbuf += resp.body
        if not keep:
            conn.closing = True
            # An error may leave a body or more requests on the way: drain before closing.
            conn.drain = bool(conn.rbuf) or resp.status in _CLOSING
            conn.started = None

    def _close(self, conn: _Conn) -> None:
        if self._conns.pop(conn.fd, None) is None:
            return
        self._dropped.add(conn.fd)
        try:
            self._poller.unregister(conn.fd)
        except (KeyError, ValueError, OSError):
            pass
        try:
            conn.sock.shutdown(_sock.SHUT_WR)  # a FIN even if a forked child holds a copy
        except OSError:
            pass
        conn.sock.close()

    def _close_all(self) -> None:
        for conn in list(self._conns.values()):
            try:
                self._close(conn)
            except Exception:
                pass

    # ------------------------------------------------------------------ lifecycle

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, close the sockets and connections, remove the socket file (idempotent)."""
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
            self._close_all()  # the loop closed them on its way out, unless it is still busy
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
        """In a forked child: close the inherited sockets and connections (without
        shutting them down: they are the parent's) but leave the parent's socket
        file, which the parent still serves."""
        self.closed = True
        self._stopping = True
        _live.discard(self)
        socks = [srv.socket for srv in self._servers] + [c.sock for c in list(self._conns.values())]
        self._conns = {}
        for sock in socks:
            try:
                sock.close()
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
          max_body: int = MAX_BODY_BYTES, allowed_hosts: tuple[str, ...] | list[str] = ()) -> ProbeServer:
    """Serve this process's probe on one daemon thread; returns a :class:`ProbeServer`.

    ``host``/``port``: the TCP listener (``port=0`` picks a free port, ``None``
    means no TCP listener). ``token``: the shared secret, else
    ``MEMDASH_PROBE_TOKEN``; required for any non-loopback ``host`` (raises
    :class:`UnsafeBindError` otherwise). ``unix_socket``: ``True`` adds the
    discovery socket ``<socket_dir()>/<pid>.sock``, a string an explicit path;
    sockets are mode 0600, and over one in a private (0700, ours) directory
    cleanups need no token. When no private directory can be had for the
    discovery socket (another user squats ``/tmp/memdash-<uid>``), one warning
    is logged and the server runs without it (``socket_path`` is None); an
    explicit path that holds anything but a stale socket of ours is refused
    with :class:`ProbeError`, never deleted. ``min_interval``: seconds between
    two runs of the same cleanup (default ``MEMDASH_PROBE_MIN_INTERVAL`` or 5).
    ``max_body``: request body cap, bytes. ``allowed_hosts``: ``Host`` names
    besides loopback ones and ``host`` that tokenless reads may carry (see
    :meth:`ProbeCore._authorize`: DNS rebinding).
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
    core = ProbeCore(resolved, min_interval=min_interval, max_body=max_body, gather=False,
                     hosts=(host,) + tuple(allowed_hosts))
    servers: list[Any] = []
    path: str | None = None
    try:
        if port is not None:
            servers.append(_TCPServer(host, port, core))
        if unix_socket:
            from memdash.probe import unixserver  # here: a TCP-only host never loads it

            if unix_socket is True:
                path = unixserver.discovery_socket(core, servers)
            else:
                path = os.fspath(unix_socket)
                servers.append(unixserver.UnixServer(path, core))
    except Exception:
        for srv in servers:
            srv.server_close()
        raise
    bound_port = servers[0].server_address[1] if port is not None else None
    return ProbeServer(servers, host if port is not None else None, bound_port, path)
