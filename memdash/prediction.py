"""What a cleanup will return, said before it runs, and set beside what it did.

From a probe's ``python_memory`` (:class:`~memdash.model.PythonMemory`) and a
receipt's ``prediction`` block (docs/python-memory.md). Plain text with no
remote strings in it but numbers; the screens show it through ``safe``.
"""

from __future__ import annotations

from typing import Any, Mapping

from memdash.model import CleanupResult, PythonMemory
from memdash.units import human_bytes


def prediction_text(action: str, pm: PythonMemory | None) -> str | None:
    """``gc: ~N objects unreachable of M tracked; trim: up to X returnable (...)``,
    for the parts of ``action`` the figures can predict; ``None`` when none."""
    if pm is None:
        return None
    parts = []
    if action in ("gc", "all"):
        tracked = pm.tracked_objects[-1] if pm.tracked_objects else None
        of = f" of {tracked:,} tracked" if tracked is not None else ""
        if pm.predict_gc_objects is not None:
            parts.append(f"gc: ~{pm.predict_gc_objects:,} objects unreachable{of} "
                         "(what past full collections freed, on average)")
        elif tracked is not None:
            parts.append(f"gc: {tracked:,} objects tracked; no full collection yet to go by")
    if action in ("trim", "all") and pm.predict_trim_bytes is not None:
        held = ""
        if pm.pymalloc_free_bytes:
            held = f"; pymalloc's {human_bytes(pm.pymalloc_free_bytes)} free stays"
        parts.append(f"trim: up to {human_bytes(pm.predict_trim_bytes)} returnable "
                     f"(glibc free {human_bytes(pm.malloc_free_bytes)}, top pad included{held})")
    return "; ".join(parts) or None


def _int(raw: Mapping[str, Any], key: str) -> int | None:
    v = raw.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def comparison_text(r: CleanupResult) -> str | None:
    """``predicted ...; happened ...`` from a receipt that carries a prediction."""
    pred = r.raw.get("prediction") if isinstance(r.raw, Mapping) else None
    if not r.ok or not isinstance(pred, Mapping):
        return None
    said, did = [], []
    gc_pred = _int(pred, "gc_collectable_objects")
    if r.action in ("gc", "all"):
        if gc_pred is not None:
            said.append(f"gc ~{gc_pred:,} objects")
        if r.collected is not None:
            did.append(f"{r.collected:,} collected")
    trim_pred = _int(pred, "trim_bytes")
    if trim_pred is not None:
        said.append(f"trim up to {human_bytes(trim_pred)}")
        freed = r.rss_freed_bytes
        if freed is not None:
            did.append(f"RSS {'-' if freed >= 0 else '+'}{human_bytes(abs(freed))}")
        before, after = _int(r.raw, "malloc_free_before_bytes"), _int(r.raw, "malloc_free_after_bytes")
        if before is not None and after is not None:
            did.append(f"glibc free {human_bytes(before)} -> {human_bytes(after)}")
    if not said:
        return None
    return f"predicted: {', '.join(said)}; happened: {', '.join(did) or 'not measured'}"
