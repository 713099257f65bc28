"""Where a Python process's memory is: live objects, allocator-held free memory,
and what is left (native, libraries, stacks). The ``python_memory`` block of a
snapshot (docs/python-memory.md).

Every figure here is bounded in cost, and the method of each is in the answer:

- at most every :data:`MALLINFO_TTL_SECONDS`: ``sys.getallocatedblocks()``
  (which on 3.11 walks every pymalloc pool: 0.36 ms with 200 MB of small
  objects, measured in bench/bench_probe.py) and glibc's ``mallinfo2()``
  through ``_ctypes`` (:mod:`memdash.probe.cfuncs`; ``mallinfo()`` before glibc
  2.33, whose ``int`` fields wrap past 2 GiB: marked approximate). It locks each
  malloc arena and walks its free lists, so it costs microseconds to a few
  milliseconds on a fragmented heap;
- at most every :data:`ARENA_TTL_SECONDS`: pymalloc's arenas and pools parsed
  from ``sys._debugmallocstats()`` (which walks every arena: ~0.2 ms for a
  small service, ~1 ms per GiB of small objects), the number of glibc arenas
  from ``malloc_info()``, and GC-tracked objects per generation (the old
  generation only while the heap has under :data:`MAX_COUNTED_BLOCKS` blocks:
  counting it builds a list of 8 bytes per object for a moment).

``sys._debugmallocstats()`` writes to the C-level stderr (fd 2), not to
``sys.stderr``. So the probe calls the function behind it,
``_PyObject_DebugMallocStats(FILE *)``, with a glibc ``open_memstream``
buffer, and fd 2 is never touched. Where that is not possible (no such
symbol, no glibc) it falls back to capturing fd 2 for that one call
(:mod:`memdash.probe.fd2capture`, loaded only then).
"""

from __future__ import annotations

import gc
import os
import sys
import time
from _thread import allocate_lock

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any

#: pymalloc arenas (``sys._debugmallocstats``) and tracked-object counts are re-read at most this often.
ARENA_TTL_SECONDS = 30.0
#: glibc's ``mallinfo2()`` is re-read at most this often.
MALLINFO_TTL_SECONDS = 5.0
#: The old generation is counted (``len(gc.get_objects(2))``) only below this many allocated blocks.
MAX_COUNTED_BLOCKS = 2_000_000
#: At most this much of ``_debugmallocstats``'s output is parsed (it is ~5-10 KiB).
MAX_CAPTURE_BYTES = 256 * 1024  # fd2capture's bound too
#: At most this much of ``malloc_info()``'s XML is read (a few KiB per arena).
MAX_MALLOC_INFO_BYTES = 1024 * 1024

#: Tests set this to exercise the fd-2 capture where the memory-stream call works.
FORCE_FD2_CAPTURE = os.environ.get("MEMDASH_PROBE_FD2_CAPTURE") == "1"

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


# -- interpreter, allocator, GC flavour (constant for the process's life) ------

def free_threaded() -> bool:
    """Whether this is a free-threaded build (3.13+, ABI flag ``t``): its
    objects live in mimalloc's heaps, not in pymalloc's arenas, and its
    collector has one generation."""
    return "t" in getattr(sys, "abiflags", "") or "free-threading" in sys.version


def gil_enabled() -> bool | None:
    """``sys._is_gil_enabled()`` (3.13+); ``None`` before 3.13. A free-threaded
    build runs with the GIL again under ``PYTHON_GIL=1``, or once an extension
    that does not declare itself free-threading-safe is imported, so this is
    read at every refresh, not once."""
    fn = getattr(sys, "_is_gil_enabled", None)
    try:
        return None if fn is None else bool(fn())
    except Exception:
        return None


def python_allocator() -> tuple[str, str]:
    """``(allocator, how we know)`` for Python's object allocator.

    ``pymalloc`` by default, ``mimalloc`` in free-threaded builds (or with
    ``PYTHONMALLOC=mimalloc``), ``malloc`` with ``PYTHONMALLOC=malloc``;
    ``+debug hooks`` under ``PYTHONMALLOC=debug``/``*_debug`` or ``-X dev``.
    """
    env = os.environ.get("PYTHONMALLOC") or ""
    base = env.replace("_debug", "") if env else ""
    debug = env.endswith("debug") or bool(getattr(sys.flags, "dev_mode", False))
    if base in ("malloc", "pymalloc", "mimalloc"):
        name, how = base, "PYTHONMALLOC=" + env
    elif free_threaded():
        name, how = "mimalloc", "free-threaded build"
    elif sys.implementation.name != "cpython":
        return "unknown", sys.implementation.name
    else:
        name, how = "pymalloc", "CPython default"
    return (name + " +debug hooks" if debug else name), how


