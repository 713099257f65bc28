"""A process's memory in parts (sources/process_detail.py) and the process view
that shows it, over a real child that really allocates anonymous, file-backed
and shared memory inside a real memory cgroup (cgroup v1, as root) with a limit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from cgroups import MemoryCgroup, memory_cgroup
from memdash.sources.process_detail import parse_kb_lines, read_process_detail
from memdash.units import human_bytes

MiB = 1024 * 1024
LIMIT = 256 * MiB
BOX = 24 * 1024 * MiB

CHILD = textwrap.dedent(
    """
    import mmap, sys
    sys.stdin.readline()                       # wait to be moved into the cgroup
    anon = bytearray(b"\\x01") * (64 << 20)     # 64 MiB private, written: anon, dirty
    with open(sys.argv[1], "wb") as f:
        f.write(b"\\x02" * (16 << 20))
    f = open(sys.argv[1], "rb")
    mapped = mmap.mmap(f.fileno(), 16 << 20, prot=mmap.PROT_READ)
    touched = sum(mapped[i] for i in range(0, 16 << 20, 4096))   # 16 MiB of file pages, mapped
    shared = mmap.mmap(-1, 8 << 20)            # MAP_SHARED|MAP_ANONYMOUS: shmem
    shared.write(b"\\x03" * (8 << 20))
    print("ready", touched, flush=True)
    sys.stdin.readline()
    """
)


@dataclass
class Child:
    pid: int
    proc: subprocess.Popen
    group: MemoryCgroup | None


def _spawn(tmp_path: Path, group: MemoryCgroup | None) -> Iterator[Child]:
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "data.bin")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        if group is not None:
            group.add(proc.pid)
        proc.stdin.write("go\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("ready"), line
        yield Child(proc.pid, proc, group)
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()  # type: ignore[union-attr]
        proc.stdout.close()  # type: ignore[union-attr]


@pytest.fixture
def limited_child(tmp_path: Path) -> Iterator[Child]:
    """The child, inside a fresh memory cgroup with a 256 MiB limit (removed afterwards)."""
    with memory_cgroup(LIMIT, "ux12") as group:
        yield from _spawn(tmp_path, group)


@pytest.fixture
def free_child(tmp_path: Path) -> Iterator[Child]:
    """The child where memdash's own tests run (no cgroup of its own)."""
    yield from _spawn(tmp_path, None)


def test_parse_kb_lines_takes_only_known_well_formed_lines():
    text = "Rss:  100 kB\nPss: 50 kB\nBogus: 1 kB\nSwap: x kB\nLocked: 3 MB\nnot a line\n"
    assert parse_kb_lines(text, {"Rss": "rss", "Pss": "pss", "Swap": "swap", "Locked": "locked"}) == {
        "rss": 100 * 1024, "pss": 50 * 1024}


def test_breakdown_of_a_real_process_in_a_real_limited_cgroup(limited_child: Child):
    d = read_process_detail(limited_child.pid, box_limit_bytes=BOX)
    assert d is not None and d.error is None, d
    assert d.rss_anon_bytes >= 64 * MiB
    assert d.rss_shmem_bytes >= 8 * MiB
    assert d.rss_file_bytes + d.rss_shmem_bytes >= 16 * MiB + 8 * MiB  # the mapped file (shmem if /tmp is tmpfs)
    assert d.private_dirty_bytes >= 64 * MiB and d.uss_bytes >= 64 * MiB
    assert d.pss_anon_bytes >= 64 * MiB and d.pss_shmem_bytes >= 8 * MiB  # nobody else maps them
    assert d.pss_bytes >= d.pss_anon_bytes
    assert d.peak_rss_bytes >= d.rss_anon_bytes
    assert d.swap_bytes == 0 or d.swap_bytes is not None
    assert d.cgroup is not None and d.cgroup.path == "/" + limited_child.group.name  # type: ignore[union-attr]
    assert d.cgroup.version == 1
    assert d.cgroup.limit_bytes == LIMIT and d.limit_bytes == LIMIT
    assert d.cgroup.usage_bytes >= 64 * MiB


def test_outside_a_limited_cgroup_the_box_limit_applies(free_child: Child):
    d = read_process_detail(free_child.pid, box_limit_bytes=BOX)
    assert d is not None and d.rss_anon_bytes >= 64 * MiB
    if d.cgroup is not None and d.cgroup.limit_bytes is not None and d.cgroup.limit_bytes < BOX:
        pytest.skip(f"the tests themselves run under a {d.cgroup.limit_bytes} B limit")
    assert d.limit_bytes == BOX


def test_a_process_that_is_gone_gives_none(tmp_path: Path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert read_process_detail(proc.pid) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: pid 1's smaps_rollup is denied even to root, status is not")
def test_a_denied_smaps_read_leaves_its_figures_unknown_and_says_so():
    d = read_process_detail(1)
    assert d is not None
    if d.error is None:
        pytest.skip("pid 1's smaps_rollup is readable here")
    assert "smaps_rollup" in d.error and d.pss_bytes is None and d.uss_bytes is None
    assert d.rss_anon_bytes is not None  # status is still read


async def test_the_process_view_shows_the_breakdown_cgroup_and_limit(limited_child: Child):
    from memdash.config import Config
    from memdash.tui.app import MemdashApp
    from memdash.tui.screens.process import ProcessScreen

    app = MemdashApp(Config(), gpu=False, discover=False, poll_targets=False, services=False)
    async with app.run_test(size=(100, 40)) as pilot:
        for _ in range(200):  # bounded
            if app.frame is not None:
                break
            await pilot.pause(0.05)
        app.open_process(limited_child.pid)
        screen = None
        for _ in range(300):  # bounded: a loaded machine
            screen = app.screen
            if isinstance(screen, ProcessScreen) and screen.detail is not None:
                break
            await pilot.pause(0.05)
        assert isinstance(screen, ProcessScreen) and screen.detail is not None
        await pilot.pause(0.2)
        text = str(screen.query_one("#p-breakdown").content)
        assert "anon 6" in text or "anon 7" in text, text  # 64 MiB and then some
        assert "/" + limited_child.group.name in text, text  # type: ignore[union-attr]
        assert "limit 256M applies" in text, text
        smaps = str(screen.query_one("#p-smaps").content)
        # This view's own reading: 64 MiB written + 16 MiB file + 8 MiB shared, all mapped by it alone.
        assert screen.detail.uss_bytes >= 88 * MiB
        assert smaps.startswith(f"USS {human_bytes(screen.detail.uss_bytes)}  PSS "), smaps
        assert "before RSS" not in smaps
