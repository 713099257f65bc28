"""The Fleet screen driven by Pilot, over a real Prometheus (and over a dead one)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
from textual.css.query import NoMatches

from memdash.fleet.source import open_source
from memdash.levels import Thresholds
from memdash.tui.screens.fleet import AttachRequest, FleetApp, FleetDetail, FleetScreen, FleetTable
from tests.fleet.fleet_helpers import (MIB, PODS, CadvisorExporter, free_port, need_binaries, start_node_exporter,
                                       start_prometheus, start_service, stop, wait_until)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TOKEN = "fleet-pilot-token-41c2"
EVIL_POD = "x[/]\x1b[2J[@click=app.quit]"


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    need_binaries("prometheus", "prometheus-node-exporter")
    tmp: Path = tmp_path_factory.mktemp("fleet-pilot")
    token_file = tmp / "token"
    token_file.write_text(TOKEN)
    exporter = CadvisorExporter(PODS + [("evil", EVIL_POD, "c", 10 * MIB, 64 * MIB)])
    procs: list[subprocess.Popen] = []
    try:
        service = start_service("127.0.0.1", 0, 0, TOKEN)
        procs.append(service.proc)
        node = free_port()
        procs.append(start_node_exporter(node))
        p = start_prometheus(tmp, [{"name": "probes", "targets": [service.address], "token_file": token_file},
                                   {"name": "node", "targets": [f"127.0.0.1:{node}"]},
                                   {"name": "kubelet", "targets": [exporter.address]}])
        procs.append(p.proc)
        wait_until(lambda: len(p.query("up == 1")) == 3 and p.query("deriv(process_resident_memory_bytes[1m])"),
                   90, "targets up with two samples")
        yield {"url": p.url, "service": service}
    finally:
        for proc in reversed(procs):
            stop(proc)
        exporter.close()


async def _until(pilot, check, what: str, seconds: float = 90.0):
    """Pause until ``check()`` is truthy and return it; bounded but generous (a
    loaded box answers Prometheus queries slowly), never a wall-clock upper bound
    on what is tested."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = check()
        except NoMatches:  # the screen is not composed yet
            found = None
        if found:
            return found
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")


async def _ready(pilot, app: FleetApp, rows: int) -> FleetTable:
    def ranked() -> FleetTable | None:
        table = app.screen.query_one(FleetTable)
        return table if app.frame is not None and table.row_count >= rows else None

    try:
        return await _until(pilot, ranked, f"a ranking with {rows} rows")
    except AssertionError:
        raise AssertionError(f"no ranking with {rows} rows; frame errors: {app.frame and app.frame.errors}") from None


async def test_ranking_labels_and_drill_down(prom: dict) -> None:
    # a loaded box may take longer than the default 4 s to answer: the attach key's
    # targets query would fail (and say so) rather than find the probe
    source = open_source(prom["url"], thresholds=Thresholds(eta_min_span=0), timeout=60)
    app = FleetApp(source, interval=5)
    async with app.run_test(size=(140, 40)) as pilot:
        table = await _ready(pilot, app, len(PODS) + 3)
        assert isinstance(app.screen, FleetScreen)
        header = str(app.screen.query_one("#f-header").render())
        assert "families found:" in header and "container_memory_working_set_bytes" in header
        assert "process_resident_memory_bytes" in header and "node_memory_MemAvailable_bytes" in header
        assert app.frame.queries <= 8
        rows = [table.row_text(i) for i in range(table.row_count)]
        kinds = {r[0].rstrip("*") for r in rows}
        assert kinds == {"container", "service", "host"}
        # someone else's label is text: escaped control bytes, markup and a click action shown as they are
        evil = next(r for r in rows if r[1].startswith("evil/"))
        assert "\x1b" not in evil[1] and "\\e[2J" in evil[1] and "[@click=app.quit]" in evil[1]
        # worst first: levels never rise down the table
        order = {"critical": 3, "warning": 2, "good": 1, "excellent": 0, "-": -1}
        level_col = [s.key for s in table.columns].index("level")
        levels = [order[r[level_col]] for r in rows]
        assert levels == sorted(levels, reverse=True)

        # Enter on the probe service: its history with the limit line, then other ranges
        index = next(i for i, r in enumerate(rows) if r[0] == "service*")
        table.cursor_row = index
        await pilot.press("enter")
        await _until(pilot, lambda: isinstance(app.screen, FleetDetail), "the detail screen")
        await _until(pilot, lambda: app.screen.view is not None, "the unit's history")
        view = app.screen.view
        assert view is not None and view.error is None and len(view.points) >= 1
        assert view.seconds == 3600
        await pilot.press("2")
        await _until(pilot, lambda: app.screen.view is not None and app.screen.view.seconds == 6 * 3600,
                     "the 6 h history")
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)

        # the attach key finds the probe's URL from Prometheus's targets and leaves to open it
        table.cursor_row = index
        await pilot.press("a")
        await _until(pilot, lambda: app.return_value is not None, "the attach request")
    assert isinstance(app.return_value, AttachRequest)
    assert app.return_value.url == prom["service"].url.rstrip("/")
    source.close()


async def test_error_row_when_prometheus_is_down() -> None:
    source = open_source(f"http://127.0.0.1:{free_port()}", timeout=1)
    app = FleetApp(source, interval=5)
    async with app.run_test(size=(100, 24)) as pilot:
        await _until(pilot, lambda: app.frame is not None, "the first (failed) refresh")
        await pilot.pause()
        errors = app.screen.query_one("#f-errors")
        assert errors.display
        assert "cannot reach Prometheus" in str(errors.render())
        assert app.screen.query_one(FleetTable).row_count == 0
    source.close()
