"""The two schedules: a hung target delays neither frames nor other targets;
pause stops every poll, local and targets, and resume restarts them."""

from __future__ import annotations

import time

from memdash.collector import LocalCollector
from memdash.config import Config, TargetConfig
from memdash.engine import Engine

from engine_helpers import Frames, wait_until


class CountingCollector(LocalCollector):
    """The real local collector, counting its polls."""

    polls = 0

    def poll(self, **kwargs):  # type: ignore[no-untyped-def]
        self.polls += 1
        return super().poll(**kwargs)


def test_a_hung_target_delays_nothing(counting_probe, hung_server) -> None:
    targets = (
        # Answers never come; the poll gives up only after 30 s.
        TargetConfig(name="hung", url=hung_server.url, kind="probe", interval=0.2, timeout=30.0),
        TargetConfig(name="good", url=counting_probe.url, kind="probe", interval=0.2),
    )
    engine = Engine(Config(interval=0.3, targets=targets), gpu=False, discover=False)
    frames = Frames(engine)
    engine.start()
    try:
        first = frames.wait(lambda f: f.target("good") is not None)
        later = frames.wait(lambda f: f.seq >= first.seq + 5)
        assert wait_until(lambda: hung_server.accepted >= 1)
    finally:
        engine.close()
    # Five more frames came while the hung target's first poll was still waiting
    # (it has no sample at all), and the good target kept being refreshed.
    assert later.target("hung") is None
    assert later.target("good").ok
    assert later.target("good").time > first.target("good").time
    assert counting_probe.count() >= 3


def test_pause_stops_local_and_target_polls_and_resume_restarts_them(counting_probe) -> None:
    config = Config(interval=0.2, targets=(TargetConfig(name="api", url=counting_probe.url, kind="probe", interval=0.1),))
    collector = CountingCollector(config, gpu=False)
    engine = Engine(config, collector=collector, discover=False)
    frames = Frames(engine)
    engine.start()
    try:
        frames.wait(lambda f: f.target("api") is not None and f.seq >= 3)
        engine.set_paused(True)
        paused = frames.wait(lambda f: f.paused)
        time.sleep(0.5)  # a poll in flight when pause was pressed may still land
        local_before, targets_before = collector.polls, counting_probe.count()
        # Nothing a screen does while paused polls: not a view change, not a new interval.
        engine.set_view(need_all=True, refresh=True)
        engine.set_interval(0.2)
        time.sleep(1.5)  # 7 local ticks and 15 target polls would have happened
        assert collector.polls == local_before
        assert counting_probe.count() == targets_before
        assert frames.last.seq == paused.seq  # no frame while paused
        engine.set_paused(False)
        resumed = frames.wait(lambda f: not f.paused and f.seq > paused.seq)
        assert wait_until(lambda: counting_probe.count() > targets_before and collector.polls > local_before)
        frames.wait(lambda f: f.seq > resumed.seq and "api" in f.changed_targets)
    finally:
        engine.close()