def gc_flavour() -> str:
    """Which collector runs: 3.14.0-3.14.4 shipped an incremental GC that
    3.14.5 reverted (cpython#148726); free-threaded builds collect one
    generation, stopping the world (and say whether the GIL is back on);
    every other CPython is generational."""
    if free_threaded():
        gil = gil_enabled()
        state = "GIL disabled" if gil is False else "GIL enabled again" if gil else "GIL state unknown"
        return f"free-threaded (one generation, stop-the-world; {state})"
    v = sys.version_info
    if sys.implementation.name == "cpython" and (v.major, v.minor) == (3, 14) and v.micro <= 4:
        return "incremental (young + old, 3.14.0-3.14.4)"
    return "generational"


# -- glibc -------------------------------------------------------------------

def _glibc_version() -> str | None:
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    except (ValueError, OSError, AttributeError):  # musl, macOS
        return None
    return value or None


_GLIBC = _glibc_version() if sys.platform.startswith("linux") else None
_OTHER_ALLOCATORS = (("jemalloc", b"libjemalloc"), ("tcmalloc", b"libtcmalloc"), ("mimalloc", b"libmimalloc"))


def _preloaded_allocator() -> str | None:
    """jemalloc/tcmalloc/mimalloc loaded into the process (``LD_PRELOAD`` or
    linked in): then glibc's malloc figures describe an unused heap. Reads
    ``/proc/self/maps`` (at most 4 MiB) once."""
    preload = os.environ.get("LD_PRELOAD", "").encode()
    try:
        with open("/proc/self/maps", "rb") as fh:
            maps = fh.read(4 * 1024 * 1024)
    except OSError:
        maps = b""
    for name, marker in _OTHER_ALLOCATORS:
        if marker in preload or marker in maps:
            return name
    return None


def arena_max() -> tuple[int | None, str]:
    """glibc's arena limit: ``MALLOC_ARENA_MAX``, ``GLIBC_TUNABLES``'s
    ``glibc.malloc.arena_max``, else the default, 8 per CPU on 64-bit."""
    raw = os.environ.get("MALLOC_ARENA_MAX")
    source = "MALLOC_ARENA_MAX"
    if not raw:
        for item in os.environ.get("GLIBC_TUNABLES", "").replace(":", " ").split():
            if item.startswith("glibc.malloc.arena_max="):
                raw, source = item.split("=", 1)[1], "GLIBC_TUNABLES"
    if raw:
        try:
            return int(raw), source
        except ValueError:
            pass
    return (8 if sys.maxsize > 2**32 else 2) * (os.cpu_count() or 1), "default (8 per CPU)"


class _Libc:
    """C bindings (:mod:`memdash.probe.cfuncs`, not ``ctypes``: see there), made on first use."""

    def __init__(self) -> None:
        self.looked_up = False
        self.mallinfo: Any = None
        self.approximate = False
        self.malloc_info: Any = None
        self.open_memstream: Any = None
        self.fclose: Any = None
        self.free: Any = None
        self.debug_malloc_stats: Any = None
        self.cfuncs: Any = None

    def lookup(self) -> None:
        if self.looked_up:
            return
        self.looked_up = True
        if _GLIBC is None:
            return
        try:
            from memdash.probe import cfuncs

            libc = cfuncs.Library("libc.so.6")
        except (ImportError, OSError):
            return
        self.cfuncs = cfuncs
        names = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")
        for symbol, field in (("mallinfo2", cfuncs.c_size_t), ("mallinfo", cfuncs.c_int)):
            struct = type("mallinfo", (cfuncs.Structure,), {"_fields_": [(n, field) for n in names]})
            try:
                self.mallinfo = libc.function(symbol, struct, [])
            except AttributeError:
                continue
            self.approximate = symbol == "mallinfo"  # its int fields wrap past 2 GiB
            break
        void_p = cfuncs.c_void_p
        try:
            self.open_memstream = libc.function("open_memstream", void_p)  # (char **, size_t *): byref args
            self.malloc_info = libc.function("malloc_info", cfuncs.c_int, [cfuncs.c_int, void_p])
            self.fclose = libc.function("fclose", cfuncs.c_int, [void_p])
            self.free = libc.function("free", None, [void_p])
        except AttributeError:
            self.malloc_info = self.open_memstream = None
        try:  # the function behind sys._debugmallocstats(), called with the GIL held
            self.debug_malloc_stats = cfuncs.Library(None, python_api=True).function(
                "_PyObject_DebugMallocStats", cfuncs.c_int, [void_p])
        except (AttributeError, OSError):
            self.debug_malloc_stats = None


