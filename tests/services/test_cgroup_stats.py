"""Reading cgroup figures: v2 formats from a recorded tree, limits that mean "none",
pressure, OOM-kill counters and the kernel log."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from memdash.model import MemoryPressure
from memdash.sources.cgroup import CgroupRoots
from memdash.sources.cgroup_stats import (
    CgroupStatsReader,
    KernelLog,
    parse_flat_keyed,
    parse_limit,
    parse_pressure,
    read_host,
)

DATA = Path(__file__).parent / "data"
MiB = 1024 * 1024
IDS = dict(line.split() for line in (DATA / "v2" / "ids.txt").read_text().splitlines())
DOCKER = f"/system.slice/docker-{IDS['docker']}.scope"
POD = f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{IDS['pod']}.slice"
CRI = f"{POD}/cri-containerd-{IDS['cri']}.scope"


@pytest.fixture
def v2_reader(tmp_path: Path) -> CgroupStatsReader:
    (tmp_path / "proc").mkdir()
    return CgroupStatsReader(CgroupRoots(proc=str(tmp_path / "proc"), sys_fs_cgroup=str(DATA / "v2" / "sys_fs_cgroup")),
                             total_bytes=16 * 1024 * MiB)


@pytest.mark.parametrize("text, expected", [
    ("max\n", None), ("-1", None), ("0", None), ("nan", None), ("NaN", None), ("", None), ("garbage", None),
    ("9223372036854771712\n", None), (str(2**64 - 1), None), ("268435456\n", 268435456), (" 4096 ", 4096),
])
def test_limit_values(text, expected):
    assert parse_limit(text) == expected


def test_limit_at_or_above_ram_is_no_limit():
    assert parse_limit(str(32 * 1024 * MiB), total_bytes=16 * 1024 * MiB) is None
    assert parse_limit(str(1024 * MiB), total_bytes=16 * 1024 * MiB) == 1024 * MiB


def test_v2_docker_container(v2_reader):
    assert v2_reader.locate(f"0::{DOCKER}\n") == (2, DOCKER)
    st = v2_reader.for_text(f"0::{DOCKER}\n")
    assert st is not None and st.version == 2 and st.path == DOCKER
    assert st.usage_bytes == 180 * MiB
    assert st.limit_bytes == st.own_limit_bytes == 256 * MiB
    assert st.high_bytes is None  # "max"
    assert st.working_set_bytes == (180 - 30) * MiB  # usage - inactive_file
    assert st.percent == pytest.approx(100 * 150 / 256)
    b = st.breakdown
    assert (b.anon_bytes, b.file_bytes, b.shmem_bytes) == (120 * MiB, 42 * MiB, 8 * MiB)  # file without shmem
    assert (b.kernel_bytes, b.slab_bytes, b.sock_bytes) == (6 * MiB, 4718592, 4096)
    assert b.inactive_file_bytes == 30 * MiB
    assert st.pressure == MemoryPressure(some_avg10=1.53, full_avg10=0.91)
    assert st.oom_kills == 2


def test_v2_pod_container_limit_is_the_smallest_on_the_path(v2_reader):
    st = v2_reader.read(2, CRI)
    assert st.own_limit_bytes == 256 * MiB and st.limit_bytes == 256 * MiB
    pod = v2_reader.read(2, POD)
    assert pod.own_limit_bytes == 512 * MiB
    assert v2_reader.read(2, "/kubepods.slice").limit_bytes is None


def test_v2_unit_with_only_memory_high(v2_reader):
    st = v2_reader.read(2, "/system.slice/nginx.service")
    assert st.own_limit_bytes is None and st.limit_bytes is None
    assert st.high_bytes == 64 * MiB


def test_v2_huge_sentinel_is_no_limit(v2_reader):
    assert v2_reader.read(2, "/system.slice/huge.service").limit_bytes is None


def test_paths_outside_the_mount_or_gone_are_none(v2_reader):
    assert v2_reader.read(2, "/../../etc") is None
    assert v2_reader.read(2, "/system.slice/gone.service") is None
    assert v2_reader.for_text("garbage") is None
    assert v2_reader.for_text(None) is None


def test_v2_kernel_figure_from_parts_before_5_18(tmp_path):
    # kernels before 5.18 have no "kernel" key: slab + stacks + page tables + percpu
    root = tmp_path / "cg"
    shutil.copytree(DATA / "v2" / "sys_fs_cgroup", root)
    stat = root / DOCKER.lstrip("/") / "memory.stat"
    stat.write_text("".join(l + "\n" for l in stat.read_text().splitlines() if not l.startswith("kernel ")))
    (tmp_path / "proc").mkdir()
    reader = CgroupStatsReader(CgroupRoots(proc=str(tmp_path / "proc"), sys_fs_cgroup=str(root)))
    b = reader.read(2, DOCKER).breakdown
    assert b.kernel_bytes == 4718592 + 294912 + 1228800 + 0 + 1456


def test_unreadable_files_give_none_not_zero(tmp_path):
    root = tmp_path / "cg"
    (root / "a").mkdir(parents=True)
    (root / "cgroup.controllers").write_text("memory\n")
    (root / "a" / "memory.current").write_text("1000\n")
    (tmp_path / "proc").mkdir()
    st = CgroupStatsReader(CgroupRoots(proc=str(tmp_path / "proc"), sys_fs_cgroup=str(root))).read(2, "/a")
    assert st.usage_bytes == 1000 and st.working_set_bytes == 1000
    assert st.limit_bytes is None and st.breakdown is None and st.pressure is None and st.oom_kills is None


def test_parsers_skip_garbage():
    assert parse_flat_keyed("a 1\nb x\nc\n d 4 5\ne 5\n") == {"a": 1, "e": 5}
    assert parse_pressure("some avg10=abc\n") is None
    assert parse_pressure("some avg10=2.50 avg60=1 total=3\n") == MemoryPressure(some_avg10=2.5, full_avg10=None)
    assert parse_pressure("some avg10=nan avg60=1\nfull avg10=1e9\n") is None
    assert parse_pressure(None) is None


def test_host_figures_recorded(tmp_path):
    proc = tmp_path / "proc"
    (proc / "pressure").mkdir(parents=True)
    shutil.copy(DATA / "host_vmstat.txt", proc / "vmstat")
    shutil.copy(DATA / "host_pressure_memory.txt", proc / "pressure" / "memory")
    host = read_host(str(proc))
    assert host.oom_kills == int(next(l.split()[1] for l in (DATA / "host_vmstat.txt").read_text().splitlines()
                                       if l.startswith("oom_kill ")))
    assert host.pressure is not None and host.pressure.some_avg10 is not None
    empty = read_host(str(tmp_path / "nothing"))
    assert empty.oom_kills is None and empty.pressure is None


def test_host_figures_live():
    host = read_host()
    if not os.path.exists("/proc/vmstat"):
        pytest.skip("no /proc/vmstat")
    assert host.oom_kills is not None and host.oom_kills >= 0


def test_kernel_log_recorded_kills():
    log = KernelLog(str(DATA / "kmsg_oom.txt"))
    assert log.available
    kills = log.poll()
    assert [(k.pid, k.name, k.memcg) for k in kills] == [
        (23014, "python", "/memdash-test-22972-1"),
        (24566, "python", "/memdash-test-24493-0"),
    ]
    assert kills[1].time - kills[0].time == pytest.approx(715245183e-6 - 695295737e-6)
    assert log.poll() == ()  # read once
    log.close()


def test_kernel_log_missing_is_quietly_unavailable(tmp_path):
    log = KernelLog(str(tmp_path / "nope"))
    assert not log.available and log.poll() == ()


def test_kernel_log_live_reads_without_blocking():
    if not os.access("/dev/kmsg", os.R_OK):
        pytest.skip("/dev/kmsg not readable here")
    log = KernelLog(max_records=100)
    log.poll()
    log.poll()  # returns at once with nothing new (non-blocking), never hangs
    assert len(log.kills) <= 64
    log.close()


def test_limits_reread_on_detailed_refreshes_figures_every_time(tmp_path):
    root = tmp_path / "cg"
    shutil.copytree(DATA / "v2" / "sys_fs_cgroup", root)
    (tmp_path / "proc").mkdir()
    reader = CgroupStatsReader(CgroupRoots(proc=str(tmp_path / "proc"), sys_fs_cgroup=str(root)))
    d = root / DOCKER.lstrip("/")
    reader.clear(detail=True)
    assert reader.read(2, DOCKER).limit_bytes == 256 * MiB
    (d / "memory.max").write_text(f"{200 * MiB}\n")
    (d / "memory.current").write_text(f"{190 * MiB}\n")
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 20\noom 3\noom_kill 3\noom_group_kill 0\n")
    reader.clear(detail=False)
    st = reader.read(2, DOCKER)
    assert st.usage_bytes == 190 * MiB and st.oom_kills == 3  # live figures: every refresh
    assert st.limit_bytes == 256 * MiB  # the limit: at the next detailed refresh
    reader.clear(detail=True)
    assert reader.read(2, DOCKER).limit_bytes == 200 * MiB
    reader.close()
