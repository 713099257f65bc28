"""The dashboard's Services table and service view, over the real engine and a real
pre-fork tree in a real 256 MB cgroup, driven by keys as a person would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from memdash.config import Config
from memdash.tui.app import MemdashApp
from memdash.tui.screens.service import ServiceScreen, WorkersTable
from memdash.tui.widgets.process_table import ProcessTable
from memdash.tui.widgets.services_table import ServicesTable

from .conftest import join_cgroup

HERE = Path(__file__).parent
MiB = 1024 * 1024


async def _until(pilot, check, what: str, tries: int = 200) -> None:
    for _ in range(tries):  # bounded: 10 s at most
        if check():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never: {what}")


async def test_services_table_and_view(make_cgroup):
    cg = make_cgroup(256 * MiB)
    tree = subprocess.Popen([sys.executable, str(HERE / "prefork_tree.py"), "3", "40"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, preexec_fn=join_cgroup(cg))
    key = f"cgroup:/{cg.name}"
    try:
        assert tree.stdout.readline().strip() == "ready"
        app = MemdashApp(Config(), gpu=False, discover=False)
        async with app.run_test(size=(160, 50)) as pilot:
            table = app.query_one(ServicesTable)
            await _until(pilot, lambda: app.frame is not None and any(s.key == key for s in app.frame.services)
                         and key in table._order, "the service row")
            assert table.display and app.query_one("#services-title").display
            row = table.row_text(table._order.index(key))
            assert row[0] == cg.name and row[1] == "3"  # name, workers
            assert row[2].endswith("/256M")  # working set against the limit

            # s on the services table cycles its sort; on the process table it sorts processes
            app.query_one(ProcessTable).focus()
            table.focus()
            await pilot.pause()
            await pilot.press("s")
            assert table.sort_by == "working_set"
            assert "sorted by working set" in str(app.query_one("#services-title").content)

            table.select_key(key)
            await pilot.press("enter")
            await _until(pilot, lambda: isinstance(app.screen, ServiceScreen), "the service view")
            screen = app.screen
            workers = screen.query_one(WorkersTable)
            await _until(pilot, lambda: workers.row_count == 4, "four process rows")
            roles = [workers.row_text(i)[1] for i in range(4)]
            assert roles == ["master", "worker", "worker", "worker"]
            assert workers.row_text(0)[0] == str(tree.pid)
            assert f"service.{key}.percent" in app.engine.view.series
            status = str(screen.query_one("#s-status").content)
            assert "of 256M limit" in status and "3 workers, 4 processes" in status
            breakdown = str(screen.query_one("#s-breakdown").content)
            assert "anon" in breakdown and "page cache" in breakdown
            await pilot.press("escape")
            await _until(pilot, lambda: not isinstance(app.screen, ServiceScreen), "back to the dashboard")
            # Back to what the main screen charts (memory used).
            await _until(pilot, lambda: f"service.{key}.percent" not in app.engine.view.series, "the series no longer copied")
    finally:
        tree.stdin.close()
        tree.wait(timeout=10)
        tree.stdout.close()
