"""A process view's PSS/USS/swap history, kept by the engine (no screen): a
view that names ``process.<pid>.pss`` (and .uss, .swap) gets those series for
that pid, a point each time ``smaps_rollup`` was really read, bounded, and
dropped once the view stops asking."""

from __future__ import annotations

import subprocess
import sys
from typing import Iterator

import pytest

from memdash.config import Config
from memdash.engine import Engine, process_smaps_keys
from memdash.history import History

from engine_helpers import Frames

MIB = 1024 * 1024

# Grows by 8 MiB (pages touched) every 0.2 s up to 160 MiB, then holds.
GROWER = """
import sys, time
held = []
print("ready", flush=True)
for _ in range(20):
    held.append(bytearray(8 << 20))
    for i in range(0, len(held[-1]), 4096):
        held[-1][i] = 1
    time.sleep(0.2)
time.sleep(120)
"""


@pytest.fixture
def grower() -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen([sys.executable, "-c", GROWER], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        yield child
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()


def test_a_viewed_pid_gets_bounded_pss_uss_swap_series_that_stop_with_the_view(grower) -> None:
    points = 6
    history = History(points=points)
    # Refresh every 0.1 s, smaps_rollup re-read at most every 0.5 s: most frames
    # carry a cached (older) USS/PSS, which must not become new points.
    engine = Engine(Config(interval=0.1), gpu=False, discover=False, poll_targets=False, services=False,
                    history=history, smaps_max_age=0.5)
    frames = Frames(engine)
    pid = grower.pid
    keys = process_smaps_keys(pid)
    # A small top: the child is not among the largest; asking for its series is enough.
    engine.set_view(series=keys, top=1)
    engine.start()
    try:
        def full(f) -> bool:
            return all(len(f.series.get(k, ())) >= points for k in keys)

        last = frames.wait(full, seconds=60)
        # A few more reads: the series stay at their bound while points keep coming.
        frames.wait(lambda f: f.seq >= last.seq + 20 and full(f), seconds=60)
        mid = frames.last
        assert mid is not None
        for key in keys:
            assert len(mid.series[key]) == points  # bounded by History
            assert history.peek(key) is not None and len(history.peek(key)) == points
        pss, uss, swap = (mid.series[k] for k in keys)
        # The child's own pages: USS and PSS in the tens of MiB, PSS >= USS at the same read.
        assert uss.values[-1] > 40 * MIB and pss.values[-1] >= uss.values[-1]
        assert all(v >= 0 for v in swap.values)
        # A point only when smaps_rollup was read: its times are the reads' own
        # times (the rows' smaps_time), strictly increasing, never a frame's time.
        reads = {p.smaps_time for f in frames.all for p in f.processes if p.pid == pid and p.smaps_time}
        assert set(pss.times) <= reads and list(pss.times) == sorted(set(pss.times))
        assert pss.times == uss.times == swap.times
        with_row = [f for f in frames.all if any(p.pid == pid and p.smaps_time for p in f.processes)]
        assert len(with_row) > len(reads)  # frames re-used a reading: no point for those

        # The view closes: the series are no longer copied, and no longer kept.
        engine.set_view(series=())
        closed = frames.wait(lambda f: f.seq > mid.seq + 2)
        assert not any(k in closed.series for k in keys)
        for key in keys:
            assert history.peek(key) is None
        later = frames.wait(lambda f: f.seq > closed.seq + 5)
        assert not any(k in later.series for k in keys) and all(history.peek(k) is None for k in keys)
    finally:
        engine.close()


def test_only_the_series_asked_for_are_kept() -> None:
    """A view that names PSS only gets PSS; other pids get nothing."""
    import os

    history = History(points=50)
    engine = Engine(Config(interval=0.1), gpu=False, discover=False, poll_targets=False, services=False,
                    history=history, smaps_max_age=0.2)
    frames = Frames(engine)
    pss, uss, swap = process_smaps_keys(os.getpid())
    engine.set_view(series=(pss,), top=1)
    engine.start()
    try:
        f = frames.wait(lambda f: len(f.series.get(pss, ())) >= 2, seconds=60)
        assert uss not in f.series and swap not in f.series
        assert history.peek(uss) is None and history.peek(swap) is None
        assert not [k for k in f.series if k.startswith("process.") and k != pss]
    finally:
        engine.close()
