"""The ``python_memory`` block against the allocators' own reports, in real
child processes that really allocate and free (docs/python-memory.md)."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap

import pytest
from probe_helpers import PYTHON, child_env

from memdash.probe import pymem

MiB = 1024 * 1024

# The child's own view, written without the probe's code: its own ctypes
# struct, its own RSS read, sys._debugmallocstats() straight to its stderr.
PRELUDE = textwrap.dedent("""
    import ctypes, gc, json, os, sys, threading
    libc = ctypes.CDLL("libc.so.6")
    class MI2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
    libc.mallinfo2.restype = MI2
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    def mi2():
        m = libc.mallinfo2()
        return {"free": m.fordblks, "in_use": m.uordblks, "keepcost": m.keepcost, "arena": m.arena}
    def rss():
        return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    import memdash.probe as probe
    from memdash.probe import pymem
    def snap():
        pymem.refresh_now()
        return probe.collect()["python_memory"]
""")


def run_child(body: str, timeout: float = 240, **env: str) -> tuple[dict, str]:
    code = PRELUDE + textwrap.dedent(body)
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env=child_env("/tmp", **env))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def own_stats(stderr: str) -> dict[str, int]:
    """The figures of the last ``_debugmallocstats`` block in a child's stderr, parsed here."""
    block = stderr[stderr.rindex("Small block threshold"):]
    out = {}
    for key, value in re.findall(r"^# ([a-z ]+?)\s+=\s+([\d,]+)$", block, re.M):
        out.setdefault(key, int(value.replace(",", "")))
    return out


needs_glibc = pytest.mark.skipif(pymem._GLIBC is None, reason="glibc's mallinfo2/malloc_trim only")


def test_small_objects_freed_stay_in_pymalloc_arenas() -> None:
    # ~200 MB of small tuples; 1 in 200 survives, scattered, so no arena empties.
    doc, stderr = run_child("""
        data = [(i, str(i)) for i in range(1_300_000)]
        peak = rss()
        keep = data[::200]
        del data
        gc.collect()
        pm = snap()
        sys._debugmallocstats()   # the interpreter's own report, to the real stderr
        print(json.dumps({"pm": pm, "peak": peak, "rss": rss()}))
    """)
    pm, own = doc["pm"], own_stats(stderr)
    assert doc["peak"] > 150 * MiB
    pym = pm["pymalloc"]
    # Same arenas and bytes as the interpreter's own report, read just after.
    assert pym["arenas"] == own["arenas allocated current"]
    assert abs(pym["allocated_bytes"] - own["bytes in allocated blocks"]) < 2 * MiB
    assert abs(pym["available_bytes"] - own["bytes in available blocks"]) < 2 * MiB
    # The freed objects' memory is held free by pymalloc, not returned, and trim cannot reach it.
    bd = pm["breakdown"]
    assert bd["pymalloc_free_bytes"] > 100 * MiB
    assert bd["live_python_bytes"] < bd["pymalloc_free_bytes"] / 5
    assert bd["trimmable_bytes"] < 20 * MiB
    assert doc["rss"] > 150 * MiB  # and the OS still sees it
    assert pm["allocator"] == "pymalloc"
    # The four parts never add up to more than RSS.
    parts = [bd[k] for k in ("live_python_bytes", "pymalloc_free_bytes", "malloc_free_bytes", "native_other_bytes")]
    assert sum(parts) <= max(bd["rss_bytes"], sum(parts[:3]))


@needs_glibc
def test_glibc_heap_holes_match_mallinfo2_and_trim_prediction_holds() -> None:
    # 604-byte bytes objects are over pymalloc's 512 B, so glibc holds them.
    doc, _ = run_child("""
        data = [os.urandom(8) * 75 + bytes(4) for _ in range(300_000)]
        keep = data[::200]
        del data
        gc.collect()
        pm = snap()
        own = mi2()
        r0, f0 = rss(), own["free"]
        libc.malloc_trim(0)
        r1, f1 = rss(), mi2()["free"]
        print(json.dumps({"pm": pm, "own": own, "rss_drop": r0 - r1, "free_after": f1}))
    """)
    pm, own = doc["pm"], doc["own"]
    glibc = pm["malloc"]
    assert glibc["known"] and glibc["method"].startswith("mallinfo2")
    # The probe's figures are mallinfo2's, read a moment apart.
    assert abs(glibc["free_bytes"] - own["free"]) < 2 * MiB
    assert abs(glibc["in_use_bytes"] - own["in_use"]) < 2 * MiB
    assert glibc["free_bytes"] > 100 * MiB
    # The prediction, against what malloc_trim(0) then really returned.
    predicted, dropped = pm["predict"]["trim_bytes"], doc["rss_drop"]
    assert dropped > 100 * MiB
    assert abs(predicted - dropped) <= 0.3 * dropped, (predicted, dropped)
    # mallinfo2's free bytes do not change (the pages are released, the chunks stay free).
    assert abs(doc["free_after"] - own["free"]) < 2 * MiB


