"""Prometheus text exposition (format 0.0.4) of snapshots, written by hand.

Names follow prometheus_client's defaults (``process_*``, ``python_gc_*``,
``python_info``) so existing dashboards and alerts keep working, plus
``memdash_*`` for caches, GC pauses and the cgroup limit. A family with no
known value is left out rather than reported as 0.

In pre-fork mode every sample carries a ``pid`` label, one series per worker,
so a counter never jumps when the scrape lands on another worker.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any, Iterable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, Any]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


def _number(value: float | int) -> str:
    return repr(float(value))


class _Family:
    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name, self.kind, self.help = name, kind, help_text
        self.samples: list[str] = []

    def add(self, value: Any, **labels: Any) -> None:
        if value is None or isinstance(value, bool):
            return
        self.samples.append(f"{self.name}{_labels(labels)} {_number(value)}")

    def render(self) -> str:
        if not self.samples:
            return ""
        head = f"# HELP {self.name} {_escape(self.help)}\n# TYPE {self.name} {self.kind}\n"
        return head + "\n".join(self.samples) + "\n"


#: Per cgroup version: the inactive page cache's key in ``memory.stat``, and the file with ``oom_kill``.
_WORKING_SET_AND_OOM = {1: ("total_inactive_file", "memory.oom_control"), 2: ("inactive_file", "memory.events")}


def cgroup_memory() -> dict[str, Any]:
    """This process's memory cgroup: usage, working set, limit and OOM kills.

    Found and read by :mod:`memdash.probe.cgroupfs` (the package's one cgroup
    reader). Working set is usage less inactive page cache, as cAdvisor and
    the kubelet compute it; the limit is the smallest one from the cgroup up
    to the mount (any ancestor's binds). Empty for the host's root cgroup (its
    usage is the whole host's; a container's own root, seen through a cgroup
    namespace, has a limit and counts) and where nothing is readable. A few
    small reads per scrape.
    """
    from memdash.probe import cgroupfs

    text = cgroupfs._read_text("/proc/self/cgroup")
    found = None if text is None else cgroupfs.locate(text)
    if found is None:
        return {}
    version, directory, mount = found
    reading = cgroupfs.read_at(version, directory, mount)
    if reading is None or (directory == mount and reading.limit_bytes is None):
        return {}  # the host's root cgroup
    inactive_key, oom_file = _WORKING_SET_AND_OOM[version]
    usage = reading.usage_bytes
    inactive = cgroupfs.stat_value(directory, "memory.stat", inactive_key)
    return {"limit_bytes": reading.limit_bytes, "usage_bytes": usage,
            "working_set_bytes": None if usage is None else max(0, usage - (inactive or 0)),
            "oom_kills": cgroupfs.stat_value(directory, oom_file, "oom_kill")}


def render(snapshots: Iterable[dict[str, Any]], *, per_pid: bool = False,
           group: dict[str, Any] | None = None) -> str:
    """The exposition text for one snapshot, or a pre-fork group's (``per_pid``)."""
    fam = {name: _Family(name, kind, text) for name, kind, text in (
        ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes."),
        ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes."),
        ("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds."),
        ("python_info", "gauge", "Python platform information"),
        ("python_gc_objects_collected_total", "counter", "Objects collected during gc"),
        ("python_gc_objects_uncollectable_total", "counter", "Uncollectable objects found during GC"),
        ("python_gc_collections_total", "counter", "Number of times this generation was collected"),
        ("memdash_gc_pause_seconds_total", "counter",
         "Time spent in GC pauses since the probe started timing them, seconds"),
        ("memdash_gc_garbage_objects", "gauge", "len(gc.garbage)"),
        ("memdash_process_memory_limit_bytes", "gauge", "The process's cgroup memory limit in bytes"),
        ("memdash_cache_hits_total", "counter", "Lookups answered from the cache"),
        ("memdash_cache_misses_total", "counter", "Lookups the cache could not answer"),
        ("memdash_cache_size", "gauge", "Entries in the cache (cachetools: currsize units)"),
        ("memdash_cache_maxsize", "gauge", "Capacity of the cache (same units as size)"),
        ("memdash_python_allocated_blocks", "gauge", "sys.getallocatedblocks(): memory blocks Python's allocator has out"),
        ("memdash_python_tracked_objects", "gauge", "Objects the GC tracks, per generation (at most 30 s old)"),
        ("memdash_python_live_bytes", "gauge", "Bytes in pymalloc blocks holding live objects (estimated)"),
        ("memdash_pymalloc_arenas", "gauge", "pymalloc arenas allocated (at most 30 s old)"),
        ("memdash_pymalloc_free_bytes", "gauge",
         "Free blocks and unused pools in pymalloc arenas: reusable by Python, not returnable to the OS"),
        ("memdash_malloc_in_use_bytes", "gauge", "glibc heap bytes in use (mallinfo2 uordblks)"),
        ("memdash_malloc_free_bytes", "gauge", "glibc heap bytes held free (mallinfo2 fordblks)"),
        ("memdash_malloc_releasable_bytes", "gauge",
         "Free glibc heap bytes malloc_trim(0) can return at most (estimate)"),
        ("memdash_malloc_top_releasable_bytes", "gauge", "The top-most free chunk of glibc's main arena (keepcost)"),
        ("memdash_malloc_mmapped_bytes", "gauge", "glibc blocks in their own mmap (mallinfo2 hblkhd)"),
        ("memdash_malloc_arenas", "gauge", "glibc malloc arenas (MALLOC_ARENA_MAX bounds them)"),
        ("memdash_native_other_bytes", "gauge", "RSS not accounted for by Python objects or the allocators' free memory"),
        ("memdash_group_pss_bytes", "gauge", "Proportional set size of all pre-fork workers, shared pages counted once"),
        ("memdash_group_workers", "gauge", "Pre-fork workers answering"),
        ("memdash_memory_limit_bytes", "gauge", "Memory limit of the process's cgroup (smallest up the tree), bytes"),
        ("memdash_memory_usage_bytes", "gauge", "Memory charged to the process's cgroup, bytes"),
        ("memdash_memory_working_set_bytes", "gauge",
         "Cgroup usage less inactive page cache, bytes: what the kernel and kubelet judge against the limit"),
        ("memdash_memory_oom_kills_total", "counter", "Processes the kernel OOM-killed in this cgroup"),
    )}
    for snap in snapshots:
        pid = {"pid": snap.get("pid")} if per_pid else {}
        mem = snap.get("memory") or {}
        fam["process_resident_memory_bytes"].add(mem.get("rss_bytes"), **pid)
        fam["process_virtual_memory_bytes"].add(mem.get("vms_bytes"), **pid)
        fam["process_start_time_seconds"].add(snap.get("started_at"), **pid)
        fam["memdash_process_memory_limit_bytes"].add(mem.get("limit_bytes"), **pid)
        version = str(snap.get("python") or "")
        parts = (version.split(".") + ["", "", ""])[:3]
        fam["python_info"].add(1, implementation=snap.get("implementation") or "", major=parts[0],
                               minor=parts[1], patchlevel=parts[2], version=version, **pid)
        gcs = snap.get("gc") or {}
        for g in gcs.get("generations") or []:
            gen = str(g.get("generation"))
            fam["python_gc_objects_collected_total"].add(g.get("collected"), generation=gen, **pid)
            fam["python_gc_objects_uncollectable_total"].add(g.get("uncollectable"), generation=gen, **pid)
            fam["python_gc_collections_total"].add(g.get("collections"), generation=gen, **pid)
            fam["memdash_gc_pause_seconds_total"].add(g.get("pause_total_seconds"), generation=gen, **pid)
        fam["memdash_gc_garbage_objects"].add(gcs.get("garbage"), **pid)
        for c in snap.get("caches") or []:
            name = c.get("name")
            fam["memdash_cache_hits_total"].add(c.get("hits"), cache=name, **pid)
            fam["memdash_cache_misses_total"].add(c.get("misses"), cache=name, **pid)
            fam["memdash_cache_size"].add(c.get("size"), cache=name, **pid)
            fam["memdash_cache_maxsize"].add(c.get("maxsize"), cache=name, **pid)
        pm = snap.get("python_memory") or {}
        if pm:
            fam["memdash_python_allocated_blocks"].add(pm.get("allocated_blocks"), **pid)
            for index, n in enumerate(pm.get("tracked_objects") or []):
                fam["memdash_python_tracked_objects"].add(n, generation=str(index), **pid)
            pym = pm.get("pymalloc") or {}
            fam["memdash_pymalloc_arenas"].add(pym.get("arenas"), **pid)
            bd = pm.get("breakdown") or {}
            fam["memdash_python_live_bytes"].add(bd.get("live_python_bytes"), **pid)
            fam["memdash_pymalloc_free_bytes"].add(bd.get("pymalloc_free_bytes"), **pid)
            fam["memdash_malloc_releasable_bytes"].add(bd.get("trimmable_bytes"), **pid)
            fam["memdash_native_other_bytes"].add(bd.get("native_other_bytes"), **pid)
            mal = pm.get("malloc") or {}
            if mal.get("known"):
                fam["memdash_malloc_in_use_bytes"].add(mal.get("in_use_bytes"), **pid)
                fam["memdash_malloc_free_bytes"].add(mal.get("free_bytes"), **pid)
                fam["memdash_malloc_top_releasable_bytes"].add(mal.get("releasable_bytes"), **pid)
                fam["memdash_malloc_mmapped_bytes"].add(mal.get("mmapped_bytes"), **pid)
            fam["memdash_malloc_arenas"].add(mal.get("arenas"), **pid)
    # The cgroup's figures once, not per worker: every worker shares the cgroup.
    try:
        cg = cgroup_memory()
    except Exception:  # the host service never breaks over a figure
        cg = {}
    fam["memdash_memory_limit_bytes"].add(cg.get("limit_bytes"))
    fam["memdash_memory_usage_bytes"].add(cg.get("usage_bytes"))
    fam["memdash_memory_working_set_bytes"].add(cg.get("working_set_bytes"))
    fam["memdash_memory_oom_kills_total"].add(cg.get("oom_kills"))
    if group:
        fam["memdash_group_pss_bytes"].add(group.get("pss_bytes"))
        fam["memdash_group_workers"].add(group.get("workers"))
    return "".join(f.render() for f in fam.values())