_LIBC = _Libc()


def mallinfo() -> dict[str, Any] | None:
    """glibc's heap, summed over its arenas, now (not cached): ``None`` off glibc."""
    _LIBC.lookup()
    if _LIBC.mallinfo is None:
        return None
    m = _LIBC.mallinfo()
    wrap = (1 << 32) if _LIBC.approximate else 0

    def val(x: int) -> int:
        return x + wrap if x < 0 else x  # mallinfo's int fields wrap past 2 GiB

    return {
        "arena_bytes": val(m.arena),            # bytes from sbrk/heaps: in use + free
        "in_use_bytes": val(m.uordblks),        # handed out by malloc, not freed
        "free_bytes": val(m.fordblks),          # free chunks glibc keeps (fastbins included)
        "free_fastbin_bytes": val(m.fsmblks),
        "free_chunks": val(m.ordblks),
        "releasable_bytes": val(m.keepcost),    # the top-most free chunk of the main arena
        "mmapped_bytes": val(m.hblkhd),         # big blocks in their own mmap (go back on free)
        "mmapped_chunks": val(m.hblks),
    }


def malloc_arenas() -> int | None:
    """How many malloc arenas exist, from ``malloc_info()``'s XML (``<heap nr=...>``)."""
    _LIBC.lookup()
    if _LIBC.malloc_info is None:
        return None
    xml = _memstream(lambda fp: _LIBC.malloc_info(0, fp), MAX_MALLOC_INFO_BYTES)
    return xml.count(b"<heap nr=")


# -- pymalloc, from sys._debugmallocstats --------------------------------------

def debugmallocstats_text() -> tuple[bytes, str]:
    """``(text, method)``: what ``sys._debugmallocstats()`` reports.

    Preferred: the interpreter's ``_PyObject_DebugMallocStats(FILE *)`` called
    through ``_ctypes`` with an ``open_memstream`` buffer, which never touches fd 2.
    Where that symbol or glibc's ``open_memstream`` is missing: the fd-2
    capture (:func:`memdash.probe.fd2capture.capture_debugmallocstats`).
    """
    _LIBC.lookup()
    fn = _LIBC.debug_malloc_stats
    if _LIBC.open_memstream is not None and fn is not None:
        return _memstream(lambda fp: fn(fp), MAX_CAPTURE_BYTES), "_PyObject_DebugMallocStats to a memory stream"
    from memdash.probe.fd2capture import capture_debugmallocstats  # here: loaded only where needed

    return capture_debugmallocstats(), "sys._debugmallocstats, fd 2 captured"


def _memstream(write: Any, cap: int) -> bytes:
    """What ``write(FILE *)`` writes to an ``open_memstream`` buffer, at most ``cap`` bytes."""
    cfuncs = _LIBC.cfuncs
    buf = cfuncs.c_void_p()
    size = cfuncs.c_size_t()
    fp = _LIBC.open_memstream(cfuncs.byref(buf), cfuncs.byref(size))
    if not fp:
        return b""
    try:
        write(fp)
    finally:
        _LIBC.fclose(fp)  # flushes into buf
    try:
        return cfuncs.string_at(buf.value, min(size.value, cap)) if buf.value else b""
    finally:
        _LIBC.free(buf)


def _int(text: bytes) -> int | None:
    try:
        return int(text.strip().replace(b",", b""))
    except ValueError:
        return None


