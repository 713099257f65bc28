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


GROWER = """
import time
held = []
print("up", flush=True)
for _ in range(200):  # 1 MiB of touched pages every 0.25 s, at most 200 MiB
    block = bytearray(1 << 20)
    block[::4096] = b"x" * len(range(0, len(block), 4096))
    held.append(block)
    time.sleep(0.25)
time.sleep(60)
"""


async def test_a_growing_process_shows_rss_pss_uss_and_swap_lines_with_a_legend():
    """A real child that really allocates: its view charts four lines in bytes,
    PSS/USS/swap a point per smaps_rollup read (rising with the child), and a legend names them."""
    from memdash.engine import process_smaps_keys
    from memdash.tui.app import MemdashApp

    child = subprocess.Popen([sys.executable, "-c", GROWER], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "up"  # type: ignore[union-attr]
        app = MemdashApp(Config(), gpu=False, discover=False, poll_targets=False)
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(1200):  # bounded: a loaded box is slow to start
                if app.frame is not None:
                    break
                await pilot.pause(0.05)
            app.open_process(child.pid)
            await pilot.pause(0.3)
            assert isinstance(app.screen, ProcessScreen)
            chart = app.screen.query_one("#p-chart", HistoryChart)
            pss_key = process_smaps_keys(child.pid)[0]

            def two_reads() -> bool:
                kept = app.frame.series.get(pss_key) if app.frame is not None else None
                # the chart redraws at most every 5 s while only the data moves: wait for it too
                return (kept is not None and len(kept) >= 2 and set(chart.plotted_more) == {"PSS", "USS", "swap"}
                        and len(chart.plotted_more["PSS"][1]) >= 2)

            # bounded but generous: smaps_rollup is re-read every 10 s, and a loaded box is slow
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not two_reads():
                await pilot.pause(0.2)
            assert two_reads(), (sorted(app.frame.series), chart.plotted_more.keys())
            await pilot.pause(0.3)
            frame = app.frame
            pss = frame.series[pss_key]
            # Two real reads, at least the smaps cadence apart, the child bigger at the second.
            assert pss.times[-1] - pss.times[0] >= 5 and pss.values[-1] > pss.values[0] + 4 * 1024 * 1024
            row = next(p for p in frame.processes if p.pid == child.pid)
            assert row.smaps_time in pss.times  # the newest point is the row's own reading
            # Four lines on one chart, in bytes: RSS, and PSS/USS/swap beside it.
            assert chart.plotted[1] and all(chart.plotted_more[k][1] for k in ("PSS", "USS", "swap"))
            assert max(chart.plotted_more["PSS"][1]) > min(chart.plotted_more["PSS"][1]) + 4 * 1024 * 1024
            assert any(label.endswith("M") for label in chart.axis["ylabels"]), chart.axis
            text = "\n".join(s.text for s in app.screen._compositor.render_strips())
            assert "━ RSS  ━ PSS  ━ USS  ━ swap" in text, text
            assert "memory · last 5m" in text
            # Closing the view stops the engine keeping them.
            await pilot.press("escape")
            for _ in range(600):  # bounded
                if app.frame is not frame and pss_key not in app.frame.series and app.engine.history.peek(pss_key) is None:
                    break
                await pilot.pause(0.05)
            assert pss_key not in app.frame.series and app.engine.history.peek(pss_key) is None
    finally:
        child.kill()
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]
