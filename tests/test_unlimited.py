"""-1, 0, NaN and Inf are the usual spellings of "no limit": read as no limit,
in cgroup files, in the box's memory and in a target's ``limit_mb``."""

from __future__ import annotations

from pathlib import Path

import pytest

from memdash.config import ConfigError, load_config
from memdash.model import CgroupMemory
from memdash.sources.cgroup import CgroupRoots, memory_for_cgroup_text
from memdash.sources.system import system_memory_from

MiB = 1024 * 1024
GiB = 1024 * MiB


class Tree:
    """A sample ``/proc`` and ``/sys/fs/cgroup`` under one folder."""

    def __init__(self, root: Path) -> None:
        self.cg = root / "sys_fs_cgroup"
        (root / "proc").mkdir()
        self.cg.mkdir()
        self.roots = CgroupRoots(proc=str(root / "proc"), sys_fs_cgroup=str(self.cg))

    def v2_group(self, rel: str, *, max: str | int | None = None, current: int | None = None) -> None:
        d = self.cg / rel.strip("/")
        d.mkdir(parents=True, exist_ok=True)
        (d / "cgroup.controllers").write_text("cpu io memory pids\n")
        if max is not None:
            (d / "memory.max").write_text(f"{max}\n")
        if current is not None:
            (d / "memory.current").write_text(f"{current}\n")

    def v1_group(self, rel: str, *, limit: int, usage: int) -> None:
        d = self.cg / "memory" / rel.strip("/")
        d.mkdir(parents=True, exist_ok=True)
        (d / "memory.limit_in_bytes").write_text(f"{limit}\n")
        (d / "memory.usage_in_bytes").write_text(f"{usage}\n")


@pytest.mark.parametrize("value", ["0", "-1"])
def test_v2_memory_max_zero_or_minus_one_is_no_limit(tmp_path: Path, value: str) -> None:
    tree = Tree(tmp_path)
    tree.v2_group("/")
    tree.v2_group("outer", max=512 * MiB, current=10 * MiB)
    tree.v2_group("outer/svc", max=value, current=100 * MiB)
    cg = memory_for_cgroup_text("0::/outer/svc\n", tree.roots)
    # The service's own 0 is not a limit; its parent's 512 MiB still binds.
    assert cg == CgroupMemory(path="/outer/svc", version=2, usage_bytes=100 * MiB, limit_bytes=512 * MiB)
    tree.v2_group("alone", max=value, current=100 * MiB)
    assert memory_for_cgroup_text("0::/alone\n", tree.roots).limit_bytes is None  # type: ignore[union-attr]


@pytest.mark.parametrize("value", [0, -1])
def test_v1_limit_zero_or_minus_one_is_no_limit(tmp_path: Path, value: int) -> None:
    tree = Tree(tmp_path)
    tree.v1_group("/", limit=value, usage=5000 * MiB)
    tree.v1_group("docker", limit=value, usage=700 * MiB)
    cg = memory_for_cgroup_text("4:memory:/docker\n", tree.roots)
    assert cg is not None and cg.limit_bytes is None and cg.usage_bytes == 700 * MiB


@pytest.mark.parametrize("limit", [0, -1])
def test_box_with_a_zero_limit_is_measured_against_ram(limit: int) -> None:
    # memory.max = 0 once raised ZeroDivisionError here.
    cgroup = CgroupMemory(path="/", version=2, usage_bytes=100 * MiB, limit_bytes=limit)
    mem = system_memory_from(total=4 * GiB, available=3 * GiB, used=1 * GiB, swap_total=0, swap_used=0,
                             cgroup=cgroup)
    assert mem.limit_bytes is None and mem.percent == pytest.approx(25.0)


@pytest.mark.parametrize("spelling", ["-1", "0", "nan", "inf", "-inf", "+inf"])
def test_config_limit_mb_unlimited_spellings(tmp_path: Path, spelling: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[[targets]]\nname = "a"\nurl = "http://127.0.0.1:1/"\nlimit_mb = {spelling}\n')
    (target,) = load_config(str(path)).targets
    assert target.limit_mb is None and target.limit_bytes is None


def test_config_limit_mb_still_refuses_nonsense(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[targets]]\nname = "a"\nurl = "http://127.0.0.1:1/"\nlimit_mb = "lots"\n')
    with pytest.raises(ConfigError, match="limit_mb: must be a number"):
        load_config(str(path))
    path.write_text('[[targets]]\nname = "a"\nurl = "http://127.0.0.1:1/"\nlimit_mb = 512\n')
    (target,) = load_config(str(path)).targets
    assert target.limit_bytes == 512 * MiB