def parse_debugmallocstats(text: bytes) -> dict[str, Any] | None:
    """pymalloc's arenas and pools from ``_debugmallocstats`` text, or
    ``None`` when it has none (``PYTHONMALLOC=malloc``, mimalloc)."""
    values: dict[bytes, int | None] = {}
    arena_bytes = unused_pool_bytes = pool_size = None
    for line in text.splitlines():
        key, sep, value = line.partition(b" = ")
        if not sep:
            continue
        key = key.strip()
        if key.startswith(b"# "):
            values.setdefault(key[2:].strip(), _int(value))
        elif b"arenas *" in key and arena_bytes is None:
            arena_bytes = _int(value)
        elif b"unused pools *" in key:
            unused_pool_bytes = _int(value)
            pool_size = _int(key.split(b"*", 1)[1].split()[0])
    current = values.get(b"arenas allocated current")
    if current is None:
        return None
    allocated = values.get(b"bytes in allocated blocks")
    available = values.get(b"bytes in available blocks")
    free = None if available is None else available + (unused_pool_bytes or 0)
    overhead = sum(values.get(k) or 0 for k in (b"bytes lost to pool headers", b"bytes lost to quantization",
                                                  b"bytes lost to arena alignment"))
    return {
        "arenas": current,
        "arenas_highwater": values.get(b"arenas highwater mark"),
        "arenas_reclaimed": values.get(b"arenas reclaimed"),
        "arena_bytes": arena_bytes,
        "pool_bytes": pool_size,
        "allocated_bytes": allocated,           # blocks holding live objects
        "available_bytes": available,           # free blocks inside used pools
        "unused_pool_bytes": unused_pool_bytes, # whole free pools inside arenas
        "free_bytes": free,                     # available + unused pools: held, reusable, not returnable
        "overhead_bytes": overhead,
    }


# -- the cached passes ---------------------------------------------------------

class _State:
    def __init__(self) -> None:
        self.lock = allocate_lock()
        self.pid = -1
        self.arena_at = -1e18
        self.malloc_at = -1e18
        self.pymalloc: dict[str, Any] | None = None
        self.blocks_at_parse: int | None = None
        self.blocks: int = 0
        self.parse_seconds: float | None = None
        self.parse_error: str | None = None
        self.parse_method: str | None = None
        self.tracked: list[int | None] | None = None
        self.arenas: int | None = None
        self.malloc: dict[str, Any] | None = None
        self.other_allocator: str | None = None
        self.allocator_checked = False
        self.allocator: tuple[str, str] = ("unknown", "")
        self.gc_flavour = ""
        self.arena_max: tuple[int | None, str] = (None, "")


STATE = _State()


def _after_fork_in_child() -> None:
    """A forked child starts clean: the parent's figures are not its own, and a
    lock another thread held at the fork would never be released here."""
    global STATE
    STATE = _State()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _refresh_arenas(blocks: int) -> None:
    t0 = time.perf_counter()
    try:
        if FORCE_FD2_CAPTURE:
            from memdash.probe.fd2capture import capture_debugmallocstats

            text, STATE.parse_method = capture_debugmallocstats(), "sys._debugmallocstats, fd 2 captured"
        else:
            text, STATE.parse_method = debugmallocstats_text()
        STATE.pymalloc = parse_debugmallocstats(text)
        STATE.parse_error = None
    except Exception as exc:  # fd 2 closed, no memfd: no figures, never a broken host
        STATE.pymalloc, STATE.parse_error = None, f"{type(exc).__name__} capturing _debugmallocstats"
    STATE.parse_seconds = time.perf_counter() - t0
    STATE.blocks_at_parse = blocks
    tracked: list[int | None] = []
    if free_threaded():
        # One generation; gc.get_objects(gen) ignores gen there and returns
        # every object (stopping the world): count once, or not at all.
        tracked.append(None if blocks > MAX_COUNTED_BLOCKS else len(gc.get_objects()))
    else:
        oldest = len(gc.get_stats()) - 1
        for gen in range(oldest + 1):
            if gen == oldest and oldest > 0 and blocks > MAX_COUNTED_BLOCKS:
                tracked.append(None)  # too big to count in a snapshot; a gc cleanup counts it
            else:
                tracked.append(len(gc.get_objects(gen)))
    STATE.tracked = tracked
    STATE.gc_flavour = gc_flavour()  # the GIL can come back on while the process runs
    if not STATE.allocator_checked:  # constant for the process's life
        STATE.other_allocator = _preloaded_allocator()
        STATE.allocator = python_allocator()
        STATE.arena_max = arena_max()
        STATE.allocator_checked = True
    if _GLIBC is not None and STATE.other_allocator is None:
        try:
            STATE.arenas = malloc_arenas()
        except Exception:
            STATE.arenas = None


