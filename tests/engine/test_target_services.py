"""Targets meet services: real prometheus_client apps under real gunicorn/uvicorn on loopback."""

from __future__ import annotations

import json
import subprocess
import sys

from prom_servers import serve

from memdash.sources.poller import NO_PROCESS_METRICS


def snapshot(*args: str, timeout: float = 60) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "memdash", "snapshot", "--json", "--no-discover", *args],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_multiprocess_mode_page_is_an_error_in_words_and_exit_3(tmp_path):
    with serve("gunicorn", 2, tmp_path, multiproc=True) as (url, _master):
        rc, doc = snapshot(url)
    (t,) = doc["targets"]
    assert t["ok"] is False
    assert t["error"] == NO_PROCESS_METRICS
    assert t["level"] is None and t["rss_bytes"] is None
    assert doc["level"] != "excellent"
    if doc["level"] != "critical":  # the box itself may be critical on a loaded CI machine
        assert rc == 3


def test_a_target_with_no_memory_figure_is_unknown_never_healthy():
    """A page whose RSS is unreadable (NaN) is read, but yields no memory figure:
    level unknown, the document's level not "excellent", exit 3."""
    import http.server
    import threading

    body = b"# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes NaN\nprocess_open_fds 7\n"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        rc, doc = snapshot(f"http://127.0.0.1:{server.server_address[1]}/metrics")
    finally:
        server.shutdown()
        server.server_close()
    (t,) = doc["targets"]
    assert t["ok"] is True and t["rss_bytes"] is None and t["level"] is None
    assert doc["level"] in (None, "critical")  # unknown, unless the box itself is critical
    assert rc == (2 if doc["level"] == "critical" else 3)
