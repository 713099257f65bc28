"""One wire schema (memdash.probe.wire), held to what the probe really sends and
used by everything that names an action."""

from __future__ import annotations

import importlib

import memdash.actions
import memdash.model
from memdash.probe import cleanup, collect, wire
from memdash.sources.probe_wire import result_from_receipt, sample_from_probe


def test_every_action_list_is_the_wire_schemas() -> None:
    assert memdash.model.ACTIONS is wire.ACTIONS
    probe_cleanup = importlib.import_module("memdash.probe.cleanup")  # the package exports a function of that name
    snapshot = importlib.import_module("memdash.probe.snapshot")
    assert probe_cleanup.ACTIONS is wire.ACTIONS and probe_cleanup.OPTIONS is wire.OPTIONS
    assert memdash.actions.ACTIONS is wire.ACTIONS and tuple(memdash.actions.DESCRIPTIONS) == wire.ACTIONS
    assert set(wire.OPTIONS) == set(wire.ACTIONS)
    assert snapshot.SCHEMA == wire.SCHEMA and snapshot.PROBE_NAME == wire.PROBE_NAME


def test_the_probes_snapshot_and_receipt_keep_to_the_schema() -> None:
    snap = collect()
    assert wire.is_probe_document(snap) and snap["schema"] == wire.SCHEMA
    assert set(snap) <= set(wire.SNAPSHOT_KEYS), set(snap) - set(wire.SNAPSHOT_KEYS)
    assert set(snap["memory"]) <= set(wire.MEMORY_KEYS)
    assert set(snap["gc"]) <= set(wire.GC_KEYS)
    for generation in snap["gc"]["generations"]:
        assert set(generation) <= set(wire.GENERATION_KEYS)
    assert set(snap["actions"]) <= set(wire.ACTIONS)
    pm = snap["python_memory"]
    assert set(pm) <= set(wire.PYTHON_MEMORY_KEYS), set(pm) - set(wire.PYTHON_MEMORY_KEYS)
    assert pm["pymalloc"] is None or set(pm["pymalloc"]) <= set(wire.PYMALLOC_KEYS)
    assert set(pm["malloc"]) <= set(wire.MALLINFO_KEYS), set(pm["malloc"]) - set(wire.MALLINFO_KEYS)
    assert set(pm["breakdown"]) <= set(wire.BREAKDOWN_KEYS) and set(pm["predict"]) <= set(wire.PREDICT_KEYS)

    receipt = cleanup("gc")
    assert set(receipt) <= set(wire.RECEIPT_KEYS), set(receipt) - set(wire.RECEIPT_KEYS)
    assert set(receipt["prediction"]) <= set(wire.PREDICTION_KEYS)
    result = result_from_receipt(receipt, target="self", action="gc", status=200)
    assert result.ok and result.rss_before_bytes == receipt["rss_before_bytes"]

    sample = sample_from_probe(snap, name="self", url="in-process", now=0.0)
    assert sample.rss_bytes == snap["memory"]["rss_bytes"] and sample.actions == tuple(
        a for a in wire.ACTIONS if a in snap["actions"])


def test_cleanup_route() -> None:
    assert wire.cleanup_path("gc") == "/cleanup/gc"
