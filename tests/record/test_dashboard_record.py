"""``memdash --record``: the dashboard records what it shows, cleanups and their
receipts included; a store another recorder holds is refused before the screen opens."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from memdash.config import Config, target_from_url
from memdash.record.live import start_dashboard_recording
from memdash.record.store import Store

from .conftest import memdash_cli


async def _wait(pilot, predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await pilot.pause(0.1)
    return predicate()


async def test_dashboard_records_frames_and_a_cleanup_receipt(gc_service, monkeypatch, tmp_path: Path) -> None:
    from memdash.tui.app import MemdashApp

    monkeypatch.setenv("MEMDASH_TEST_TOKEN", gc_service.token)
    target = dataclasses.replace(target_from_url(gc_service.url, token_env="MEMDASH_TEST_TOKEN"), name="api",
                                 interval=0.5)
    config = Config(targets=(target,), interval=0.5)
    app = MemdashApp(config, gpu=False, discover=False)
    store = tmp_path / "store"
    recorder = start_dashboard_recording(app.engine, str(store), interval=0.5)
    try:
        async with app.run_test(size=(160, 45)) as pilot:
            assert await _wait(pilot, lambda: app.frame is not None and app.frame.target("api") is not None
                               and app.frame.target("api").ok)
            result = await app.engine.cleanup("api", "gc")
            assert result.ok and result.collected
            # Two more stored frames: the receipt rides the frame after the cleanup
            # (on a loaded box the first answer alone can take four frames).
            after = recorder.recorder.frames + 2
            assert await _wait(pilot, lambda: recorder.recorder.frames >= max(4, after))
            rows = len(app.frame.processes)
    finally:
        recorder.close()
    assert recorder.error is None
    with Store(store) as s:
        assert len(s) >= 4
        last = s.frame(len(s) - 1)
        # what the dashboard holds (its top rows), not every process on the box
        # (the table fills the window: on a quiet box that can be every process)
        assert abs(len(last.snapshot["processes"]) - rows) <= 3
        assert len(last.snapshot["processes"]) <= max(rows + 3, 0) <= last.snapshot["process_count"] + 3
        assert [t["name"] for t in last.snapshot["targets"]] == ["api"]
        assert last.snapshot["targets"][0]["gc"] is not None
        (cleanup,) = s.events(kinds=("cleanup",))
        assert cleanup.subject == "api" and cleanup.data.get("collected") == result.collected


def test_record_flag_refuses_a_store_in_use(env: dict[str, str], recorder, tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = recorder(store, "--interval", "0.3")
    first.wait_frames(1)
    out = memdash_cli(env, "--record", str(store), "--no-gpu", "--no-discover")
    assert out.returncode == 2
    assert out.stderr.strip() == (f"memdash: error: --record: another recorder (pid {first.proc.pid})"
                                  f" is already writing to {store}")
    assert first.stop() == 0
