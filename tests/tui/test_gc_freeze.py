"""The dashboard freezes what its start-up made out of the cyclic GC (short full
collections with 200 targets: bench/README.md), still collects what comes after,
and gives everything back to the GC on exit."""

from __future__ import annotations

import gc
import weakref

from memdash.tui.app import FREEZE_AFTER_FRAMES

from tui_fixtures import sample_app


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic GC frees it


async def test_start_up_frozen_later_garbage_collected_all_given_back_on_exit() -> None:
    gc.unfreeze()  # whatever an earlier test left
    made_before = Node()
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(300):  # bounded: 30 s (frames come at the 1 s interval)
            if gc.get_freeze_count() > 0:
                break
            await pilot.pause(0.1)
        assert gc.get_freeze_count() > 0, f"not frozen after {FREEZE_AFTER_FRAMES} frames"
        assert app.frame is not None and app.frame.seq >= FREEZE_AFTER_FRAMES

        before = weakref.ref(made_before)
        del made_before
        later = Node()
        after = weakref.ref(later)
        del later
        gc.collect()
        assert after() is None  # garbage made after the freeze is collected as ever
        assert before() is not None  # start-up's objects are out of the GC's way meanwhile
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert before() is None  # and are the GC's again once the dashboard is gone
