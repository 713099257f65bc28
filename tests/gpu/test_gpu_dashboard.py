"""The dashboard's GPU panel over the real pynvml binding and the fake library."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from memdash.config import Config
from memdash.tui.app import MemdashApp
from memdash.tui.widgets.gpu_panel import GpuRow
from memdash.tui.widgets.process_table import ProcessTable

pytestmark = pytest.mark.gpu


async def _wait(pilot, predicate, seconds=60.0) -> bool:  # generous: a loaded box is slow to start an app
    for _ in range(int(seconds / 0.05)):  # bounded
        if predicate():
            return True
        await pilot.pause(0.05)
    return predicate()


async def test_gpu_rows_gauges_and_gpu_column(fake_nvml):
    # A real process holding GPU memory (as the fake says) shows it in the GPU column.
    # A unique marker in its command line: the test filters for it, so the child
    # shows whatever else is big on this machine (the top N by RSS is not ours).
    marker = "mdgpu" + uuid.uuid4().hex[:10]
    child = subprocess.Popen([sys.executable, "-c",
                              f"import time; x = bytearray(64 << 20); time.sleep(60)  # {marker}"])
    try:
        fake_nvml.script(count=2, name="NVIDIA H100 80GB HBM3", total_mib=81559, used_mib="72000;500",
                         procs=f"{child.pid}:30000;", util="87:40;NA")
        app = MemdashApp(Config(), discover=False, poll_targets=False)
        async with app.run_test(size=(200, 50)) as pilot:
            assert await _wait(pilot, lambda: len(app.query(GpuRow)) == 2)

            def screen_text() -> str:
                return "\n".join(s.text for s in app.screen._compositor.render_strips())

            # The rows mount before their labels fill: wait for what is drawn.
            assert await _wait(pilot, lambda: "70G/80G" in screen_text())
            text = screen_text()
            assert "GPU0 NVIDIA H100 80GB HBM3" in text and "70G/80G" in text
            assert "util 87%" in text
            # GPU 0 at 88 % of its memory is critical, and so is the whole screen.
            assert app.query(GpuRow).first().query_one(".gpu-figures").has_class("-critical")
            table = app.query_one(ProcessTable)
            await pilot.press("slash", *marker, "enter")
            assert await _wait(pilot, lambda: child.pid in table._cells)
            gpu_col = [c.key for c in table._columns].index("gpu")
            assert table._cells[child.pid][gpu_col][0] == "29G"
    finally:
        child.kill()
        child.wait()


async def test_mig_instances_get_their_own_rows(fake_nvml):
    fake_nvml.script(count=1, mig="on:2", procs="4242:1000@0,4243:2000@1")
    app = MemdashApp(Config(), discover=False, poll_targets=False)
    async with app.run_test(size=(160, 50)) as pilot:
        # The GPU and its two MIG instances share NVML index 0: three rows, no clash.
        assert await _wait(pilot, lambda: len(app.query(GpuRow)) == 3)
        await pilot.pause(1.2)  # a second poll updates the same rows
        assert len(app.query(GpuRow)) == 3
        keys = [k for k in app.frame.series if k.startswith("gpu.")]
        assert len(keys) == 3


async def test_no_driver_says_so_and_the_rest_works(monkeypatch):
    import pynvml

    monkeypatch.setattr(pynvml, "nvmlLib", None)
    monkeypatch.setattr(pynvml, "_nvmlLib_refcount", 0)

    def no_library(*args, **kwargs):
        raise OSError("libnvidia-ml.so.1: cannot open shared object file")

    monkeypatch.setattr(pynvml, "CDLL", no_library)
    app = MemdashApp(Config(), discover=False, poll_targets=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(ProcessTable)
        assert await _wait(pilot, lambda: table.row_count > 0)
        assert "no NVIDIA driver found" in str(app.query_one("#gpu-reason").content)
        assert not app.query(GpuRow)


async def test_a_short_terminal_gives_the_driver_line_to_the_process_table(fake_nvml):
    """At 80x24 the "NVIDIA driver ..." line is dropped (a process row instead);
    on a taller terminal it is there again."""
    fake_nvml.script(count=1, driver="550.54.15")
    app = MemdashApp(Config(), discover=False, poll_targets=False)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(ProcessTable)
        assert await _wait(pilot, lambda: len(app.query(GpuRow)) == 1 and table.row_count > 0)
        await pilot.pause(0.5)

        def screen_text() -> str:
            return "\n".join(s.text for s in app.screen._compositor.render_strips())

        assert "GPU0 NVIDIA Fake GPU" in screen_text()
        assert "NVIDIA driver" not in screen_text()
        short_rows = table.size.height
        await pilot.resize_terminal(120, 40)
        assert await _wait(pilot, lambda: "NVIDIA driver 550.54.15" in screen_text())
        await pilot.resize_terminal(80, 24)
        assert await _wait(pilot, lambda: "NVIDIA driver" not in screen_text() and table.size.height == short_rows)
        assert "GPU0 NVIDIA Fake GPU" in screen_text()
