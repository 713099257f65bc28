"""Samples: the plain, immutable records that sources produce and widgets render.

All sizes are bytes (``*_bytes``), percents are 0-100, ratios 0..1
(``hit_rate``), durations seconds, times Unix epoch seconds. A value that could
not be read is ``None``, never 0. Nothing here imports Textual, psutil or httpx.

The data flows one way::

    sources/*  ->  samples (this module)  ->  History  ->  widgets / snapshot JSON
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from memdash.levels import Level
from memdash.probe.wire import ACTIONS as _WIRE_ACTIONS


@dataclass(frozen=True, slots=True, kw_only=True)
class CgroupMemory:
    """One cgroup's memory figures.

    ``limit_bytes`` is ``None`` when the cgroup has no finite limit (v2 ``max``,
    v1's huge sentinel) or the file could not be read.
    """

    path: str
    version: int
    usage_bytes: int | None
    limit_bytes: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemMemory:
    """The box's memory, measured against the limit that really applies.

    When memdash itself runs under a finite cgroup limit (a container), that limit
    is the 100 %: ``limit_bytes`` is set, and ``percent`` is the cgroup's usage
    against it. Otherwise ``limit_bytes`` is ``None`` and ``percent`` is
    ``used / total`` of physical memory.
    """

    total_bytes: int
    available_bytes: int
    used_bytes: int
    percent: float
    swap_total_bytes: int
    swap_used_bytes: int
    limit_bytes: int | None
    cgroup: CgroupMemory | None
    level: Level = Level.UNKNOWN


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessMemory:
    """One process's memory.

    ``uss_bytes``/``pss_bytes``/``swap_bytes`` come from ``smaps_rollup`` and are
    read only for the rows that need them (visible, or top N); elsewhere, or when
    access is denied, they are ``None``. ``limit_bytes`` is the limit that applies
    to this process: its own cgroup's, else the box's, else physical memory.
    ``percent`` is RSS against it. ``growth_bytes_per_min`` is ``None`` until the
    history holds enough points to say. ``smaps_time`` is when USS/PSS/swap were
    read (epoch seconds): ``smaps_rollup`` is costly, so the dashboard re-reads it
    every few seconds while RSS is read every refresh; a figure older than the
    snapshot's ``time`` is shown with its age.
    """

    pid: int
    ppid: int | None
    name: str
    cmdline: str
    user: str | None
    rss_bytes: int
    uss_bytes: int | None = None
    pss_bytes: int | None = None
    swap_bytes: int | None = None
    smaps_time: float | None = None
    limit_bytes: int
    percent: float
    growth_bytes_per_min: float | None = None
    gpu_bytes: int | None = None
    level: Level = Level.UNKNOWN


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessDetail:
    """One process's memory in parts, read when its process view is open.

    From ``/proc/PID/status`` (whole pages in RAM): ``rss_anon_bytes`` (heap,
    stacks, anonymous mmaps), ``rss_file_bytes`` (mapped files: code, libraries,
    mmapped data; clean pages can be dropped and read back), ``rss_shmem_bytes``
    (shared memory and tmpfs), ``peak_rss_bytes`` (VmHWM). From
    ``smaps_rollup`` (``None`` where the read is denied): PSS and its anon /
    file / shmem parts, private and shared pages, clean and dirty, swap (and its
    proportional share), locked pages and transparent huge pages.
    ``cgroup`` is the process's memory cgroup, its ``limit_bytes`` the smallest
    finite limit over it and its ancestors (``None`` outside a limit);
    ``limit_bytes`` here is the limit that applies (that one, else the box's).
    ``error`` says in words what could not be read.
    """

    pid: int
    time: float
    rss_bytes: int | None = None
    rss_anon_bytes: int | None = None
    rss_file_bytes: int | None = None
    rss_shmem_bytes: int | None = None
    peak_rss_bytes: int | None = None
    pss_bytes: int | None = None
    pss_anon_bytes: int | None = None
    pss_file_bytes: int | None = None
    pss_shmem_bytes: int | None = None
    private_clean_bytes: int | None = None
    private_dirty_bytes: int | None = None
    shared_clean_bytes: int | None = None
    shared_dirty_bytes: int | None = None
    swap_bytes: int | None = None
    swap_pss_bytes: int | None = None
    locked_bytes: int | None = None
    anon_huge_bytes: int | None = None
    cgroup: CgroupMemory | None = None
    limit_bytes: int | None = None
    error: str | None = None

    @property
    def uss_bytes(self) -> int | None:
        """Pages only this process maps (private clean + private dirty)."""
        if self.private_clean_bytes is None or self.private_dirty_bytes is None:
            return None
        return self.private_clean_bytes + self.private_dirty_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuProcess:
    """A process using a GPU, as NVML reports it (``used_bytes`` may be unknown)."""

    pid: int
    used_bytes: int | None
    kind: str = "compute"  # compute | graphics


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuDevice:
    """One GPU (or MIG instance) as NVML reports it."""

    index: int
    name: str
    uuid: str | None
    total_bytes: int | None
    used_bytes: int | None
    free_bytes: int | None
    percent: float | None
    utilization: float | None  # GPU busy percent, None where NOT_SUPPORTED
    temperature: float | None  # Celsius
    processes: tuple[GpuProcess, ...] = ()
    level: Level = Level.UNKNOWN


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuStatus:
    """All GPUs on the box. ``available`` is False with a readable ``reason``
    (``"no NVIDIA driver found"``) when NVML cannot be used."""

    available: bool
    reason: str | None = None
    driver: str | None = None
    devices: tuple[GpuDevice, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GcGeneration:
    """One GC generation: objects counted against the threshold that triggers it,
    and what its collections have done so far."""

    generation: int
    count: int | None
    threshold: int | None
    collections: int | None
    collected: int | None
    uncollectable: int | None
    pause_total_seconds: float | None = None
    pause_last_seconds: float | None = None
    pause_max_seconds: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GcStats:
    """A Python process's garbage collector."""

    generations: tuple[GcGeneration, ...]
    enabled: bool | None = None
    pause_total_seconds: float | None = None
    pause_last_seconds: float | None = None
    pause_max_seconds: float | None = None
    garbage: int | None = None  # len(gc.garbage)


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheStats:
    """A cache's effectiveness. ``hit_rate`` is a ratio 0..1, ``None`` before any lookup."""

    name: str
    hits: int | None
    misses: int | None
    hit_rate: float | None
    size: int | None
    maxsize: int | None
    size_bytes: int | None = None
    evictions: int | None = None

    @property
    def lookups(self) -> int:
        """Hits plus misses, 0 where unknown."""
        return (self.hits or 0) + (self.misses or 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class TorchDevice:
    """PyTorch's caching allocator on one CUDA device, as the service reports it.

    ``reserved_bytes - allocated_bytes`` is what ``torch.cuda.empty_cache()`` can
    give back to the driver.
    """

    device: int
    allocated_bytes: int | None
    reserved_bytes: int | None
    max_allocated_bytes: int | None
    name: str | None = None

    @property
    def releasable_bytes(self) -> int | None:
        """Reserved but not allocated: what a CUDA cache release can return."""
        if self.reserved_bytes is None or self.allocated_bytes is None:
            return None
        return max(0, self.reserved_bytes - self.allocated_bytes)


@dataclass(frozen=True, slots=True, kw_only=True)
class Runtime:
    """What a target's runtime (or the thing an exporter stands for) says of its memory.

    ``kind``: ``go``, ``node``, ``python``, ``jvm`` (a runtime's own page),
    ``host`` (node_exporter: the machine) or ``redis`` (redis_exporter, or a
    ``redis://`` target). ``figures`` are named by unit like the rest of
    memdash (``heap_inuse_bytes``, ``gc_pause_p50_seconds``, ``gc_count``);
    ``groups`` hold per-label rows (``{"spaces": {"old_space":
    {"used_bytes": ...}}}``); ``labels`` are words the service gave
    (``{"maxmemory_policy": "allkeys-lru"}``).
    """

    kind: str
    figures: Mapping[str, float] = field(default_factory=dict)
    groups: Mapping[str, Mapping[str, Mapping[str, float]]] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Instance:
    """One instance on a page that carries several (Prometheus ``/federate``,
    series told apart by ``instance``/``job``/``pid`` labels)."""

    labels: str  # 'instance="a:9100",job="api"', as the page spelled them
    rss_bytes: int | None
    runtime: str | None = None  # the runtime kind its series named, if any


#: Cleanup actions memdash knows, in the order keys and menus show them (defined
#: once, with the rest of the probe's wire schema, in :mod:`memdash.probe.wire`).
ACTIONS: tuple[str, ...] = _WIRE_ACTIONS


@dataclass(frozen=True, slots=True, kw_only=True)
class PythonMemory:
    """Where a Python service's RSS is, as its probe splits it (docs/python-memory.md).

    The four parts: ``live_python_bytes`` (objects in pymalloc blocks,
    estimated), ``pymalloc_free_bytes`` (held by pymalloc, reusable, not
    returnable), ``malloc_free_bytes`` (glibc's free chunks; of them
    ``trimmable_bytes`` is what ``malloc_trim`` can return at most) and
    ``native_other_bytes`` (RSS minus the rest). ``methods`` says how each was
    measured. ``predict_gc_objects``: objects a full collection is likely to
    free, of ``tracked_objects[-1]`` tracked; ``None`` where unknown.
    """

    rss_bytes: int | None = None
    live_python_bytes: int | None = None
    pymalloc_free_bytes: int | None = None
    malloc_free_bytes: int | None = None
    trimmable_bytes: int | None = None
    native_other_bytes: int | None = None
    methods: Mapping[str, str] = field(default_factory=dict)
    allocator: str | None = None
    gc_flavour: str | None = None
    malloc_allocator: str | None = None
    malloc_arenas: int | None = None
    malloc_arena_max: int | None = None
    allocated_blocks: int | None = None
    tracked_objects: tuple[int | None, ...] = ()
    predict_gc_objects: int | None = None
    predict_trim_bytes: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetSample:
    """One poll of a target: a service memdash reads over HTTP(S) or a Unix socket.

    ``ok`` is False when this poll failed; the figures are then those of the last
    good sample (``last_ok`` says when that was), and ``error`` says what went
    wrong, in words, never with a token in it.
    """

    name: str
    url: str
    kind: str  # probe | prometheus | json | redis
    ok: bool
    error: str | None = None
    time: float = 0.0
    last_ok: float | None = None
    pid: int | None = None
    rss_bytes: int | None = None
    percent: float | None = None
    limit_bytes: int | None = None
    gc: GcStats | None = None
    caches: tuple[CacheStats, ...] = ()
    gpu: tuple[TorchDevice, ...] | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    actions: tuple[str, ...] = ()
    level: Level = Level.UNKNOWN
    #: The runtime's (or exported service's) own figures; ``None`` when none was recognised.
    runtime: Runtime | None = None
    #: What memdash recognised on the page, in words ("go runtime", "node_exporter: the host").
    recognised: tuple[str, ...] = ()
    #: RSS of the exporter itself, when the page is an exporter's (shown apart, never as the service's).
    exporter_rss_bytes: int | None = None
    #: Instances on a page carrying several; ``rss_bytes`` is then their total.
    instances: tuple[Instance, ...] = ()
    #: What the reader could not do: a mapped path that resolved to nothing, a page cut at the cap.
    warnings: tuple[str, ...] = ()
    #: The local service the target's process belongs to (its name), if any.
    service: str | None = None
    #: Processes ``rss_bytes`` adds up (a pre-fork service's master and workers);
    #: ``None`` for one process as the endpoint reported it.
    workers: int | None = None
    #: True when ``workers`` are those seen answering over past polls (a remote
    #: pre-fork service, "N workers seen"); False when read locally.
    workers_seen: bool = False
    #: Where a Python service's RSS is (live objects, allocator-held free, native), from its probe.
    python_memory: PythonMemory | None = None

    @property
    def workers_text(self) -> str:
        """Where the figure comes from, in words: ``"3 workers seen"`` (remote),
        ``"gunicorn [41] (3 workers)"`` (its local service); ``""`` for one process."""
        if self.workers is not None and self.workers_seen:
            return f"{self.workers} workers seen"
        if self.service is not None:
            return self.service if self.workers is None else f"{self.service} ({self.workers} workers)"
        return ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CleanupResult:
    """What a cleanup really did, as the service (or memdash) measured it.

    ``ok`` False with ``error`` in words for refusals (401, 429, unsupported).
    ``rss_before_bytes``/``rss_after_bytes`` are the OS's view, not Python's.
    """

    target: str
    action: str
    ok: bool
    error: str | None = None
    status: int | None = None
    rss_before_bytes: int | None = None
    rss_after_bytes: int | None = None
    gpu_reserved_before_bytes: int | None = None
    gpu_reserved_after_bytes: int | None = None
    collected: int | None = None
    note: str | None = None
    retry_after_seconds: float | None = None
    raw: Mapping[str, object] = field(default_factory=dict)

    @property
    def rss_freed_bytes(self) -> int | None:
        """Before minus after; negative when RSS grew."""
        if self.rss_before_bytes is None or self.rss_after_bytes is None:
            return None
        return self.rss_before_bytes - self.rss_after_bytes


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Snapshot:
    """Everything one refresh produced. ``eq=False``: compared by identity, so a
    reactive holding it fires on every new snapshot without a deep compare."""

    host: str
    time: float
    uptime_seconds: float | None = None  # the box's, since boot
    system: SystemMemory | None
    processes: tuple[ProcessMemory, ...]
    process_count: int
    gpus: GpuStatus
    targets: tuple[TargetSample, ...] = ()
    services: tuple[ServiceMemory, ...] = ()
    host_oom: OomKills | None = None  # the host-wide OOM-kill counter (/proc/vmstat)
    host_pressure: MemoryPressure | None = None  # /proc/pressure/memory
    errors: tuple[str, ...] = ()
    level: Level = Level.UNKNOWN


# -- services: worker pools and containers against their limit (docs/services.md) --


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryBreakdown:
    """What a cgroup's charge is made of, from ``memory.stat``.

    ``file_bytes`` is page cache *without* shmem (``memory.stat`` counts tmpfs and
    shared memory in ``file``/``cache``; here they are ``shmem_bytes`` alone), so
    the parts do not overlap. ``kernel_bytes`` is all kernel memory charged to the
    cgroup (``kernel`` on v2, ``memory.kmem.usage_in_bytes`` on v1) and includes
    ``slab_bytes``. ``inactive_file_bytes`` is the page cache the kernel reclaims
    first: the part of usage that does not count towards the working set.
    """

    anon_bytes: int | None = None
    file_bytes: int | None = None
    kernel_bytes: int | None = None
    slab_bytes: int | None = None
    shmem_bytes: int | None = None
    sock_bytes: int | None = None
    inactive_file_bytes: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryPressure:
    """Pressure stall information: the share of the last 10 s (0-100) in which
    some (``some_avg10``) or all (``full_avg10``) runnable tasks waited for memory."""

    some_avg10: float | None = None
    full_avg10: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OomKills:
    """OOM kills the kernel counted for a cgroup (or the host).

    ``count`` is the kernel's counter as read. ``rose_at`` is when memdash first
    saw it rise while watching, or when the kernel log dated a kill; ``None`` in a
    one-shot read, which never invents a time. ``recent`` is true for 15 minutes
    after that time.
    """

    count: int | None = None
    rose_at: float | None = None
    recent: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceWorker:
    """One process of a service. ``role`` is ``master`` (the pre-fork parent),
    ``worker`` (its children) or ``process`` (any other process in the cgroup)."""

    pid: int
    ppid: int | None
    name: str
    cmdline: str
    role: str
    rss_bytes: int
    pss_bytes: int | None = None
    uss_bytes: int | None = None
    swap_bytes: int | None = None
    growth_bytes_per_min: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceMemory:
    """A service: the processes of one memory cgroup (container, unit, pod, or
    any cgroup with a limit), or a pre-fork master and its workers where no
    cgroup separates them.

    ``key`` identifies the service across refreshes (``cgroup:<path>`` or
    ``prefork:<master pid>:<start time>``). Sums (``rss_bytes``, ``pss_bytes``,
    ``uss_bytes``, ``swap_bytes``) are over :attr:`workers`; a PSS/USS/swap sum
    is ``None`` unless every process's figure could be read. The cgroup figures
    are ``None`` for a pool outside any service cgroup. ``limit_bytes`` is the
    limit that binds: the cgroup's smallest finite one (``limit_source``
    ``cgroup``), else the host's (memdash's own box limit, or physical memory;
    ``host``). ``percent`` is ``working_set_bytes`` (RSS sum without a cgroup)
    against it, the figure the kernel and the kubelet act on. ``growth_bytes_per_min`` and ``oom_eta_seconds`` come from
    the working set's slope (RSS sum where there is no cgroup); ``None`` until
    enough samples, and the ETA also when not growing or no limit. ``reasons``
    say in words why the level is what it is (``"OOM kill 3 min ago"``).
    """

    key: str
    name: str
    kind: str  # cgroup | prefork
    program: str | None = None
    cgroup_path: str | None = None
    cgroup_version: int | None = None
    container_id: str | None = None
    master_pid: int | None = None
    worker_count: int
    process_count: int
    workers: tuple[ServiceWorker, ...] = ()
    rss_bytes: int
    pss_bytes: int | None = None
    uss_bytes: int | None = None
    swap_bytes: int | None = None
    usage_bytes: int | None = None
    limit_bytes: int | None = None
    limit_source: str | None = None  # cgroup | host
    high_bytes: int | None = None
    working_set_bytes: int | None = None
    percent: float | None = None
    breakdown: MemoryBreakdown | None = None
    pressure: MemoryPressure | None = None
    oom_kills: OomKills = field(default_factory=OomKills)
    growth_bytes_per_min: float | None = None
    oom_eta_seconds: float | None = None
    growing_after_gc: bool = False
    reasons: tuple[str, ...] = ()
    level: Level = Level.UNKNOWN
