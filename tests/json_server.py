"""A real loopback HTTP/1.1 server answering every GET with one JSON document:
the simplest endpoint a ``kind = "json"`` (or, with a probe document,
``kind = "probe"``) target reads."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator


class JsonServer:
    """Serves ``doc`` on 127.0.0.1 (an ephemeral port) from construction until
    :meth:`close`, each answer ``delay`` seconds late; ``url`` and ``hits``
    (GETs answered so far) are what a test reads."""

    def __init__(self, doc: Any, *, path: str = "/", delay: float = 0.0) -> None:
        body = json.dumps(doc).encode()
        lock = threading.Lock()
        owner = self
        self.hits = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the poller expects

            def do_GET(self) -> None:  # noqa: N802
                with lock:
                    owner.hits += 1
                if delay:
                    time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{path}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@contextmanager
def json_server(doc: Any, *, path: str = "/", delay: float = 0.0) -> Iterator[JsonServer]:
    """A :class:`JsonServer` for the length of the block."""
    served = JsonServer(doc, path=path, delay=delay)
    try:
        yield served
    finally:
        served.close()
