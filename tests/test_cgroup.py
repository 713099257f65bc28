"""cgroup limits and usage: sample v1/v2 trees on disk, and the real cgroup of this process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from memdash.model import CgroupMemory
from memdash.sources.cgroup import (
    CgroupCache,
    CgroupRoots,
    memory_for_cgroup_text,
    parse_proc_cgroup,
    process_cgroup_memory,
)

MiB = 1024 * 1024
V1_UNLIMITED = 9223372036854771712


# -- building sample trees ------------------------------------------------------


class Tree:
    """A fake ``/proc`` and ``/sys/fs/cgroup`` under one folder."""

    def __init__(self, root: Path) -> None:
        self.proc = root / "proc"
        self.cg = root / "sys_fs_cgroup"
        self.proc.mkdir()
        self.cg.mkdir()
        self.roots = CgroupRoots(proc=str(self.proc), sys_fs_cgroup=str(self.cg))

    def file(self, rel: str, content: str | bytes) -> Path:
        path = self.cg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def v2_group(self, rel: str, *, max: str | int | None = None, current: int | None = None) -> None:
        directory = self.cg / rel.strip("/") if rel.strip("/") else self.cg
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "cgroup.controllers").write_text("cpu io memory pids\n")
        if max is not None:
            (directory / "memory.max").write_text(f"{max}\n")
        if current is not None:
            (directory / "memory.current").write_text(f"{current}\n")

    def v1_group(self, rel: str, *, limit: int | None = None, usage: int | None = None) -> None:
        directory = self.cg / "memory" / rel.strip("/")
        directory.mkdir(parents=True, exist_ok=True)
        if limit is not None:
            (directory / "memory.limit_in_bytes").write_text(f"{limit}\n")
        if usage is not None:
            (directory / "memory.usage_in_bytes").write_text(f"{usage}\n")

    def pid(self, pid: int, cgroup_text: str | bytes) -> None:
        d = self.proc / str(pid)
        d.mkdir()
        if isinstance(cgroup_text, bytes):
            (d / "cgroup").write_bytes(cgroup_text)
        else:
            (d / "cgroup").write_text(cgroup_text)


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


@pytest.fixture
def v2(tree: Tree) -> Tree:
    """A unified hierarchy: / (no files) -> a (max) -> a/b (500M) -> a/b/c (800M, 100M used)."""
    tree.v2_group("/")
    tree.v2_group("a", max="max", current=900 * MiB)
    tree.v2_group("a/b", max=500 * MiB, current=300 * MiB)
    tree.v2_group("a/b/c", max=800 * MiB, current=100 * MiB)
    tree.v2_group("free", max="max", current=42 * MiB)
    return tree


@pytest.fixture
def v1(tree: Tree) -> Tree:
    """A v1 memory hierarchy with the ``unlimited`` sentinel at the root."""
    tree.v1_group("/", limit=V1_UNLIMITED, usage=5000 * MiB)
    tree.v1_group("docker", limit=1024 * MiB, usage=700 * MiB)
    tree.v1_group("docker/abc", limit=V1_UNLIMITED, usage=300 * MiB)
    tree.v1_group("docker/small", limit=256 * MiB, usage=200 * MiB)
    tree.v1_group("user", limit=V1_UNLIMITED, usage=12 * MiB)
    # other v1 controllers, as on a real host
    (tree.cg / "cpu").mkdir()
    (tree.cg / "pids").mkdir()
    return tree


# -- /proc/PID/cgroup text ------------------------------------------------------------


def test_parse_v2_only() -> None:
    assert parse_proc_cgroup("0::/system.slice/app.service\n") == ("/system.slice/app.service", None)


def test_parse_v1_only() -> None:
    text = (
        "12:pids:/docker/abc\n"
        "11:cpu,cpuacct:/docker/abc\n"
        "4:memory:/docker/abc\n"
        "1:name=systemd:/docker/abc\n"
    )
    assert parse_proc_cgroup(text) == (None, "/docker/abc")


def test_parse_hybrid() -> None:
    # systemd's hybrid mode: v1 controllers plus an empty unified line.
    text = "9:name=systemd:/\n4:memory:/process_api/1234\n3:cpuset:/\n0::/user.slice\n"
    assert parse_proc_cgroup(text) == ("/user.slice", "/process_api/1234")


def test_parse_memory_in_a_comma_list_and_colons_in_the_path() -> None:
    assert parse_proc_cgroup("7:cpu,memory:/a:b/c\n") == (None, "/a:b/c")


def test_parse_ignores_lookalikes_and_garbage() -> None:
    text = "garbage\n\n5:memoryless:/x\n1:name=memory:/y\n:::\n"
    assert parse_proc_cgroup(text) == (None, None)
    assert parse_proc_cgroup("") == (None, None)


# -- v2 ------------------------------------------------------------------------------


def test_v2_effective_limit_is_the_smallest_up_the_tree(v2: Tree) -> None:
    v2.pid(100, "0::/a/b/c\n")
    cg = process_cgroup_memory(100, v2.roots)
    assert cg == CgroupMemory(path="/a/b/c", version=2, usage_bytes=100 * MiB, limit_bytes=500 * MiB)


def test_v2_own_limit_when_it_is_the_smallest(v2: Tree) -> None:
    (v2.cg / "a/b/c/memory.max").write_text(f"{128 * MiB}\n")
    cg = memory_for_cgroup_text("0::/a/b/c\n", v2.roots)
    assert cg is not None and cg.limit_bytes == 128 * MiB


def test_v2_unlimited_is_none(v2: Tree) -> None:
    cg = memory_for_cgroup_text("0::/free\n", v2.roots)
    assert cg == CgroupMemory(path="/free", version=2, usage_bytes=42 * MiB, limit_bytes=None)
    cg = memory_for_cgroup_text("0::/a\n", v2.roots)
    assert cg is not None and cg.limit_bytes is None and cg.usage_bytes == 900 * MiB


def test_v2_root_cgroup_has_no_limit(v2: Tree) -> None:
    cg = memory_for_cgroup_text("0::/\n", v2.roots)
    assert cg is not None
    assert cg.path == "/" and cg.version == 2 and cg.limit_bytes is None and cg.usage_bytes is None


def test_v2_container_namespace_falls_back_to_the_mount_root(tree: Tree) -> None:
    # Inside a container with a private cgroup namespace the mount *is* the
    # container's cgroup, with its limit at the top; /proc shows a host path.
    tree.v2_group("/", max=256 * MiB, current=64 * MiB)
    tree.pid(7, "0::/system.slice/docker-0123abcd.scope\n")
    cg = process_cgroup_memory(7, tree.roots)
    assert cg == CgroupMemory(path="/", version=2, usage_bytes=64 * MiB, limit_bytes=256 * MiB)


def test_v2_path_escaping_the_mount_falls_back_to_the_mount_root(tree: Tree) -> None:
    # A process outside our cgroup namespace shows "/../..."; never read outside the mount.
    tree.v2_group("/", max=256 * MiB, current=64 * MiB)
    outside = tree.cg.parent / "outside"
    outside.mkdir()
    (outside / "cgroup.controllers").write_text("memory\n")
    (outside / "memory.max").write_text(f"{1 * MiB}\n")
    cg = memory_for_cgroup_text("0::/../outside\n", tree.roots)
    assert cg is not None
    assert cg.limit_bytes == 256 * MiB
    assert cg.path == "/"


def test_v2_under_unified_subdirectory(tree: Tree) -> None:
    # hybrid host without a v1 memory controller: the unified tree lives at /sys/fs/cgroup/unified
    (tree.cg / "unified").mkdir()
    (tree.cg / "unified" / "cgroup.controllers").write_text("memory\n")
    d = tree.cg / "unified" / "svc"
    d.mkdir()
    (d / "cgroup.controllers").write_text("memory\n")
    (d / "memory.max").write_text(f"{300 * MiB}\n")
    (d / "memory.current").write_text(f"{10 * MiB}\n")
    cg = memory_for_cgroup_text("1:name=systemd:/svc\n0::/svc\n", tree.roots)
    assert cg == CgroupMemory(path="/svc", version=2, usage_bytes=10 * MiB, limit_bytes=300 * MiB)


# -- v1 ---------------------------------------------------------------------------


def test_v1_effective_limit_is_the_smallest_up_the_tree(v1: Tree) -> None:
    v1.pid(200, "4:memory:/docker/abc\n1:name=systemd:/docker/abc\n")
    cg = process_cgroup_memory(200, v1.roots)
    assert cg == CgroupMemory(path="/docker/abc", version=1, usage_bytes=300 * MiB, limit_bytes=1024 * MiB)


def test_v1_own_smaller_limit(v1: Tree) -> None:
    cg = memory_for_cgroup_text("4:memory:/docker/small\n", v1.roots)
    assert cg is not None and cg.limit_bytes == 256 * MiB and cg.usage_bytes == 200 * MiB


def test_v1_unlimited_sentinel_is_none(v1: Tree) -> None:
    cg = memory_for_cgroup_text("4:memory:/user\n", v1.roots)
    assert cg == CgroupMemory(path="/user", version=1, usage_bytes=12 * MiB, limit_bytes=None)
    root = memory_for_cgroup_text("4:memory:/\n", v1.roots)
    assert root is not None and root.limit_bytes is None and root.usage_bytes == 5000 * MiB


def test_v1_invisible_path_falls_back_to_the_mount_root(tree: Tree) -> None:
    tree.v1_group("/", limit=512 * MiB, usage=100 * MiB)
    cg = memory_for_cgroup_text("4:memory:/kubepods/burstable/pod1/xyz\n", tree.roots)
    assert cg == CgroupMemory(path="/", version=1, usage_bytes=100 * MiB, limit_bytes=512 * MiB)


def test_v1_cgroup_whose_memory_files_are_gone_is_no_reading(v1: Tree) -> None:
    # removed while memdash read it (rmdir takes the files first): no cgroup, not
    # a cgroup with unknown figures
    (v1.cg / "memory" / "leaving").mkdir()
    assert memory_for_cgroup_text("4:memory:/leaving\n", v1.roots) is None


def test_locate_says_which_hierarchy_it_found(v1: Tree, tmp_path: Path) -> None:
    # the probe's /metrics picks its stat keys by this version (v1 and v2 name them differently)
    from memdash.probe.cgroupfs import locate

    assert locate("4:memory:/docker/small\n", v1.roots) == (1, str(v1.cg / "memory" / "docker" / "small"),
                                                           str(v1.cg / "memory"))
    (tmp_path / "v2host").mkdir()
    other = Tree(tmp_path / "v2host")
    other.v2_group("/")
    other.v2_group("svc", max=300 * MiB, current=10 * MiB)
    assert locate("0::/svc\n", other.roots) == (2, str(other.cg / "svc"), str(other.cg))


def test_hybrid_prefers_the_v1_memory_controller(v1: Tree) -> None:
    # a unified tree beside v1 carries no memory files; the v1 memory line wins
    (v1.cg / "unified").mkdir()
    (v1.cg / "unified" / "cgroup.controllers").write_text("")
    cg = memory_for_cgroup_text("4:memory:/docker/small\n0::/docker/small\n", v1.roots)
    assert cg is not None and cg.version == 1 and cg.limit_bytes == 256 * MiB


def test_v1_text_on_a_v2_host_has_no_memory_path(v2: Tree) -> None:
    # a v2-only host: the only usable line is 0::
    assert memory_for_cgroup_text("4:memory:/a/b/c\n", v2.roots) is None
    cg = memory_for_cgroup_text("4:memory:/nothing\n0::/a/b/c\n", v2.roots)
    assert cg is not None and cg.version == 2 and cg.limit_bytes == 500 * MiB


def test_no_cgroup_mount_at_all(tree: Tree) -> None:
    assert memory_for_cgroup_text("0::/a\n4:memory:/a\n", tree.roots) is None


# -- broken files: None or partial, never an exception --------------------------------


def test_missing_proc_entry_is_none(v2: Tree) -> None:
    assert process_cgroup_memory(4242, v2.roots) is None
    assert CgroupCache(v2.roots).for_pid(4242) is None


def test_unreadable_proc_cgroup_is_none(v2: Tree) -> None:
    (v2.proc / "9").mkdir()
    (v2.proc / "9" / "cgroup").mkdir()  # reading a directory fails even as root
    assert process_cgroup_memory(9, v2.roots) is None
    assert CgroupCache(v2.roots).for_pid(9) is None


@pytest.mark.parametrize(
    "content",
    [b"not a number\n", b"", b"12abc\n", b"\xff\xfe\x00garbage", b"-\n"],
    ids=["words", "empty", "trailing-junk", "binary", "dash"],
)
def test_garbage_limit_and_usage_files_read_as_unknown(tree: Tree, content: bytes) -> None:
    tree.v2_group("/")
    tree.v2_group("svc")
    tree.file("svc/memory.max", content)
    tree.file("svc/memory.current", content)
    cg = memory_for_cgroup_text("0::/svc\n", tree.roots)
    assert cg is not None
    assert cg.limit_bytes is None and cg.usage_bytes is None


def test_garbage_file_does_not_hide_an_ancestors_limit(tree: Tree) -> None:
    tree.v2_group("/")
    tree.v2_group("parent", max=64 * MiB)
    tree.v2_group("parent/child", current=10 * MiB)
    tree.file("parent/child/memory.max", b"\x00\x01garbage")
    cg = memory_for_cgroup_text("0::/parent/child\n", tree.roots)
    assert cg is not None and cg.limit_bytes == 64 * MiB and cg.usage_bytes == 10 * MiB


def test_unreadable_limit_file_is_unknown(tree: Tree) -> None:
    tree.v2_group("/")
    tree.v2_group("svc", current=5 * MiB)
    (tree.cg / "svc" / "memory.max").mkdir()  # EISDIR on read
    cg = memory_for_cgroup_text("0::/svc\n", tree.roots)
    assert cg is not None and cg.limit_bytes is None and cg.usage_bytes == 5 * MiB


@pytest.mark.parametrize(
    "text",
    [b"\xff\xfe\xfd\n", b"0::/caf\xe9\n", b"\x00\x00\x00", b"4:memory\n", b"0:/x\n"],
    ids=["binary", "latin1-path", "nuls", "short-v1", "short-v2"],
)
def test_garbage_proc_cgroup_never_raises(v2: Tree, text: bytes) -> None:
    v2.pid(11, text)
    result = process_cgroup_memory(11, v2.roots)
    assert result is None or isinstance(result, CgroupMemory)
    cached = CgroupCache(v2.roots).for_pid(11)
    assert cached is None or isinstance(cached, CgroupMemory)


# -- CgroupCache -------------------------------------------------------------------


def test_cache_shares_one_lookup_per_cgroup_text(v2: Tree) -> None:
    v2.pid(1, "0::/a/b/c\n")
    v2.pid(2, "0::/a/b/c\n")
    v2.pid(3, "0::/free\n")
    cache = CgroupCache(v2.roots)
    first = cache.for_pid(1)
    assert first is not None and first.limit_bytes == 500 * MiB

    # The limit changes on disk; a pid in the same cgroup gets the cached figure...
    (v2.cg / "a/b/memory.max").write_text(f"{200 * MiB}\n")
    assert cache.for_pid(2) == first
    # ...while a different cgroup is read afresh.
    other = cache.for_pid(3)
    assert other is not None and other.path == "/free" and other.limit_bytes is None

    # After clear() (once per refresh) the new limit is seen.
    cache.clear()
    after = cache.for_pid(2)
    assert after is not None and after.limit_bytes == 200 * MiB
    # and a pid still resolves after the cache was filled again
    assert cache.for_pid(1) == after


def test_cache_follows_a_pid_that_moved(v2: Tree) -> None:
    v2.pid(5, "0::/a/b/c\n")
    cache = CgroupCache(v2.roots)
    assert cache.for_pid(5).limit_bytes == 500 * MiB  # type: ignore[union-attr]
    (v2.proc / "5" / "cgroup").write_text("0::/free\n")  # moved to another cgroup
    moved = cache.for_pid(5)
    assert moved is not None and moved.path == "/free" and moved.limit_bytes is None


# -- the real cgroup of this process ---------------------------------------------------


def _own_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_real_cgroup_of_this_process() -> None:
    if not os.access("/proc/self/cgroup", os.R_OK):
        pytest.skip("/proc/self/cgroup is not readable here")
    cg = process_cgroup_memory("self")
    if cg is None or cg.usage_bytes is None:
        pytest.skip("no memory cgroup (v1 memory controller or v2 memory.current) is mounted here")
    assert cg.version in (1, 2)
    assert cg.path.startswith("/")
    assert isinstance(cg.usage_bytes, int) and cg.usage_bytes > 0
    # The cgroup may hold many processes (and page cache), but it holds us.
    assert cg.usage_bytes >= _own_rss() * 0.5
    assert cg.limit_bytes is None or cg.limit_bytes > 0
    # The cache agrees with the direct lookup on the same live cgroup.
    cached = CgroupCache().for_pid(os.getpid())
    assert cached is not None and cached.path == cg.path and cached.limit_bytes == cg.limit_bytes