def _refresh(now: float) -> None:
    pid = os.getpid()
    if pid != STATE.pid:  # a forked child: nothing of the parent's figures is ours
        STATE.__init__()  # type: ignore[misc]
        STATE.pid = pid
    if now - STATE.arena_at >= ARENA_TTL_SECONDS:
        STATE.arena_at = now
        STATE.malloc_at = -1e18  # block count and mallinfo with it, so they match the parse
        _refresh_arenas(sys.getallocatedblocks())
    if now - STATE.malloc_at >= MALLINFO_TTL_SECONDS:
        STATE.malloc_at = now
        STATE.blocks = sys.getallocatedblocks()
        STATE.malloc = None if STATE.other_allocator else mallinfo()


def refresh_now() -> None:
    """Forget the cached figures, so the next snapshot re-reads all of them."""
    with STATE.lock:
        STATE.arena_at = STATE.malloc_at = -1e18


def _gc_extra() -> list[dict[str, Any]] | None:
    """What ``gc.get_stats()`` has beyond collections/collected/uncollectable
    (3.15: ``duration``, ``candidates``), per generation; ``None`` when nothing."""
    extra = [{k: v for k, v in st.items() if k not in ("collections", "collected", "uncollectable")}
             for st in gc.get_stats()]
    return extra if any(extra) else None


#: How ``tracked_objects`` is counted (the block's ``tracked_method``).
TRACKED_METHOD = (f"len(gc.get_objects(gen)), at most {ARENA_TTL_SECONDS:g} s old; "
                  f"the oldest generation only under {MAX_COUNTED_BLOCKS} blocks")
TRACKED_METHOD_FREE_THREADED = (f"len(gc.get_objects()), one generation (free-threaded build), at most "
                                f"{ARENA_TTL_SECONDS:g} s old; only under {MAX_COUNTED_BLOCKS} blocks")


def _all_tracked(tracked: list[int | None] | None) -> int | None:
    """Objects a full collection examines: every generation's, summed (a
    fresh 3.12+ process has none in the oldest before its first full
    collection); ``None`` when one was too big to count."""
    if not tracked or None in tracked:
        return None
    return sum(n for n in tracked if n is not None)


def gc_prediction() -> int | None:
    """Objects a full collection is likely to free: the average of what past
    full collections freed (``gc.get_stats()``), ``None`` before the first."""
    last = gc.get_stats()[-1]
    n = last.get("collections") or 0
    return round((last.get("collected") or 0) / n) if n else None


def trim_prediction(malloc: dict[str, Any] | None, rss: int | None, pymalloc: dict[str, Any] | None) -> int | None:
    """Bytes ``malloc_trim(0)`` can return at most: glibc's free bytes, whole
    pages only, and never more than the resident memory not otherwise held
    (free pages released by an earlier trim still count as free in mallinfo)."""
    if malloc is None:
        return None
    free = malloc["free_bytes"] - malloc["free_fastbin_bytes"]
    free -= free % _PAGE
    if rss is not None:
        held = malloc["in_use_bytes"] + malloc["mmapped_bytes"]
        if pymalloc is not None and pymalloc.get("arena_bytes") is not None:
            held += pymalloc["arena_bytes"]
        free = min(free, max(0, rss - held))
    return max(0, free)