@needs_glibc
def test_arena_max_one_with_threads_has_one_arena() -> None:
    body = """
        def work():
            bufs = [bytearray(2000) for _ in range(2000)]
            barrier.wait()
            barrier2.wait()
        barrier, barrier2 = threading.Barrier(9), threading.Barrier(9)
        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads: t.start()
        barrier.wait()
        pm = snap()
        barrier2.wait()
        for t in threads: t.join()
        print(json.dumps(pm["malloc"]))
    """
    one, _ = run_child(body, MALLOC_ARENA_MAX="1")
    assert one["arenas"] == 1
    assert (one["arena_max"], one["arena_max_source"]) == (1, "MALLOC_ARENA_MAX")
    # The peer: the same threads without the limit get arenas of their own.
    many, _ = run_child(body)
    assert many["arenas"] > 1
    assert many["arena_max_source"].startswith("default")


@pytest.mark.parametrize("fd2", ["0", "1"], ids=["memory-stream", "fd2-capture"])
def test_host_stderr_survives_the_capture(fd2: str) -> None:
    # A C-level writer on fd 2 runs while the probe reads _debugmallocstats
    # (through a memory stream, or the fd-2 capture where that is missing):
    # every one of its lines must reach the real stderr.
    doc, stderr = run_child("""
        before = os.fstat(2)
        stop = threading.Event()
        def writer():
            i = 0
            while not stop.is_set():
                os.write(2, b"host line %d\\n" % i)
                i += 1
            os.write(2, b"host wrote %d\\n" % i)
        t = threading.Thread(target=writer); t.start()
        for _ in range(50):
            pymem.refresh_now()
            probe.collect()
        stop.set(); t.join()
        pymem.refresh_now(); probe.collect()  # a write that landed late is given back at the next capture
        sys.stderr.write("python stderr after\\n"); sys.stderr.flush()
        os.write(2, b"fd 2 after\\n")
        after = os.fstat(2)
        pm = probe.collect()["python_memory"]["pymalloc"]
        print(json.dumps({"same": (before.st_ino, before.st_dev) == (after.st_ino, after.st_dev),
                          "method": pm["method"], "arenas": pm["arenas"]}))
    """, MEMDASH_PROBE_FD2_CAPTURE=fd2)
    assert ("fd 2" in doc["method"]) == (fd2 == "1") and doc["arenas"] > 0
    assert doc["same"]
    assert "python stderr after" in stderr and "fd 2 after" in stderr
    total = int(re.search(r"host wrote (\d+)", stderr).group(1))
    # A line of the host's may share a line with a piece of the stats it
    # interrupted (fd-2 capture only), but it is never lost.
    seen = {int(n) for n in re.findall(r"host line (\d+)\n", stderr)}
    assert seen == set(range(total)), f"{len(set(range(total)) - seen)} of {total} host lines lost"
    if fd2 == "0":
        assert "arenas allocated" not in stderr  # the memory stream never writes to fd 2


def test_pythonmalloc_malloc_has_no_pymalloc_arenas() -> None:
    doc, _ = run_child("""
        print(json.dumps(snap()))
    """, PYTHONMALLOC="malloc")
    assert doc["allocator"] == "malloc" and doc["pythonmalloc"] == "malloc"
    assert doc["pymalloc"] is None and doc["breakdown"]["live_python_bytes"] is None


def test_parse_is_cached_between_snapshots() -> None:
    import memdash.probe as probe

    pymem.refresh_now()
    first = probe.collect()["python_memory"]["pymalloc"]
    second = probe.collect()["python_memory"]["pymalloc"]
    assert first is not None and second is not None
    assert second["age_seconds"] >= first["age_seconds"]
    assert second["parse_seconds"] == first["parse_seconds"]  # the same parse, not a new one


@pytest.mark.parametrize(("version", "flavour"), [
    ((3, 13, 5), "generational"), ((3, 14, 0), "incremental"), ((3, 14, 4), "incremental"),
    ((3, 14, 5), "generational"), ((3, 15, 0), "generational")])
def test_gc_flavour_by_version(monkeypatch: pytest.MonkeyPatch, version: tuple, flavour: str) -> None:
    import collections
    import sys

    vi = collections.namedtuple("vi", "major minor micro releaselevel serial")(*version, "final", 0)
    monkeypatch.setattr(sys, "version_info", vi)
    assert pymem.gc_flavour().startswith(flavour)


@needs_glibc
def test_trim_receipt_sets_its_prediction_beside_what_happened() -> None:
    doc, _ = run_child("""
        data = [os.urandom(8) * 100 for _ in range(250_000)]
        keep = data[::200]
        del data
        gc.collect()
        probe.cleanup("gc")
        r = probe.cleanup("all")
        print(json.dumps(r))
    """)
    pred = doc["prediction"]
    assert pred["gc_tracked_objects"] == doc["tracked_objects_before"]
    assert doc["rss_freed_bytes"] > 80 * MiB
    assert abs(pred["trim_bytes"] - doc["rss_freed_bytes"]) <= 0.3 * doc["rss_freed_bytes"]
    assert doc["malloc_free_before_bytes"] > 80 * MiB and doc["malloc_free_after_bytes"] is not None


