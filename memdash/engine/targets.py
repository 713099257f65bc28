"""The target schedule: every target polled on its own interval, on an event loop
of its own.

Targets are polled by :class:`~memdash.sources.remote.TargetPoller` (one task per
target, so a hung target delays no other) on an asyncio loop that runs in a
thread of its own, "memdash-targets": the screen's loop stays free, and the
engine can run where there is no loop at all (``memdash snapshot``). Pausing
stops the poller's run, so no target is polled while paused; resuming starts it
again (each target is polled at once).

Every sample goes to ``on_sample``, called on this loop's thread. Cleanups run
here too, each followed by a poll of the same target, whose sample goes to
``on_sample`` like any other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Coroutine, Iterable, TypeVar

from memdash.config import TargetConfig
from memdash.levels import Thresholds
from memdash.model import CleanupResult, TargetSample

if TYPE_CHECKING:
    from memdash.sources.remote import TargetPoller

log = logging.getLogger(__name__)
T = TypeVar("T")


class TargetSchedule:
    """Owns the targets' event loop thread and their poller.

    Args:
        thresholds: levels for targets without their own.
        read_only: every cleanup is refused.
        on_sample: called with every sample, on this schedule's loop thread.
        running: poll on schedule from the start (``False``: only
            :meth:`poll_once` and cleanups poll, as for a one-shot snapshot).
    """

    def __init__(
        self,
        thresholds: Thresholds,
        *,
        read_only: bool,
        on_sample: Callable[[TargetSample], None],
        running: bool = True,
    ) -> None:
        self.thresholds = thresholds
        self.read_only = read_only
        self._on_sample = on_sample
        self._paused = not running
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: TargetPoller | None = None
        self._changed: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # ------------------------------------------------------------ lifetime

    def start(self, targets: Iterable[TargetConfig]) -> None:
        """Start the loop thread with ``targets``. Returns at once: the HTTP stack
        is imported on that thread, not the caller's (a screen's first frame)."""
        if self._thread is not None:
            raise RuntimeError("TargetSchedule.start called twice")
        initial = tuple(targets)
        self._thread = threading.Thread(target=self._main, args=(initial,), name="memdash-targets", daemon=True)
        self._thread.start()

    def _started_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop, once the thread has built it (``None`` if it never started)."""
        if self._thread is None:
            return None
        self._ready.wait(60)
        return self._loop

    def _main(self, targets: tuple[TargetConfig, ...]) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._run(targets))
        finally:
            self._ready.set()  # never leave a caller waiting on a loop that failed to start
            loop.close()

    async def _run(self, targets: tuple[TargetConfig, ...]) -> None:
        from memdash.sources.remote import TargetPoller

        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        poller = self._poller = TargetPoller(targets, self.thresholds, read_only=self.read_only)
        self._ready.set()
        try:
            while not self._closing:
                if self._paused:
                    await self._changed.wait()
                    self._changed.clear()
                    continue
                stop = asyncio.Event()
                run = asyncio.create_task(poller.run(self._deliver, stop))
                changed = asyncio.create_task(self._changed.wait())
                await asyncio.wait({run, changed}, return_when=asyncio.FIRST_COMPLETED)
                self._changed.clear()
                stop.set()
                changed.cancel()
                await asyncio.gather(run, changed, return_exceptions=True)
        finally:
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:  # cleanups and one-shot polls in flight
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await poller.aclose()

    def _deliver(self, sample: TargetSample) -> None:
        try:
            self._on_sample(sample)
        except Exception:  # a broken subscriber must not stop polling
            log.exception("on_sample failed for target %s", sample.name)

    def _poke(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._started_loop()
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop has closed: nothing left to tell
            pass

    def close(self, timeout: float = 10.0) -> bool:
        """Stop polling, close every connection and wait for the thread.

        Returns False when the thread did not finish within ``timeout``.
        """
        thread = self._thread
        if thread is None:
            return True
        self._closing = True
        self._call(self._poke)
        thread.join(timeout)
        return not thread.is_alive()

    # ------------------------------------------------------------ control

    def set_paused(self, paused: bool) -> None:
        """Pause (no target is polled) or resume (every target is polled at once)."""

        def apply() -> None:
            if self._paused != paused:
                self._paused = paused
                self._poke()

        self._call(apply)

    def add(self, targets: Iterable[TargetConfig]) -> None:
        """Add targets (discovered probes); they start at once unless paused."""
        found = tuple(targets)

        def apply() -> None:
            if self._poller is not None:
                self._poller.add_targets(found)

        self._call(apply)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on this schedule's loop; its result through a future."""
        loop = self._started_loop()
        if loop is None or self._closing:
            coro.close()
            raise RuntimeError("the target schedule is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop)

    # ------------------------------------------------------------ work on the loop

    async def poll_all(self) -> tuple[TargetSample, ...]:
        """Poll every target once, concurrently (on this loop); samples delivered too."""
        assert self._poller is not None
        samples = await self._poller.poll_once()
        for s in samples:
            self._deliver(s)
        return samples

    async def cleanup(self, name: str, action: str, options: dict[str, Any]) -> tuple[CleanupResult, TargetSample | None]:
        """Run a cleanup, then poll that target at once (on this loop).

        Returns the receipt and the sample of the poll after it, which the
        caller delivers with the receipt (so one frame holds both); the sample
        is ``None`` for an unknown target.
        """
        poller = self._poller
        assert poller is not None
        result = await poller.cleanup(name, action, **options)
        sample = None
        if name in {t.name for t in poller.targets}:
            sample = await poller.poll(name)
        return result, sample


async def wrap(future: concurrent.futures.Future[T]) -> T:
    """Await a future of the schedule's loop from another loop."""
    result: Awaitable[T] = asyncio.wrap_future(future)
    return await result
