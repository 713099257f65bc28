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


def _sum_vmrss(master: int) -> int:
    from prom_servers import children, vmrss

    return vmrss(master) + sum(vmrss(c) for c in children(master))


def _watch(url: str, count: int) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "memdash", "snapshot", "--json", "--no-discover", "--watch", "1",
                           "--count", str(count), url], capture_output=True, text=True, timeout=120)
    docs = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert len(docs) == count, proc.stderr
    return docs


def test_gunicorn_target_is_its_services_total_and_the_sawtooth_is_gone(tmp_path):
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    with serve("gunicorn", 3, tmp_path, mb=40) as (url, master):
        # What the endpoint itself says: one worker's RSS, whichever answered.
        one_worker = []
        for _ in range(4):
            page = httpx.get(url, timeout=10).text
            for family in text_string_to_metric_families(page):
                one_worker += [s.value for s in family.samples if s.name == "process_resident_memory_bytes"]
        before = _sum_vmrss(master)
        docs = _watch(url, 4)
        after = _sum_vmrss(master)
    figures = []
    for doc in docs:
        (t,) = doc["targets"]
        assert t["ok"] is True, t["error"]
        assert t["workers"] == 3 and t["workers_seen"] is False
        assert "gunicorn" in t["service"]
        assert t["limit_bytes"] and t["level"] is not None  # the service's limit (the host's here) and level
        figures.append(t["rss_bytes"])
    # The service's total, not one worker's: within 5 % of VmRSS summed over master and workers.
    assert min(abs(figures[-1] - before), abs(figures[-1] - after)) <= 0.05 * before, (figures, before, after)
    assert figures[-1] > 2.5 * max(one_worker)
    # No sawtooth: successive polls agree within 5 %.
    for a, b in zip(figures, figures[1:]):
        assert abs(a - b) <= 0.05 * a, figures


def test_uvicorn_two_workers_shows_two_workers(tmp_path):
    with serve("uvicorn", 2, tmp_path) as (url, _master):
        _rc, doc = snapshot(url)
    (t,) = doc["targets"]
    assert t["ok"] is True, t["error"]
    assert t["workers"] == 2 and t["workers_seen"] is False
    assert "uvicorn" in t["service"]


def test_remote_style_prefork_target_sums_the_workers_seen(tmp_path):
    """With no local service to join (--no-services, as for a remote host), the
    workers answering in turn are told apart by process_start_time_seconds and
    their last figures add up: "N workers seen"."""
    from prom_servers import children, vmrss

    with serve("gunicorn", 3, tmp_path, mb=40) as (url, master):
        config = tmp_path / "memdash.toml"
        config.write_text(f'[[targets]]\nname = "api"\nurl = "{url}"\ninterval = 0.5\n')
        argv = [sys.executable, "-m", "memdash", "snapshot", "--config", str(config), "--no-discover", "--no-services",
                "--watch", "0.5", "--count", "12"]
        proc = subprocess.run([*argv, "--json"], capture_output=True, text=True, timeout=120)
        per_worker = [vmrss(c) for c in children(master)]
        text = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    docs = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    (t,) = docs[-1]["targets"]
    assert t["ok"] is True and t["workers_seen"] is True, (t, proc.stderr)
    n = t["workers"]
    assert 2 <= n <= 3
    mean = sum(per_worker) / len(per_worker)
    assert abs(t["rss_bytes"] - n * mean) <= 0.1 * n * mean, (t["rss_bytes"], per_worker)
    assert " workers seen)" in text.stdout


def test_a_probed_service_growing_after_full_collections_is_marked(tmp_path):
    """A real pre-fork Python service with memdash.probe in its master keeps 4 MiB
    more between full collections: its service is "growing after GC"."""
    import os

    from prom_servers import HERE

    token = "tok-svcjoin-leak-test"
    env = dict(os.environ, MEMDASH_PROBE_TOKEN=token, MEMDASH_TOKEN=token, XDG_RUNTIME_DIR=str(tmp_path),
               PYTHONPATH=os.pathsep.join([HERE, os.environ.get("PYTHONPATH", "")]))
    child = subprocess.Popen([sys.executable, os.path.join(HERE, "leaky_pool.py")], env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = child.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), child.stderr.read() if child.poll() is not None else url
        proc = subprocess.run([sys.executable, "-m", "memdash", "snapshot", "--json", "--no-discover",
                               "--watch", "1", "--count", "14", url], env=env, capture_output=True, text=True,
                              timeout=180)
    finally:
        child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    docs = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert docs, proc.stderr
    (t,) = docs[-1]["targets"]
    assert t["ok"] is True and t["kind"] == "probe", t
    (sv,) = [s for s in docs[-1]["services"] if s["name"] == t["service"]]
    assert sv["growing_after_gc"] is True
    assert "growing after GC" in sv["reasons"]
    # Not before two full collections were seen with more memory after each.
    assert docs[0]["services"] == [] or not any(s["growing_after_gc"] for s in docs[0]["services"])
