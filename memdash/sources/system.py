"""The box's memory: physical RAM and swap from psutil, and the limit that applies.

When memdash runs inside a container, its own cgroup's limit is the box's real
limit (seed 002 runs services under 256-512 MB limits on a 2 GB host), so the
percentage a person cares about is the cgroup's usage against that limit.
"""

from __future__ import annotations

import psutil

from memdash.levels import DEFAULT_THRESHOLDS, Thresholds
from memdash.model import CgroupMemory, SystemMemory
from memdash.sources.cgroup import DEFAULT_ROOTS, CgroupRoots, process_cgroup_memory


def read_system_memory(
    thresholds: Thresholds = DEFAULT_THRESHOLDS, roots: CgroupRoots = DEFAULT_ROOTS
) -> SystemMemory:
    """One reading of system memory, classified against ``thresholds``.

    Raises:
        OSError: ``/proc/meminfo`` could not be read.
    """
    vm = psutil.virtual_memory()
    sw = psutil.swap_memory()
    cg = process_cgroup_memory("self", roots)
    return system_memory_from(
        total=vm.total,
        available=vm.available,
        used=vm.total - vm.available,
        swap_total=sw.total,
        swap_used=sw.used,
        cgroup=cg,
        thresholds=thresholds,
    )


def system_memory_from(
    *,
    total: int,
    available: int,
    used: int,
    swap_total: int,
    swap_used: int,
    cgroup: CgroupMemory | None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> SystemMemory:
    """Build a :class:`SystemMemory`, choosing the limit that applies.

    ``used`` is ``total - available``: memory that cannot be reclaimed without
    swapping, the figure that predicts the OOM killer (psutil's own ``used``
    leaves out buffers in a way that varies by kernel).
    """
    limit = cgroup.limit_bytes if cgroup is not None else None
    if limit is not None and (limit <= 0 or limit >= total):
        limit = None  # a limit above physical RAM never binds first; 0 or less is "no limit"
    if limit is not None and cgroup is not None and cgroup.usage_bytes is not None:
        percent = 100.0 * cgroup.usage_bytes / limit
    else:
        percent = 100.0 * used / total if total else 0.0
    return SystemMemory(
        total_bytes=total,
        available_bytes=available,
        used_bytes=used,
        percent=percent,
        swap_total_bytes=swap_total,
        swap_used_bytes=swap_used,
        limit_bytes=limit,
        cgroup=cgroup,
        level=thresholds.classify(percent),
    )