def python_memory(rss: int | None) -> dict[str, Any]:
    """The ``python_memory`` block: figures, their age and method, and the
    split of RSS into live Python objects, pymalloc free, glibc free and the
    rest (``breakdown``)."""
    now = time.monotonic()
    with STATE.lock:
        _refresh(now)
        blocks = STATE.blocks
        pym, malloc = STATE.pymalloc, STATE.malloc
        allocator, how = STATE.allocator
        glibc: dict[str, Any]
        if STATE.other_allocator:
            glibc = {"allocator": STATE.other_allocator, "known": False,
                     "method": f"unknown allocator ({STATE.other_allocator} loaded): glibc figures not read"}
        elif _GLIBC is None:
            glibc = {"allocator": "unknown allocator", "known": False,
                     "method": "not glibc (musl, macOS...): no mallinfo"}
        elif malloc is None:
            glibc = {"allocator": _GLIBC, "known": False, "method": "mallinfo unavailable"}
        else:
            glibc = dict(malloc)
            glibc.update({"allocator": _GLIBC, "known": True,
                          "method": ("mallinfo (approximate: int fields wrap)" if _LIBC.approximate
                                     else "mallinfo2") + f", at most {MALLINFO_TTL_SECONDS:g} s old",
                          "age_seconds": round(now - STATE.malloc_at, 3)})
        if _GLIBC is not None and STATE.other_allocator is None:
            limit, source = STATE.arena_max
            glibc["arenas"] = STATE.arenas
            glibc["arena_max"] = limit
            glibc["arena_max_source"] = source
        pymalloc = None
        if pym is not None:
            pymalloc = dict(pym)
            pymalloc["method"] = f"{STATE.parse_method}, at most {ARENA_TTL_SECONDS:g} s old"
            pymalloc["age_seconds"] = round(now - STATE.arena_at, 3)
            pymalloc["parse_seconds"] = STATE.parse_seconds
        out: dict[str, Any] = {
            "allocated_blocks": blocks,
            "tracked_objects": list(STATE.tracked) if STATE.tracked is not None else None,
            "tracked_method": TRACKED_METHOD_FREE_THREADED if free_threaded() else TRACKED_METHOD,
            "gc_stats_extra": _gc_extra(),
            "allocator": allocator,
            "allocator_source": how,
            "pythonmalloc": os.environ.get("PYTHONMALLOC") or None,
            "gc_flavour": STATE.gc_flavour,
            "pymalloc": pymalloc,
            "pymalloc_error": STATE.parse_error,
            "malloc": glibc,
        }
    out["breakdown"] = breakdown(rss, blocks, pymalloc, glibc if glibc.get("known") else None,
                                 STATE.blocks_at_parse)
    out["predict"] = {"gc_collectable_objects": gc_prediction(),
                      "gc_tracked_objects": _all_tracked(out["tracked_objects"]),
                      "trim_bytes": out["breakdown"]["trimmable_bytes"]}
    return out


#: How each part of :func:`breakdown` is measured; short, as a screen shows
#: them beside the figures (docs/python-memory.md explains each).
METHODS = {
    "live_python_bytes": "pymalloc blocks in use (_debugmallocstats x allocated-blocks ratio)",
    "pymalloc_free_bytes": "pymalloc free blocks + unused pools (_debugmallocstats)",
    "malloc_free_bytes": "glibc free chunks (mallinfo2 fordblks)",
    "trimmable_bytes": "glibc free whole pages, capped by RSS minus held",
    "native_other_bytes": "RSS minus the above",
}


def breakdown(rss: int | None, blocks: int, pymalloc: dict[str, Any] | None, malloc: dict[str, Any] | None,
              blocks_at_parse: int | None) -> dict[str, Any]:
    """RSS split four ways (bytes, ``None`` where unknown), with the method of each."""
    live = None
    if pymalloc is not None and pymalloc.get("allocated_bytes") is not None:
        live = pymalloc["allocated_bytes"]
        if blocks_at_parse:  # scale the parsed figure by the block count now
            live = round(live * blocks / blocks_at_parse)
    pym_free = pymalloc.get("free_bytes") if pymalloc is not None else None
    glibc_free = malloc["free_bytes"] if malloc is not None else None
    trimmable = trim_prediction(malloc, rss, pymalloc)
    other = None
    if rss is not None:
        other = max(0, rss - sum(x for x in (live, pym_free, glibc_free) if x is not None))
    return {
        "rss_bytes": rss,
        "live_python_bytes": live,
        "pymalloc_free_bytes": pym_free,
        "malloc_free_bytes": glibc_free,
        "trimmable_bytes": trimmable,
        "native_other_bytes": other,
        "methods": dict(METHODS),
    }
