"""The pure parts of the service widgets: sort orders, the level bar and the stacked breakdown."""

from __future__ import annotations

import pytest

from memdash.model import MemoryBreakdown, OomKills, ServiceMemory
from memdash.tui.screens.service import breakdown_parts, stacked_bar
from memdash.tui.widgets.services_table import bar, oom_cell, sort_services

MiB = 1024 * 1024


def svc(name, *, percent=None, ws=None, growth=None, eta=None, kills=None, recent=False):
    return ServiceMemory(key=name, name=name, kind="cgroup", worker_count=1, process_count=1, rss_bytes=1,
                         percent=percent, working_set_bytes=ws, growth_bytes_per_min=growth, oom_eta_seconds=eta,
                         oom_kills=OomKills(count=kills, recent=recent))


SERVICES = [
    svc("a", percent=50, ws=100 * MiB, growth=0.0, eta=None),
    svc("b", percent=90, ws=50 * MiB, growth=5 * MiB, eta=600),
    svc("c", percent=None, ws=300 * MiB, growth=None, eta=None),
    svc("d", percent=70, ws=200 * MiB, growth=20 * MiB, eta=60),
]


@pytest.mark.parametrize("by, order", [
    ("percent", ["b", "d", "a", "c"]),
    ("working_set", ["c", "d", "a", "b"]),
    ("eta", ["d", "b", "a", "c"]),       # soonest OOM first, no ETA last (by name)
    ("growth", ["d", "b", "a", "c"]),
])
def test_sort_orders(by, order):
    assert [s.name for s in sort_services(SERVICES, by)] == order


def test_reverse_keeps_unknown_last():
    assert [s.name for s in sort_services(SERVICES, "percent", reverse=True)] == ["a", "d", "b", "c"]


def test_unknown_sort_is_an_error():
    with pytest.raises(ValueError):
        sort_services(SERVICES, "colour")


@pytest.mark.parametrize("percent, text", [
    (None, ""), (0, "··········"), (50, "█████·····"), (100, "██████████"), (250, "██████████"),
    (55, "█████▌····"),
])
def test_bar(percent, text):
    assert bar(percent) == text


def test_oom_cell():
    assert oom_cell(svc("x"))[0] == "-"
    assert oom_cell(svc("x", kills=0))[0] == "0"
    text, level = oom_cell(svc("x", kills=2, recent=True))
    assert text == "2!" and level.label == "critical"


def test_breakdown_and_stacked_bar():
    b = MemoryBreakdown(anon_bytes=120 * MiB, file_bytes=42 * MiB, kernel_bytes=6 * MiB, shmem_bytes=8 * MiB,
                        sock_bytes=1 * MiB, inactive_file_bytes=30 * MiB)
    parts = breakdown_parts(b)
    assert parts == [("anon", 120 * MiB), ("file", 42 * MiB), ("shmem", 8 * MiB), ("kernel", 5 * MiB),
                     ("sock", 1 * MiB)]
    cells = dict(stacked_bar(parts, 256 * MiB, 64))
    # 176 MiB of 256 over 64 cells: 44 cells, split in proportion
    assert sum(cells.values()) == 44
    assert cells == {"anon": 30, "file": 11, "shmem": 2, "kernel": 1, "sock": 0}  # largest remainder: file
    assert stacked_bar(parts, 0, 10) == [(k, 0) for k, _ in parts]


def test_differences_nobody_can_see_do_not_reorder():
    a = svc("a", percent=50.01, ws=100 * MiB + 10, growth=1000.0, eta=600.2)
    b = svc("b", percent=50.04, ws=100 * MiB + 20, growth=2000.0, eta=600.1)
    for by in ("percent", "working_set", "growth", "eta"):
        assert [s.name for s in sort_services([b, a], by)] == ["a", "b"], by
