"""Real loopback servers for the remote-target tests (127.0.0.1 only).

- :func:`wsgi_server`: a Flask/WSGI app on a werkzeug server thread.
- :func:`raw_server`: a TCP listener whose every connection goes to a handler
  (for servers that misbehave below HTTP: hang, trickle, flood).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Callable, Iterator

from werkzeug.serving import make_server

TOKEN = "tok-9f8e7d6c5b4a-SECRET"
TOKEN_ENV = "MEMDASH_TEST_TOKEN"


@contextlib.contextmanager
def wsgi_server(app: object, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` on a free port; yields ``http://host:port``."""
    server = make_server(host, 0, app, threaded=True)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class RawServer:
    """A TCP server on 127.0.0.1 that hands each connection to ``handler(conn, server)``.

    ``stats`` is free for handlers to record into (bytes sent, headers seen).
    Handler exceptions (the client hung up) are swallowed: they are expected.
    """

    def __init__(self, handler: Callable[[socket.socket, "RawServer"], None]) -> None:
        self.handler = handler
        self.stats: dict[str, object] = {}
        self.stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self._conns.append(conn)
            t = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            self.handler(conn, self)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        self.stop.set()
        self._accept.join(5)
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            t.join(5)
        self.sock.close()


def read_request(conn: socket.socket) -> bytes:
    """The request head (up to the blank line), read with a short timeout."""
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def free_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
