"""Hostile text through ``memdash snapshot`` and ``memdash cleanup``: real
processes and loopback services carry the corpus (tests/hostile_text.py);
text output must hold no terminal control bytes and one line per row, JSON
must be strict and exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from flask import Flask, jsonify
from hostile_text import ARGV, CORPUS, HOSTILE_COMM_SHOWN, hostile_processes, unsafe_chars, visible

sys.path.insert(0, str(Path(__file__).resolve().parent))
from remote.servers import RawServer, read_request, wsgi_server  # noqa: E402


def _reject(constant: str) -> None:
    raise ValueError(f"not strict JSON: {constant}")


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses NaN/Infinity, as jq and JavaScript do."""
    return json.loads(text, parse_constant=_reject)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MEMDASH_CONFIG", "MEMDASH_DEBUG", "MEMDASH_TOKEN")}
    env["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("xdg"))
    env["COLUMNS"] = "160"
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    # Bytes, not text: the test must see exactly what would reach the terminal.
    return subprocess.run([sys.executable, "-m", "memdash", *args], capture_output=True, timeout=90, env=env,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def procs() -> Iterator[tuple[str, dict[str, int]]]:
    marker = f"hostile-{uuid.uuid4().hex[:10]}"
    with hostile_processes(marker) as pids:
        yield marker, pids


def expected_cmdline(key: str, marker: str) -> str:
    arg0 = ARGV[key]
    if key == "long-100k":
        arg0 = marker + str(arg0)
    raw = (arg0 if isinstance(arg0, bytes) else arg0.encode()) + b" -c read x " + marker.encode()
    return raw[:65536].decode("utf-8", "replace")


def test_snapshot_json_is_strict_and_exact(env: dict[str, str], procs: tuple[str, dict[str, int]]) -> None:
    marker, pids = procs
    proc = run(env, "snapshot", "--json", "--all", "--no-gpu", "--no-discover")
    assert b"Traceback" not in proc.stderr, proc.stderr
    doc = strict_json(proc.stdout.decode("utf-8"))
    by_pid = {p["pid"]: p for p in doc["processes"]}
    for key, pid in pids.items():
        assert pid in by_pid, key
        if key == "comm":
            assert by_pid[pid]["name"] == "[/]\x1b]2;PW\x07"  # JSON keeps the text exact (escaped by JSON)
            continue
        got = by_pid[pid]["cmdline"]
        want = expected_cmdline(key, marker)
        assert got.startswith(want[:60000]), key  # exact, invalid UTF-8 as U+FFFD
    # The raw document has no control bytes either: JSON escapes them.
    assert unsafe_chars(proc.stdout.decode("utf-8")) == []


def test_snapshot_text_has_no_control_bytes_and_one_line_per_process(
    env: dict[str, str], procs: tuple[str, dict[str, int]]
) -> None:
    marker, pids = procs
    proc = run(env, "snapshot", "--all", "--no-gpu", "--no-discover")
    assert b"Traceback" not in proc.stderr, proc.stderr
    out = proc.stdout.decode("utf-8")  # valid UTF-8: invalid bytes became U+FFFD
    assert unsafe_chars(out) == [], unsafe_chars(out)[:5]
    lines = [line for line in out.splitlines() if marker in line]
    wanted = {k for k in pids if k not in ("long-100k", "comm")}
    # One row per process: "import os\nprint(1)" did not start a new line.
    rows = {str(pid): line for line in lines for pid in [line.split()[0]]}
    for key in wanted:
        assert str(pids[key]) in rows, f"{key}: no row"
    for key in ("click-quit", "close-tag", "osc-title", "csi-clear", "newline", "bidi-override", "c1-csi"):
        assert visible(CORPUS[key]) in rows[str(pids[key])], key
    assert len(max(out.splitlines(), key=len)) <= 400  # a 100 KB argument is cut
    assert "\ufffd" in rows[str(pids["invalid-utf8"])]


def nan_metrics(conn, server: RawServer) -> None:
    read_request(conn)
    label = CORPUS["osc-title"].replace("\\", "\\\\") + CORPUS["click-quit"]
    body = (
        # (Non-finite sizes and counters are the sources' business: issue 8, srchard.)
        "process_resident_memory_bytes 1e8\n"
        f'memdash_cache_hits_total{{cache="{label}"}} 5\n'
        f'memdash_cache_misses_total{{cache="{label}"}} 1\n'
        "odd_gauge -Inf\n"
        "other_gauge NaN\n"
        "third_gauge +Inf\n"
    ).encode()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)


def test_snapshot_json_with_nan_and_infinity_from_a_target_is_strict(env: dict[str, str]) -> None:
    server = RawServer(nan_metrics)
    try:
        proc = run(env, "snapshot", "--json", "--no-gpu", "--no-discover", server.url + "/metrics")
        text_proc = run(env, "snapshot", "--no-gpu", "--no-discover", server.url + "/metrics")
    finally:
        server.close()
    assert b"Traceback" not in proc.stderr, proc.stderr
    doc = strict_json(proc.stdout.decode())  # main: "NaN" in the document, rejected here
    (target,) = doc["targets"]
    assert target["kind"] == "prometheus", target["error"]
    assert target["ok"], target["error"]
    metrics = target["metrics"]
    assert {metrics.get("odd_gauge", "absent"), metrics.get("other_gauge", "absent")} <= {None, "absent"}
    assert target["caches"][0]["name"] == CORPUS["osc-title"] + CORPUS["click-quit"]
    assert unsafe_chars(text_proc.stdout.decode()) == [] and unsafe_chars(text_proc.stderr.decode()) == []


def refusing_app() -> Flask:
    app = Flask("refusing")

    @app.get("/stats")
    def stats():  # type: ignore[no-untyped-def]
        return jsonify({"memory_percent": 10.0})

    @app.post("/gc")
    def gc_route():  # type: ignore[no-untyped-def]
        return jsonify({"error": CORPUS["osc-title"] + CORPUS["newline"] + CORPUS["osc52-clipboard"]}), 403

    return app


def test_cleanup_output_is_escaped(env: dict[str, str], tmp_path: Path) -> None:
    with wsgi_server(refusing_app()) as url:
        config = tmp_path / "memdash.toml"
        config.write_text(
            "[[targets]]\n"
            'name = "svc\\u001b]2;T\\u0007"\n'
            f'url = "{url}/stats"\n'
            'kind = "json"\n'
            'actions = { gc = "POST /gc" }\n',
            encoding="utf-8",
        )
        proc = run(env, "cleanup", "--config", str(config), "--yes", "svc\x1b]2;T\x07", "gc")
        as_json = run(env, "cleanup", "--config", str(config), "--yes", "--json", "svc\x1b]2;T\x07", "gc")
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert unsafe_chars(err) == [] and unsafe_chars(proc.stdout.decode()) == []
    assert err.count("\n") == 1, err  # one line, the remote newline shown as \n
    assert "svc\\e]2;T\\x07: gc failed: refused: \\e]2;PWNED\\x07import os\\nprint(1)" in err
    doc = strict_json(as_json.stdout.decode())
    assert doc["ok"] is False and "\x1b]2;PWNED\x07import os\nprint(1)" in doc["error"]  # exact in JSON


def test_error_lines_on_stderr_are_escaped(env: dict[str, str]) -> None:
    proc = run(env, "cleanup", "--yes", "nope\x1b]2;T\x07[/]", "gc")
    err = proc.stderr.decode()
    assert proc.returncode == 2 and unsafe_chars(err) == [] and err.count("\n") == 1, err
    assert "\\e]2;T\\x07[/]" in err or "\\x1b]2;T\\x07[/]" in err


def test_comm_shown_escaped_in_json_name_only(procs: tuple[str, dict[str, int]]) -> None:
    # The corpus module's promise about the prctl child holds (used by the GPU test).
    with open(f"/proc/{procs[1]['comm']}/comm", "rb") as f:
        assert visible(f.read().rstrip(b"\n")) == HOSTILE_COMM_SHOWN


def test_report_document_with_non_finite_numbers_everywhere_is_strict() -> None:
    import dataclasses

    from memdash.model import CacheStats, GpuStatus, Snapshot, TargetSample
    from memdash.report import dumps, snapshot_json, snapshot_text

    nan, inf = float("nan"), float("inf")
    target = TargetSample(
        name=CORPUS["click-quit"], url="http://127.0.0.1:1/", kind="json", ok=False, error=CORPUS["csi-clear"],
        percent=nan, metrics={CORPUS["osc-title"]: nan, "b": inf, "c": -inf},
        caches=(CacheStats(name=CORPUS["close-tag"], hits=None, misses=None, size=None, maxsize=None, hit_rate=nan),),
    )
    snap = Snapshot(host=CORPUS["osc52-clipboard"], time=0.0, uptime_seconds=None, system=None, processes=(),
                    process_count=0, gpus=GpuStatus(available=False, reason=CORPUS["newline"]),
                    targets=(target,), errors=(CORPUS["dcs"],))
    doc = strict_json(dumps(snapshot_json(snap)))
    (t,) = doc["targets"]
    assert t["percent"] is None and t["caches"][0]["hit_rate"] is None
    assert t["metrics"] == {CORPUS["osc-title"]: None, "b": None, "c": None}
    text = snapshot_text(dataclasses.replace(snap))
    assert unsafe_chars(text) == [] and "\\e]52;c;aGk=\\x07" in text and "gpus: unavailable (import os\\nprint(1)" in text
