"""The cleanups themselves: validation, rate limits, the actions and their
receipts (what :mod:`memdash.probe.cleanup` describes). Loaded by the first
cleanup a process runs, not at import: a host nobody cleans up never holds
this code.
"""

from __future__ import annotations

import gc
import os
import time
from _thread import allocate_lock

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any, Mapping

from memdash.probe import native, procfs
from memdash.probe.errors import BadRequest, NotFound, RateLimited, Unavailable
from memdash.probe.snapshot import SCHEMA, available_actions
# Every action the probe knows (whether or not this process can run it) and the
# options each accepts: the wire schema's.
from memdash.probe.wire import ACTIONS, OPTIONS



from memdash.probe.logs import logger as _log, shown

#: How long a cleanup waits for another one to finish before answering 429.
LOCK_WAIT_SECONDS = 30.0


def _generations() -> int:
    return len(gc.get_stats())


def validate(action: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Check an action and its options; returns the options, typed.

    Raises :class:`NotFound` (unknown action, with ``valid_actions``),
    :class:`Unavailable` (known but not here) or :class:`BadRequest`.
    """
    valid = available_actions()
    if action not in ACTIONS:
        raise NotFound(f"unknown cleanup action {action!r}", valid_actions=valid)
    if action not in valid:
        why = {"cuda": "torch with CUDA initialised", "trim": "glibc's malloc_trim",
               "tracemalloc": "the service to enable it: MEMDASH_PROBE_TRACEMALLOC=1 or "
                              "memdash.probe.tracing.enable()"}.get(action, "")
        raise Unavailable(f"action {action!r} is not available in this process (needs {why})",
                          valid_actions=valid)
    allowed = OPTIONS[action]
    unknown = sorted(k for k in options if k not in allowed)
    if unknown:
        raise BadRequest(f"action {action!r} takes no option {', '.join(map(repr, unknown))}"
                         + (f"; it accepts {', '.join(allowed)}" if allowed else ""))
    out: dict[str, Any] = {}
    if "generation" in options and options["generation"] not in (None, ""):
        raw = options["generation"]
        top = _generations() - 1
        try:
            gen = int(raw)
            if isinstance(raw, bool) or str(gen) != str(raw).strip():
                raise ValueError
        except (TypeError, ValueError):
            raise BadRequest(f"generation must be an integer 0..{top}") from None
        if not 0 <= gen <= top:
            raise BadRequest(f"generation must be an integer 0..{top}")
        out["generation"] = gen
    if "name" in options and options["name"] not in (None, ""):
        name = str(options["name"])
        from memdash.probe.caches import REGISTRY  # here: loaded by the first track_cache() anyway

        names = REGISTRY.names()
        if name not in names:
            raise NotFound(f"no tracked cache named {name!r}", valid_caches=names)
        out["name"] = name
    if action == "tracemalloc":
        from memdash.probe import tracing

        out["seconds"] = _number(options.get("seconds"), "seconds", tracing.DEFAULT_SECONDS, 1.0,
                                 tracing.MAX_SECONDS, float)
        out["frames"] = _number(options.get("frames"), "frames", tracing.DEFAULT_FRAMES, 1, tracing.MAX_FRAMES, int)
    return out


def _number(raw: Any, name: str, default: Any, low: Any, high: Any, kind: Any) -> Any:
    if raw in (None, ""):
        return default
    try:
        if isinstance(raw, bool):
            raise ValueError
        value = kind(raw)
        if value != value:  # NaN
            raise ValueError
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a number {low}..{high}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be a number {low}..{high}")
    return value


def _limit_keys(action: str, options: Mapping[str, Any]) -> tuple[str, ...]:
    if action == "all":
        return ("gc", "caches", "cuda", "trim")
    return (action,)


class Cleaner:
    """Runs cleanups for this process: one at a time, rate-limited."""

    def __init__(self) -> None:
        self._lock = allocate_lock()
        self._last_run: dict[str, float] = {}

    def reset(self) -> None:
        """Forget past runs and take a fresh lock: a forked child (the
        parent's lock may be held by a thread that does not exist here), tests."""
        self._lock = allocate_lock()
        self._last_run = {}

    reset_after_fork = reset

    def run(self, action: str, options: Mapping[str, Any] | None = None, *,
            min_interval: float = 0.0, client: str = "in-process") -> dict[str, Any]:
        """Validate, rate-limit, run and log one action; returns the receipt.

        ``min_interval`` seconds must separate two runs of the same action
        (0 disables the limit). Raises a :class:`~memdash.probe.errors.ProbeError`
        subclass on refusal; refusals are logged too.
        """
        try:
            opts = validate(action, options or {})
        except Exception as exc:
            _log().warning("cleanup %r from %s refused: %s", action, shown(client), shown(exc))
            raise
        if not self._lock.acquire(timeout=LOCK_WAIT_SECONDS):
            _log().warning("cleanup %s from %s refused: another cleanup is still running", action, shown(client))
            raise RateLimited("another cleanup is still running", retry_after_seconds=1.0)
        try:
            keys = _limit_keys(action, opts)
            now = time.monotonic()
            if min_interval > 0:
                wait = max((self._last_run.get(k, -1e18) + min_interval - now for k in keys), default=0.0)
                if wait > 0:
                    _log().warning("cleanup %s from %s refused: rate limit, retry in %.1f s", action,
                                   shown(client), wait)
                    raise RateLimited(
                        f"{action!r} ran less than {min_interval:g} s ago; retry in {wait:.1f} s",
                        retry_after_seconds=wait)
            receipt = run_action(action, opts)
            done = time.monotonic()
            for k in keys:
                self._last_run[k] = done
        finally:
            self._lock.release()
        _log().info("cleanup %s from %s: ok, collected=%s, rss %s -> %s bytes%s", action, shown(client),
                    receipt.get("collected"), receipt.get("rss_before_bytes"), receipt.get("rss_after_bytes"),
                    f", caches cleared {shown(receipt['caches_cleared'])}" if receipt.get("caches_cleared") else "")
        return receipt


#: The one cleaner of this process, shared by every front end so the lock and
#: the rate limit hold however many front ends are mounted.
CLEANER = Cleaner()


def run_action(action: str, opts: Mapping[str, Any]) -> dict[str, Any]:
    """Run a validated action now (no lock, no rate limit) and build its receipt."""
    t0 = time.perf_counter()
    started = time.time()
    rss_before = procfs.read_rss()
    gpu_before = native.gpu_reserved_bytes()
    steps: list[dict[str, Any]] = []
    collected: int | None = None
    tracked_before = tracked_after = None
    cleared: list[str] = []
    does_gc = action in ("gc", "all")
    does_trim = action == "trim" or (action == "all" and native.trim_available())
    from memdash.probe import pymem  # here: a host that never cleans up never loads it
    prediction = _predict(does_gc, does_trim, rss_before)
    malloc_before = pymem.mallinfo() if does_trim else None
    traced = None
    if action == "tracemalloc":
        from memdash.probe import tracing

        traced = tracing.trace(opts["seconds"], opts["frames"])
        steps.append({"action": "tracemalloc", "seconds": traced["seconds"]})
    if does_gc:
        # Walks the heap (a list of 8 bytes per object, for a moment): fine in
        # a cleanup, never in a snapshot.
        tracked_before = len(gc.get_objects())
        if prediction is not None:
            prediction["gc_tracked_objects"] = tracked_before
    if action in ("caches", "all"):
        from memdash.probe.caches import REGISTRY

        results = REGISTRY.clear(opts.get("name"))
        cleared = [r["name"] for r in results if r.get("cleared")]
        steps.append({"action": "caches", "caches": results})
    if does_gc:
        generation = opts.get("generation", _generations() - 1)
        collected = gc.collect(generation)
        steps.append({"action": "gc", "generation": generation, "collected": collected})
        tracked_after = len(gc.get_objects())
    if action == "cuda" or (action == "all" and native.cuda_ready()):
        native.cuda_empty_cache()
        steps.append({"action": "cuda"})
    if does_trim:
        released = native.malloc_trim()
        steps.append({"action": "trim", "released": released})
    rss_after = procfs.read_rss()
    gpu_after = native.gpu_reserved_bytes()
    freed = rss_before - rss_after if rss_before is not None and rss_after is not None else None
    receipt: dict[str, Any] = {
        "schema": SCHEMA, "action": action, "ok": True, "pid": os.getpid(), "time": started,
        "duration_seconds": round(time.perf_counter() - t0, 6), "steps": steps,
        "collected": collected, "tracked_objects_before": tracked_before,
        "tracked_objects_after": tracked_after, "rss_before_bytes": rss_before,
        "rss_after_bytes": rss_after, "rss_freed_bytes": freed,
        "gpu_reserved_before_bytes": gpu_before, "gpu_reserved_after_bytes": gpu_after,
        "caches_cleared": cleared, "note": None, "suggest": None,
    }
    if prediction is not None:
        receipt["prediction"] = prediction
    if malloc_before is not None:
        malloc_after = pymem.mallinfo()
        receipt["malloc_free_before_bytes"] = malloc_before["free_bytes"]
        receipt["malloc_free_after_bytes"] = malloc_after["free_bytes"] if malloc_after else None
    if traced is not None:
        receipt["tracemalloc"] = traced
    if does_gc or does_trim:
        pymem.refresh_now()  # the next snapshot shows what the cleanup changed
    receipt["note"], receipt["suggest"] = _explain(action, freed)
    return receipt


def _predict(does_gc: bool, does_trim: bool, rss: int | None) -> dict[str, Any] | None:
    """What the probe expects, read just before the action runs, so the
    receipt can set it beside what happened (docs/python-memory.md)."""
    if not (does_gc or does_trim):
        return None
    from memdash.probe import pymem
    out: dict[str, Any] = {"gc_collectable_objects": None, "gc_tracked_objects": None, "trim_bytes": None}
    try:
        if does_gc:
            out["gc_collectable_objects"] = pymem.gc_prediction()
        if does_trim:
            out["trim_bytes"] = pymem.trim_prediction(pymem.mallinfo(), rss, pymem.STATE.pymalloc)
    except Exception:  # a prediction is a nicety; the cleanup runs regardless
        pass
    return out


def _explain(action: str, freed: int | None) -> tuple[str | None, str | None]:
    """A sentence for a receipt where RSS did not drop, and the next action to try."""
    if freed is None or freed > 0:
        return None, None
    trim = native.trim_available()
    if action in ("gc", "caches"):
        if trim:
            return ("RSS did not drop: Python freed the objects but kept the memory; try trim", "trim")
        return ("RSS did not drop: Python freed the objects but kept the memory "
                "(no malloc_trim in this C library)", None)
    if action in ("trim", "all"):
        return ("RSS did not drop: the freed memory was small objects in pymalloc arenas that still "
                "hold survivors, which no trim can return; only a restart gives it back", None)
    if action == "cuda":
        return ("RSS is host memory; see gpu_reserved_before_bytes/after for what empty_cache returned", None)
    return None, None
