"""Enter on any process row opens its view: figures, RSS history, children, command."""

from __future__ import annotations

import subprocess
import sys
import time

from memdash.config import Config
from memdash.tui.screens.process import ProcessScreen
from memdash.tui.widgets.memory import HistoryChart
from memdash.tui.widgets.process_table import ProcessTable

from tui_fixtures import sample_app

CHILD = "import sys, time; b = bytearray(64 << 20); b[::4096] = b'x' * len(range(0, len(b), 4096)); print('up', flush=True); time.sleep(60)"


async def test_enter_on_a_plain_row_opens_its_process_view():
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(ProcessTable)
        for _ in range(200):  # bounded
            if table.row_count:
                break
            await pilot.pause(0.05)
        assert table.cursor_pid == 4101
        await pilot.press("enter")
        await pilot.pause(0.5)
        assert isinstance(app.screen, ProcessScreen) and app.screen.pid == 4101
        text = "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert "gunicorn app:app --workers 3 --bind 0.0.0.0:8000" in text  # the whole command
        assert "USS 120M" in text and "PSS 131M" in text and "RSS 148M of 512M limit" in text
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ProcessScreen)


async def test_a_real_process_shows_its_children_and_rss_history(tmp_path):
    """The real collector: this test's own child under the pytest process."""
    from memdash.tui.app import MemdashApp

    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "up"  # type: ignore[union-attr]
        import os

        app = MemdashApp(Config(), gpu=False, discover=False, poll_targets=False)
        async with app.run_test(size=(160, 50)) as pilot:
            for _ in range(200):  # bounded
                if app.frame is not None:
                    break
                await pilot.pause(0.05)
            app.open_process(os.getpid())
            await pilot.pause(0.3)
            chart = app.screen.query_one("#p-chart", HistoryChart)
            # bounded but generous: the first 5 s point comes after several frames, and a
            # box loaded many times over may take far longer than 5 s to produce them
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not chart.plotted[1]:
                await pilot.pause(0.2)
            await pilot.pause(1.0)
            text = "\n".join(s.text for s in app.screen._compositor.render_strips())
            assert str(child.pid) in text, text  # a child, by pid
            frame = app.frame
            key = f"process.{os.getpid()}.rss"
            assert chart.plotted[1] and chart.axis["ylabels"], (  # what to look at when it is empty
                f"row in frame: {any(p.pid == os.getpid() for p in frame.processes)}; view series: "
                f"{app.engine.view.series}; frame series: {sorted(frame.series)}; points: "
                f"{len(frame.series[key].times) if key in frame.series else None}; chart args: "
                f"{[len(a) for a in chart._args[0]] if chart._args else None}; size {chart.size}")
    finally:
        child.kill()
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]
