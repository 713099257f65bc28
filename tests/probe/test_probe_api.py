"""The library surface: exports, imports, collect(), track_cache(), cleanup()."""

from __future__ import annotations

import functools
import gc
import json
import os
import subprocess
import sys

import cachetools
import pytest

import memdash.probe as probe
from memdash.probe.errors import NotFound, ProbeError
from probe_helpers import PYTHON, child_env

PUBLIC = {"collect", "track_cache", "cleanup", "serve", "flask_blueprint", "asgi_app", "wsgi_app", "ProbeError"}
HEAVY = ("textual", "httpx", "plotext", "pynvml", "psutil", "torch", "flask", "fastapi", "starlette")


def test_all_is_exactly_the_public_api():
    assert set(probe.__all__) == PUBLIC
    assert len(probe.__all__) == len(PUBLIC)
    for name in probe.__all__:
        assert getattr(probe, name) is not None


def test_import_collect_and_serve_load_no_heavy_module(runtime_dir):
    code = (
        "import json, sys\n"
        "import memdash.probe as p\n"
        f"heavy = {HEAVY!r}\n"
        "after_import = [m for m in heavy if m in sys.modules]\n"
        "p.collect()\n"
        "with p.serve(unix_socket=True):\n"
        "    pass\n"
        "after_serve = [m for m in heavy if m in sys.modules]\n"
        "print(json.dumps([after_import, after_serve]))\n"
    )
    out = subprocess.run([PYTHON, "-c", code], env=child_env(runtime_dir), capture_output=True, text=True,
                         timeout=60, check=True)
    assert json.loads(out.stdout) == [[], []]


def test_collect_reports_this_process():
    snap = probe.collect()
    assert snap["schema"] == 1
    assert snap["pid"] == os.getpid() and snap["ppid"] == os.getppid()
    assert snap["python"] == ".".join(map(str, sys.version_info[:3]))
    mem = snap["memory"]
    with open("/proc/self/statm") as f:
        rss_pages = int(f.read().split()[1])
    # RSS read a moment apart: same order of magnitude, within 32 MiB.
    assert abs(mem["rss_bytes"] - rss_pages * os.sysconf("SC_PAGE_SIZE")) < 32 << 20
    assert mem["uss_bytes"] is None
    assert 0 < mem["percent"] <= 100
    gens = snap["gc"]["generations"]
    assert [g["generation"] for g in gens] == list(range(len(gc.get_stats())))
    assert [g["threshold"] for g in gens] == list(gc.get_threshold())[: len(gens)]
    assert snap["gc"]["garbage"] == len(gc.garbage)
    assert snap["torch"] is None  # the test run never imports torch
    assert snap["actions"][:2] == ["gc", "caches"] and snap["actions"][-1] == "all"
    json.dumps(snap)  # must be plain JSON


def test_gc_pauses_are_timed_by_generation():
    probe.collect()  # installs the timer
    before = probe.collect()["gc"]
    gc.collect(0)
    gc.collect(2)
    after = probe.collect()["gc"]
    for gen in (0, 2):
        b, a = before["generations"][gen], after["generations"][gen]
        assert a["pauses"] >= b["pauses"] + 1
        assert a["pause_total_seconds"] > b["pause_total_seconds"]
        assert a["pause_last_seconds"] is not None and a["pause_max_seconds"] >= a["pause_last_seconds"]
    assert after["pause_total_seconds"] > before["pause_total_seconds"]


def test_lru_cache_hits_and_misses_are_exact():
    @probe.track_cache
    @functools.lru_cache(maxsize=16)
    def square(n):
        return n * n

    for n in [1, 2, 1, 1, 3, 2]:  # misses: 1, 2, 3; hits: 1, 1, 2
        square(n)
    (entry,) = [c for c in probe.collect()["caches"] if c["name"].endswith("square")]
    assert entry["kind"] == "lru_cache"
    assert (entry["hits"], entry["misses"], entry["size"], entry["maxsize"]) == (3, 3, 3, 16)
    assert entry["hit_rate"] == pytest.approx(0.5)


