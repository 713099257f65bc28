"""Looking series up by name, as the screens do: a process's RSS chart by pid,
a gone service's chart dropped, unknown names creating nothing."""

from __future__ import annotations

from memdash.history import History


def test_a_process_rss_series_is_found_by_its_pid_name() -> None:
    h = History(process_points=10)
    h.record_processes(100.0, {41: 1000, 42: 2000})
    h.record_processes(105.0, {41: 1500, 42: 2000})
    s = h.peek("process.41.rss")
    assert s is not None and s.times == [100.0, 105.0] and s.values == [1000.0, 1500.0]
    assert h.peek("process.42.rss").values == [2000.0, 2000.0]  # type: ignore[union-attr]
    for name in ("process.43.rss", "process.x41.rss", "process..rss", "process.-41.rss", "process.41"):
        assert h.peek(name) is None, name


def test_peek_creates_nothing_and_discard_forgets_a_series() -> None:
    h = History(points=5)
    assert h.peek("service.cgroup:/a.percent") is None
    assert h.peek("service.cgroup:/a.percent") is None  # still nothing: peek did not create it
    h.record("service.cgroup:/a.percent", 1.0, 40.0)
    h.record("service.cgroup:/b.percent", 1.0, 60.0)
    h.discard("service.cgroup:/a.percent")
    assert h.peek("service.cgroup:/a.percent") is None
    assert h.peek("service.cgroup:/b.percent").values == [60.0]  # type: ignore[union-attr]
    h.discard("never.there")  # no error
    h.record("service.cgroup:/a.percent", 2.0, 41.0)  # it comes back: a fresh series
    assert h.peek("service.cgroup:/a.percent").values == [41.0]  # type: ignore[union-attr]
