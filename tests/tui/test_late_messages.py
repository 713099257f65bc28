"""A message for a widget that is already gone (shutdown removes widgets while
their messages are still queued) is ignored: quitting never raises."""

from __future__ import annotations

from memdash.config import Config
from memdash.tui.app import MemdashApp
from memdash.tui.widgets.process_table import ProcessTable

from tui_fixtures import FixedCollector


async def test_a_resize_of_a_process_table_already_removed_is_ignored() -> None:
    app = MemdashApp(Config(), collector=FixedCollector(), discover=False, poll_targets=False)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(200):  # bounded: the first frame
            if app.frame is not None:
                break
            await pilot.pause(0.05)
        assert app.frame is not None
        # Paused: no new frame either (a frame for a removed table is what the
        # shutdown guard in on_frame_ready is for; this is about the message).
        app.engine.set_paused(True)
        for _ in range(200):
            if app.frame.paused:
                break
            await pilot.pause(0.05)
        assert app.frame.paused
        await pilot.pause(0.2)
        await app.query_one(ProcessTable).remove()
        app.post_message(ProcessTable.Resized())
        await pilot.pause(0.3)
        assert app.is_running and app.return_code is None
    assert app.return_code in (0, None)