def test_track_cache_decorator_with_name_and_functools_cache():
    @probe.track_cache(name="prices")
    @functools.cache
    def price(sku):
        return len(sku)

    assert price("abc") == 3
    (entry,) = probe.collect()["caches"]
    assert entry["name"] == "prices"
    assert (entry["misses"], entry["maxsize"]) == (1, None)


def test_cachetools_cache_counted_through_the_returned_wrapper():
    cache = probe.track_cache(cachetools.LRUCache(maxsize=4), name="ct")

    @cachetools.cached(cache)
    def double(n):
        return 2 * n

    for n in [1, 1, 2, 1, 3]:  # misses 1, 2, 3; hits 1, 1
        double(n)
    (entry,) = probe.collect()["caches"]
    assert (entry["kind"], entry["hits"], entry["misses"], entry["size"], entry["maxsize"]) == \
        ("cachetools", 2, 3, 3, 4)
    assert cache.maxsize == 4  # the wrapper still looks like the cache


def test_cachetools_cached_function_with_info():
    @probe.track_cache(name="info")
    @cachetools.cached(cachetools.TTLCache(maxsize=10, ttl=600), info=True)
    def ident(n):
        return n

    ident(1), ident(1), ident(2)
    (entry,) = probe.collect()["caches"]
    assert (entry["kind"], entry["hits"], entry["misses"], entry["size"]) == ("cachetools.cached", 1, 2, 2)


class SessionStore:
    """A hand-rolled cache speaking the stats()/clear() protocol."""

    def __init__(self):
        self.items = {"a": 1, "b": 2}

    def stats(self):
        return {"hits": 5, "misses": 1, "size": len(self.items), "maxsize": 100, "size_bytes": 1234}

    def clear(self):
        self.items.clear()


def test_stats_protocol_object_and_caches_cleanup():
    store = SessionStore()
    assert probe.track_cache(store, name="sessions") is store
    (entry,) = probe.collect()["caches"]
    assert (entry["hits"], entry["misses"], entry["size"], entry["maxsize"], entry["size_bytes"]) == \
        (5, 1, 2, 100, 1234)
    receipt = probe.cleanup("caches", name="sessions")
    assert receipt["caches_cleared"] == ["sessions"]
    assert store.items == {}
    assert probe.collect()["caches"][0]["size"] == 0


def test_cleanup_caches_empties_every_tracked_cache():
    @probe.track_cache(name="one")
    @functools.lru_cache(maxsize=None)
    def one(n):
        return n

    store = SessionStore()
    probe.track_cache(store, name="two")
    for n in range(10):
        one(n)
    receipt = probe.cleanup("caches")
    assert sorted(receipt["caches_cleared"]) == ["one", "two"]
    sizes = {c["name"]: c["size"] for c in probe.collect()["caches"]}
    assert sizes == {"one": 0, "two": 0}
    assert one.cache_info().currsize == 0


def test_tracking_does_not_keep_a_cache_alive():
    def make():
        @probe.track_cache(name="ephemeral")
        @functools.lru_cache(maxsize=4)
        def f(n):
            return n
        f(1)
        return f

    f = make()
    assert [c["name"] for c in probe.collect()["caches"]] == ["ephemeral"]
    del f
    gc.collect()
    assert probe.collect()["caches"] == []


def test_tracking_twice_and_name_clashes():
    @functools.lru_cache
    def a(n):
        return n

    @functools.lru_cache
    def b(n):
        return n

    probe.track_cache(a, name="same")
    probe.track_cache(a, name="same")  # no double entry
    probe.track_cache(b, name="same")
    assert sorted(c["name"] for c in probe.collect()["caches"]) == ["same", "same#2"]


def test_track_cache_refuses_what_it_cannot_read():
    with pytest.raises(TypeError, match="cannot track"):
        probe.track_cache(object())


def test_cleanup_gc_receipt():
    class Node:
        pass

    gc.disable()  # so the automatic collector does not take them first
    try:
        for _ in range(1000):
            a, b = Node(), Node()
            a.other, b.other = b, a
        del a, b
        receipt = probe.cleanup("gc")
    finally:
        gc.enable()
    assert receipt["ok"] is True and receipt["action"] == "gc"
    assert receipt["collected"] >= 2000
    assert receipt["steps"] == [{"action": "gc", "generation": 2, "collected": receipt["collected"]}]
    assert receipt["tracked_objects_after"] < receipt["tracked_objects_before"]
    assert receipt["rss_before_bytes"] > 0 and receipt["rss_after_bytes"] > 0
    assert receipt["rss_freed_bytes"] == receipt["rss_before_bytes"] - receipt["rss_after_bytes"]
    if receipt["rss_freed_bytes"] <= 0:
        assert "RSS did not drop" in receipt["note"] and receipt["suggest"] == "trim"