def test_metrics_expose_the_figures_prometheus_parses() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from memdash.probe import metrics

    pymem.refresh_now()
    import memdash.probe as probe

    snap = probe.collect()
    values = {(s.name, s.labels.get("generation")): s.value
              for f in text_string_to_metric_families(metrics.render([snap])) for s in f.samples}
    pm = snap["python_memory"]
    assert values[("memdash_python_allocated_blocks", None)] == pm["allocated_blocks"]
    assert values[("memdash_pymalloc_free_bytes", None)] == pm["breakdown"]["pymalloc_free_bytes"]
    assert values[("memdash_python_tracked_objects", "0")] == pm["tracked_objects"][0]
    if pm["malloc"]["known"]:
        assert values[("memdash_malloc_free_bytes", None)] == pm["malloc"]["free_bytes"]
        assert values[("memdash_malloc_releasable_bytes", None)] == pm["breakdown"]["trimmable_bytes"]
        assert values[("memdash_malloc_top_releasable_bytes", None)] == pm["malloc"]["releasable_bytes"]
        assert values[("memdash_malloc_arenas", None)] >= 1


def test_opt_out_leaves_the_block_and_ctypes_out() -> None:
    # The probe calls C through _ctypes (memdash.probe.cfuncs), never the ctypes package.
    code = ("import json, sys, memdash.probe as p; s = p.collect(); "
            "print(json.dumps([s['python_memory'], '_ctypes' in sys.modules or 'ctypes' in sys.modules, "
            "'memdash.probe.pymem' in sys.modules]))")
    for env, expect_block in (({"MEMDASH_PROBE_PYTHON_MEMORY": "0"}, False), ({}, True)):
        out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60,
                             env=child_env("/tmp", **env))
        block, has_ctypes, has_pymem = json.loads(out.stdout)
        assert (block is not None, has_pymem) == (expect_block, expect_block)
        if not expect_block:
            assert not has_ctypes


def test_a_forked_child_reads_its_own_figures_even_if_a_lock_was_held() -> None:
    doc, _ = run_child("""
        snap()
        pymem.STATE.lock.acquire()        # as if another thread were mid-snapshot at the fork
        pid = os.fork()
        if pid == 0:
            pm = snap()
            os.write(1, (json.dumps(pm["pymalloc"]["arenas"] is not None) + "\\n").encode())
            os._exit(0)
        pymem.STATE.lock.release()
        os.waitpid(pid, 0)
        print(json.dumps(True))
    """, timeout=60)
    assert doc is True


def test_gc_prediction_counts_every_generation_even_before_the_first_full_collection() -> None:
    # "gc: ~N unreachable of M tracked": a full collection examines every
    # generation, so M is their sum. A fresh 3.12+ interpreter has nothing in
    # the oldest generation before its first full collection; M must still be
    # the whole count, not that generation's 0.
    doc, _ = run_child("""
        pm = snap()
        print(json.dumps({"pm": pm, "all": len(gc.get_objects()), "stats": gc.get_stats()}))
    """)
    pm = doc["pm"]
    assert None not in pm["tracked_objects"]
    assert pm["predict"]["gc_tracked_objects"] == sum(pm["tracked_objects"])
    assert abs(pm["predict"]["gc_tracked_objects"] - doc["all"]) <= 0.1 * doc["all"]


@pytest.mark.parametrize(("gil", "state"), [(False, "GIL disabled"), (True, "GIL enabled again")])
def test_a_free_threaded_build_is_named_and_its_one_generation_counted_once(
        monkeypatch: pytest.MonkeyPatch, gil: bool, state: str) -> None:
    # No free-threaded build can be had here (docs/python-memory.md): the
    # interpreter's own markers are set as such a build has them (ABI flag
    # "t", sys._is_gil_enabled), and the real gc counts this process's objects.
    import gc
    import sys

    import memdash.probe as probe

    monkeypatch.setattr(sys, "abiflags", "t", raising=False)
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: gil, raising=False)
    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    assert pymem.free_threaded()
    assert pymem.gc_flavour() == f"free-threaded (one generation, stop-the-world; {state})"
    assert pymem.python_allocator()[1] == "free-threaded build"
    assert pymem.python_allocator()[0].startswith("mimalloc")
    pymem.refresh_now()
    pm = probe.collect()["python_memory"]
    everything = len(gc.get_objects())
    assert len(pm["tracked_objects"]) == 1  # not the whole heap once per generation
    assert abs(pm["tracked_objects"][0] - everything) <= 0.1 * everything
    assert pm["gc_flavour"].endswith(f"; {state})")
    assert "free-threaded" in pm["tracked_method"]
    pymem.refresh_now()  # the next test reads this interpreter's real figures


def test_gil_state_is_none_before_3_13_and_on_in_a_default_build() -> None:
    import sys

    if pymem.free_threaded():
        pytest.skip("a free-threaded build: the GIL may be either way")
    assert pymem.gil_enabled() is (None if sys.version_info < (3, 13) else True)
