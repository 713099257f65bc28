"""A real loopback HTTP/1.1 server answering every GET with one JSON document:
the simplest endpoint a ``kind = "json"`` target reads."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator


class JsonServer:
    """The running server: its ``url`` and how many GETs it has answered."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.hits = 0


@contextmanager
def json_server(doc: Any, *, path: str = "/", delay: float = 0.0) -> Iterator[JsonServer]:
    """Serve ``doc`` on 127.0.0.1 (an ephemeral port), each answer ``delay``
    seconds late; shut down when the block ends."""
    body = json.dumps(doc).encode()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the poller expects

        def do_GET(self) -> None:  # noqa: N802
            with lock:
                served.hits += 1
            if delay:
                time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    served = JsonServer(f"http://127.0.0.1:{server.server_address[1]}{path}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
