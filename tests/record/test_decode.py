"""A recorded document decodes to the Snapshot it was made from (the replay shows it
with the dashboard's own widgets)."""

from __future__ import annotations

from memdash.config import load_config, target_from_url
from memdash.levels import Level
from memdash.model import GpuDevice, GpuProcess, GpuStatus
from memdash.record.decode import snapshot_from_json
from memdash.report import snapshot_json


def test_round_trip_of_a_real_poll_with_a_probe_target(gc_service, monkeypatch) -> None:
    import dataclasses

    from memdash.engine import Engine

    monkeypatch.setenv("MEMDASH_TEST_TOKEN", gc_service.token)
    config = load_config(None)
    target = target_from_url(gc_service.url, token_env="MEMDASH_TEST_TOKEN")
    engine = Engine(dataclasses.replace(config, targets=(target,)), gpu=False, discover=False, running=False)
    try:
        snap = engine.poll_once(limit=10, detail_top=10).as_snapshot()
    finally:
        engine.close()
    assert snap.targets[0].ok and snap.targets[0].gc is not None, snap.targets[0].error
    doc = snapshot_json(snap)
    again = snapshot_from_json(doc, snap.time)
    assert snapshot_json(again) == doc
    assert again.targets[0].gc is not None and again.level == snap.level


def test_gpus_round_trip_and_garbage_is_tolerated() -> None:
    from dataclasses import replace

    from memdash.model import Snapshot

    gpus = GpuStatus(available=True, driver="550", devices=(GpuDevice(
        index=0, name="H100", uuid="GPU-1", total_bytes=80 << 30, used_bytes=10 << 30, free_bytes=70 << 30,
        percent=12.5, utilization=40.0, temperature=51.0, processes=(GpuProcess(pid=7, used_bytes=1 << 30),),
        level=Level.EXCELLENT),))
    snap = Snapshot(host="h", time=1_764_000_000.0, system=None, processes=(), process_count=0, gpus=gpus)
    doc = snapshot_json(snap)
    assert snapshot_json(snapshot_from_json(doc, snap.time)) == doc
    broken = dict(doc, processes=[{"pid": "x"}, 5], targets=[{"name": 3, "gc": []}], gpus=None, system=[])
    s = snapshot_from_json(broken, 1.0)
    assert s.processes[0].pid == 0 and s.targets[0].name == "?" and not s.gpus.available and s.system is None
    assert replace(s, host="x").host == "x"
