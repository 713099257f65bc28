"""Joining the events of one kill into one incident; critical episodes; lookup."""

from __future__ import annotations

import pytest

from memdash.record.incidents import find_incident, incidents_from_events
from memdash.record.store import Event

T = 1_764_000_000.0


def kmsg(t: float, pid: int, cgroup: str) -> Event:
    return Event(t=t, kind="oom_kill", subject=cgroup, level="critical",
                 data={"source": "kmsg", "pid": pid, "name": "python", "cgroup": cgroup, "oom_cgroup": cgroup,
                       "rss_bytes": 70 << 20, "line": f"Killed process {pid} (python)"})


def counter(t: float, cgroup: str, pid: int | None = None, delta: int = 1) -> Event:
    data = {"source": "cgroup", "cgroup": cgroup, "count": delta, "delta": delta, "limit_bytes": 64 << 20}
    if pid is not None:
        data["pid"] = pid
    return Event(t=t, kind="oom_kill", subject=cgroup, level="critical", data=data)


def host(t: float, delta: int = 1) -> Event:
    return Event(t=t, kind="oom_kill", subject="host", level="warning",
                 data={"source": "vmstat", "count": 5, "delta": delta})


def test_three_sources_of_one_kill_are_one_incident() -> None:
    (inc,) = incidents_from_events([host(T + 0.4), counter(T + 0.4, "/svc", 42), kmsg(T, 42, "/svc")])
    assert (inc.kind, inc.pid, inc.cgroup, inc.rss_bytes, inc.limit_bytes) == ("oom_kill", 42, "/svc", 70 << 20, 64 << 20)
    assert inc.sources == ["kmsg", "cgroup", "vmstat"]
    assert inc.id == "oom-20251124T160000Z-42"


def test_each_source_joins_the_kill_nearest_in_time() -> None:
    # An old kill (from the kernel's buffer) and a new one in the same cgroup.
    got = incidents_from_events([kmsg(T - 50, 1, "/svc"), kmsg(T, 2, "/svc"), counter(T + 0.5, "/svc"), host(T + 0.5)])
    by_pid = {i.pid: i.sources for i in got}
    assert by_pid == {1: ["kmsg"], 2: ["kmsg", "cgroup", "vmstat"]}


def test_without_the_kernel_log_the_counter_is_the_incident() -> None:
    (inc,) = incidents_from_events([counter(T, "/svc", 7)])
    assert (inc.pid, inc.sources, inc.subject) == (7, ["cgroup"], "/svc")


def test_a_host_counter_alone_is_a_host_kill_per_count() -> None:
    got = incidents_from_events([host(T, delta=2)])
    assert [(i.subject, i.pid) for i in got] == [("host", None), ("host", None)]
    assert len({i.id for i in got}) == 2


def test_different_cgroups_never_join() -> None:
    got = incidents_from_events([kmsg(T, 1, "/a"), counter(T, "/b", 2)])
    assert sorted((i.cgroup, i.sources[0]) for i in got) == [("/a", "kmsg"), ("/b", "cgroup")]


def test_critical_episodes_from_level_changes() -> None:
    events = [
        Event(t=T, kind="level_change", subject="host", level="critical", data={"from": "good", "to": "critical"}),
        Event(t=T + 60, kind="level_change", subject="host", level="warning", data={"from": "critical", "to": "warning"}),
        Event(t=T + 100, kind="level_change", subject="api", level="critical", data={"to": "critical"}),
    ]
    got = incidents_from_events(events)
    assert [(i.kind, i.subject, i.t, i.end) for i in got] == [
        ("critical", "host", T, T + 60), ("critical", "api", T + 100, None)]


def test_find_by_id_prefix_or_number() -> None:
    got = incidents_from_events([kmsg(T, 1, "/a"), kmsg(T + 3600, 2, "/a")])
    assert find_incident(got, "2") is got[1]
    assert find_incident(got, got[0].id) is got[0]
    assert find_incident(got, "oom-20251124T17") is got[1]
    with pytest.raises(LookupError, match="matches 2 incidents"):
        find_incident(got, "oom-")
    with pytest.raises(LookupError, match="no incident 'nope'"):
        find_incident(got, "nope")
    with pytest.raises(LookupError, match="no incidents"):
        find_incident([], "1")