def test_cleanup_refusals_are_typed():
    with pytest.raises(NotFound) as info:
        probe.cleanup("defrag")
    assert info.value.status == 404 and "gc" in info.value.extra["valid_actions"]
    with pytest.raises(ProbeError) as info:
        probe.cleanup("gc", generation=9)
    assert info.value.status == 400
    with pytest.raises(ProbeError) as info:
        probe.cleanup("cuda")  # no torch in the test run
    assert info.value.status == 409
    with pytest.raises(ProbeError) as info:
        probe.cleanup("caches", name="nope")
    assert info.value.status == 404


FAKE_TORCH = '''
import json, sys, types
# A stand-in for torch with one initialised CUDA device: the probe only reads
# torch from sys.modules, so this is what it sees when the host imported torch.
state = {"reserved": 6 << 20, "allocated": 2 << 20}
cuda = types.SimpleNamespace(
    is_available=lambda: True, is_initialized=lambda: True, device_count=lambda: 1,
    get_device_name=lambda i: "Fake GPU", memory_allocated=lambda i: state["allocated"],
    memory_reserved=lambda i: state["reserved"], max_memory_allocated=lambda i: 4 << 20,
    empty_cache=lambda: state.update(reserved=state["allocated"]))
sys.modules["torch"] = types.SimpleNamespace(__version__="0.fake", cuda=cuda)
import memdash.probe as p
snap = p.collect()
receipt = p.cleanup("cuda")
print(json.dumps([snap["torch"], snap["actions"], receipt]))
'''


def test_torch_figures_and_cuda_cleanup_when_the_host_has_torch(runtime_dir):
    out = subprocess.run([PYTHON, "-c", FAKE_TORCH], env=child_env(runtime_dir), capture_output=True, text=True,
                         timeout=60, check=True)
    torch, actions, receipt = json.loads(out.stdout)
    assert torch["cuda_initialized"] is True
    assert torch["devices"] == [{"device": 0, "name": "Fake GPU", "allocated_bytes": 2 << 20,
                                 "reserved_bytes": 6 << 20, "max_allocated_bytes": 4 << 20}]
    assert "cuda" in actions
    assert receipt["steps"] == [{"action": "cuda"}]
    assert (receipt["gpu_reserved_before_bytes"], receipt["gpu_reserved_after_bytes"]) == (6 << 20, 2 << 20)


def test_an_in_process_cleanup_is_logged_as_one(caplog):
    # The host's log says who ran each cleanup: here, the host itself.
    with caplog.at_level("INFO", logger="memdash.probe"):
        probe.cleanup("gc")
    lines = [r.getMessage() for r in caplog.records if r.name == "memdash.probe"]
    assert len(lines) == 1 and lines[0].startswith("cleanup gc from in-process: ok"), lines


def test_the_cleanup_module_loads_its_cleaner_only_when_a_name_of_it_is_asked_for(runtime_dir):
    code = (
        "import importlib, json, sys\n"
        "c = importlib.import_module('memdash.probe.cleanup')\n"
        "wrapped = hasattr(c, '__wrapped__')\n"  # what inspect, copy and pickle ask of a module
        "loaded = 'memdash.probe.cleaner' in sys.modules\n"
        "try:\n"
        "    c.no_such_name\n"
        "    missing = 'no error'\n"
        "except AttributeError as exc:\n"
        "    missing = str(exc)\n"
        "print(json.dumps([wrapped, loaded, missing, type(c.CLEANER).__name__]))\n"
    )
    out = subprocess.run([PYTHON, "-c", code], env=child_env(runtime_dir), capture_output=True, text=True,
                         timeout=60, check=True)
    assert json.loads(out.stdout) == [False, False, "module 'memdash.probe.cleanup' has no attribute 'no_such_name'",
                                      "Cleaner"]
