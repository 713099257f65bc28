"""The on-demand ``tracemalloc`` action: off by default, token-guarded,
bounded, and its top site is the line that allocated most."""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest
from probe_helpers import AUTH, PYTHON, TOKEN, child_env

from memdash.probe import tracing
from memdash.probe.core import ProbeCore, Request


@pytest.fixture(autouse=True)
def tracing_off(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MEMDASH_PROBE_TRACEMALLOC", raising=False)
    tracing.enable(False)
    yield
    tracing.enable(False)


def post(core: ProbeCore, query: str = "", headers: dict | None = None) -> tuple[int, dict]:
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    resp = core.handle(Request("POST", "/cleanup/tracemalloc", query, lowered, b"", "127.0.0.1"))
    return resp.status, json.loads(resp.body)


def test_off_by_default_and_token_guarded(monkeypatch: pytest.MonkeyPatch) -> None:
    core = ProbeCore(token=TOKEN, min_interval=0)
    status, body = post(core, "seconds=1", AUTH)
    assert status == 409 and "MEMDASH_PROBE_TRACEMALLOC" in body["error"]
    from memdash.probe import collect

    assert "tracemalloc" not in collect()["actions"]
    monkeypatch.setenv("MEMDASH_PROBE_TRACEMALLOC", "1")
    assert "tracemalloc" in collect()["actions"]
    assert post(core, "seconds=1")[0] == 401  # enabled, still needs the token
    assert post(core, "seconds=1", {"Authorization": "Bearer wrong"})[0] == 401
    assert post(ProbeCore(token=None), "seconds=1")[0] == 403
    status, body = post(core, "seconds=1", AUTH)
    assert status == 200 and body["tracemalloc"]["seconds"] >= 1.0
    import tracemalloc

    assert not tracemalloc.is_tracing()  # stopped afterwards


@pytest.mark.parametrize("query", ["seconds=0", "seconds=31", "seconds=nan", "frames=0", "frames=11",
                                   "frames=x", "generation=2"])
def test_bounds_are_enforced(monkeypatch: pytest.MonkeyPatch, query: str) -> None:
    monkeypatch.setenv("MEMDASH_PROBE_TRACEMALLOC", "1")
    status, body = post(ProbeCore(token=TOKEN, min_interval=0), query, AUTH)
    assert status == 400, body


def test_top_site_is_the_line_that_allocated_most() -> None:
    code = textwrap.dedent("""
        import json, threading, time
        import memdash.probe as probe
        from memdash.probe import tracing
        tracing.enable()
        big, small, stop = [], [], threading.Event()
        def work():
            while not stop.is_set():
                big.append(bytearray(50_000))   # LINE_BIG
                small.append(bytearray(500))    # LINE_SMALL
                time.sleep(0.002)
        t = threading.Thread(target=work); t.start()
        r = probe.cleanup("tracemalloc", seconds=2, frames=3)
        stop.set(); t.join()
        import tracemalloc
        print(json.dumps({"r": r["tracemalloc"], "on": tracemalloc.is_tracing()}))
    """)
    lines = code.splitlines()
    big_line = next(i for i, s in enumerate(lines, 1) if "LINE_BIG" in s)
    small_line = next(i for i, s in enumerate(lines, 1) if "LINE_SMALL" in s)
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=120,
                          env=child_env("/tmp"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout.splitlines()[-1])
    r = doc["r"]
    assert not doc["on"] and not r["left_running"]
    assert r["frames"] == 3 and len(r["top_by_size"]) <= 20 and len(r["top_by_growth"]) <= 20
    top, grew = r["top_by_size"][0], r["top_by_growth"][0]
    assert (top["file"], top["line"]) == ("<string>", big_line)
    assert (grew["file"], grew["line"]) == ("<string>", big_line) and grew["size_diff_bytes"] > 0
    assert any(s["line"] == small_line for s in r["top_by_size"])
    assert r["overhead"]["tracemalloc_memory_bytes"] > 0 and "slower" in r["overhead"]["note"]
