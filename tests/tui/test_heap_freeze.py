"""The dashboard moves its start-up objects out of the cyclic GC's way once its
first frames are drawn (gc.freeze: full collections no longer walk Textual and
every module each time), and gives them back on exit."""

from __future__ import annotations

import gc

from tui_fixtures import sample_app


async def frames_until(pilot, seq: int) -> None:
    for _ in range(600):  # bounded: 30 s at most
        if pilot.app.frame is not None and pilot.app.frame.seq >= seq:
            return
        await pilot.pause(0.05)
    raise AssertionError(f"no frame {seq}")


async def test_start_up_objects_are_frozen_once_and_given_back_on_exit() -> None:
    before = gc.get_freeze_count()
    app = sample_app(freeze_heap=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await frames_until(pilot, 2)
        for _ in range(200):  # bounded: frozen right after that frame is drawn
            if app.heap_frozen:
                break
            await pilot.pause(0.05)
        assert app.heap_frozen
        frozen = gc.get_freeze_count()
        assert frozen > before + 10_000  # Textual and the modules, not a handful
        await frames_until(pilot, app.frame.seq + 2)
        # Once: later objects stay in the GC's care (frozen ones that die by
        # reference count still go, so the count may only fall).
        assert gc.get_freeze_count() <= frozen
    assert not app.heap_frozen and gc.get_freeze_count() == before


async def test_a_headless_dashboard_leaves_its_process_heap_alone() -> None:
    """A test's app shares the test's process: unasked, it freezes nothing."""
    before = gc.get_freeze_count()
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await frames_until(pilot, 3)
        await pilot.pause(0.2)
        assert not app.heap_frozen and gc.get_freeze_count() == before
