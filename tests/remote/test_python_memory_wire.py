"""``python_memory`` from the probe to the sample, ``snapshot --json`` and the
words before and after a cleanup."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx

from memdash.model import CleanupResult, PythonMemory
from memdash.prediction import comparison_text, prediction_text
from memdash.probe import collect
from memdash.report import python_memory_json
from memdash.sources.probe_wire import python_memory_from_probe, sample_from_probe


def test_snapshot_json_carries_the_breakdown(gc_service, tmp_path):
    config = tmp_path / "memdash.toml"
    config.write_text(f'[[targets]]\nname = "api"\nurl = "{gc_service.url}"\nkind = "probe"\n'
                      'token_env = "PM_TEST_TOKEN"\n')
    env = dict(os.environ, PM_TEST_TOKEN=gc_service.token)
    r = subprocess.run([sys.executable, "-m", "memdash", "snapshot", "--json", "--no-gpu", "--no-discover",
                        "--top", "1", "--config", str(config)], capture_output=True, text=True, env=env, timeout=60)
    doc = json.loads(r.stdout)
    pm = doc["targets"][0]["python_memory"]
    own = httpx.get(gc_service.url, headers={"Authorization": f"Bearer {gc_service.token}"},
                    timeout=5).json()["python_memory"]
    # The same figures the service reports about itself (a moment apart: within 2 MiB).
    for key in ("live_python_bytes", "pymalloc_free_bytes", "malloc_free_bytes"):
        assert pm[key] is not None and abs(pm[key] - own["breakdown"][key]) < 2 * 2**20, key
    parts = sum(pm[k] for k in ("live_python_bytes", "pymalloc_free_bytes", "malloc_free_bytes",
                                "native_other_bytes"))
    assert pm["native_other_bytes"] > 0 and parts == pm["rss_bytes"]
    assert set(pm["methods"]) >= {"live_python_bytes", "pymalloc_free_bytes", "malloc_free_bytes",
                                  "trimmable_bytes", "native_other_bytes"}
    assert pm["allocator"] == "pymalloc" and pm["gc_flavour"] == "generational"
    assert pm["predict"]["trim_bytes"] is not None and sum(pm["tracked_objects"]) >= gc_service.cycles
    assert gc_service.token not in r.stdout + r.stderr


def test_reader_takes_only_what_it_can_trust() -> None:
    raw = {"breakdown": {"rss_bytes": "12", "live_python_bytes": float("nan"), "pymalloc_free_bytes": -5,
                         "malloc_free_bytes": 1e300, "trimmable_bytes": 4096, "native_other_bytes": True,
                         "methods": {"live_python_bytes": "[bold]x[/]" * 100, "n": 3}},
           "allocator": ["pymalloc"], "gc_flavour": "[@click=app.quit]gen[/]", "malloc": "nope",
           "tracked_objects": list(range(100)), "predict": {"trim_bytes": "4096"}}
    pm = python_memory_from_probe(raw)
    assert pm is not None
    assert (pm.live_python_bytes, pm.pymalloc_free_bytes, pm.malloc_free_bytes) == (None, None, None)
    assert pm.trimmable_bytes == 4096 and pm.allocator is None and pm.malloc_arenas is None
    assert len(pm.methods["live_python_bytes"]) == 300 and "n" not in pm.methods
    assert len(pm.tracked_objects) == 8
    assert python_memory_from_probe(None) is None and python_memory_from_probe("x") is None
    # And the probe's own document reads whole.
    sample = sample_from_probe(collect(), name="self", url="in-process", now=0.0)
    assert sample.python_memory is not None and sample.python_memory.rss_bytes == sample.rss_bytes
    assert json.loads(json.dumps(python_memory_json(sample.python_memory), allow_nan=False))


def test_prediction_and_comparison_words() -> None:
    pm = PythonMemory(rss_bytes=400 << 20, malloc_free_bytes=300 << 20, trimmable_bytes=290 << 20,
                      pymalloc_free_bytes=50 << 20, tracked_objects=(10, 20, 41_000), predict_gc_objects=1_200,
                      predict_trim_bytes=290 << 20)
    assert prediction_text("gc", pm) == ("gc: ~1,200 objects unreachable of 41,000 tracked "
                                         "(what past full collections freed, on average)")
    said = prediction_text("trim", pm)
    assert said == "trim: up to 290M returnable (glibc free 300M, top pad included; pymalloc's 50M free stays)"
    assert prediction_text("all", pm).count(";") >= 2 and prediction_text("caches", pm) is None
    assert prediction_text("trim", None) is None
    receipt = {"prediction": {"gc_collectable_objects": 1200, "trim_bytes": 290 << 20},
               "malloc_free_before_bytes": 300 << 20, "malloc_free_after_bytes": 300 << 20}
    r = CleanupResult(target="api", action="all", ok=True, rss_before_bytes=400 << 20, rss_after_bytes=120 << 20,
                      collected=1500, raw=receipt)
    assert comparison_text(r) == ("predicted: gc ~1,200 objects, trim up to 290M; happened: 1,500 collected, "
                                  "RSS -280M, glibc free 300M -> 300M")
    assert comparison_text(CleanupResult(target="api", action="gc", ok=True, raw={})) is None
