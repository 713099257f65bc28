"""GPU rows with other people's text: a process whose comm is markup plus an
OSC title uses the (fake) GPU, and the device name itself is hostile. On main
this crashed the dashboard with no key pressed (MarkupError on ``[/]``)."""

from __future__ import annotations

import uuid

import pytest
from hostile_text import HOSTILE_COMM_SHOWN, hostile_processes, unsafe_chars, visible

from memdash.config import Config
from memdash.tui.app import MemdashApp
from memdash.tui.widgets.gpu_panel import GpuRow

pytestmark = pytest.mark.gpu

# No ';' (the fake's list separator).
DEVICE_NAME = "[/]\x1b[2J[@click=app.quit]G\u202e"


async def _wait(pilot, predicate, seconds: float = 15.0) -> bool:
    for _ in range(int(seconds / 0.05)):  # bounded
        if predicate():
            return True
        await pilot.pause(0.05)
    return predicate()


async def test_hostile_gpu_process_and_device_names(fake_nvml) -> None:
    marker = f"hostile-{uuid.uuid4().hex[:10]}"
    with hostile_processes(marker) as pids:
        fake_nvml.script(count=1, name=DEVICE_NAME, total_mib=16000, used_mib="9000",
                         procs=f"{pids['comm']}:4000,{pids['click-quit']}:2000,{pids['osc-title']}:1000")
        app = MemdashApp(Config(), discover=False, poll_targets=False)
        async with app.run_test(size=(200, 50)) as pilot:
            assert await _wait(pilot, lambda: len(app.query(GpuRow)) == 1)
            # The row is in the DOM before its labels are (they mount after it): query, not query_one.
            assert await _wait(pilot, lambda: any(HOSTILE_COMM_SHOWN in str(w.render()) for w in app.query(".gpu-procs")))
            await pilot.pause(0.3)
            assert app.is_running and app.return_code is None
            text = "\n".join(s.text for s in app.screen._compositor.render_strips())
            assert unsafe_chars(text) == [], unsafe_chars(text)[:5]
            assert f"{pids['comm']} {HOSTILE_COMM_SHOWN} 3.9G" in text  # pid, name as data, GPU memory
            assert "GPU0 " + visible(DEVICE_NAME, 21) in text  # escaped, cut to fit its 26 columns
            await pilot.click(".gpu-procs", offset=(10, 0))
            await pilot.click(".gpu-name", offset=(8, 0))
            await pilot.pause(0.2)
            assert app.is_running and app.return_code is None
