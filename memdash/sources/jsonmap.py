"""Any JSON memory endpoint -> :class:`~memdash.model.TargetSample`.

Services already expose memory figures in their own shapes (seed 001's
``/api/v1/memory/stats``, seed 004's ``{ram: {rss_mb}, gpu: {...}}``). With no
``fields`` configured, :func:`discover` walks the whole document (breadth first,
so the shallowest match wins) looking for the common names in :data:`ALIASES`.
``fields`` (canonical name -> dotted path) overrides discovery name by name.
Every numeric leaf that no figure used is kept as an extra metric (dotted path ->
float, at most :data:`MAX_METRICS`).

Units: ``*_mb`` are MiB (what ``psutil`` users divide by ``1024 * 1024``),
``*_bytes`` bytes; a hit rate above 1 is read as a percent and divided by 100.

Standard library only; nothing here does I/O.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterator, Mapping

from memdash.config import FieldSpec, field_spec
from memdash.model import ACTIONS, CacheStats, GcGeneration, GcStats, Instance, Runtime, TargetSample, TorchDevice
from memdash.sources.numbers import MAX_BYTES, count, integer, limit as limit_bytes, number, percent as percent_value, size

__all__ = ["number", "integer", "sample_from_json", "cleanup_figures", "gc_from_value", "discover", "walk", "lookup",
           "resolve", "split_path", "convert", "mapping_warnings"]

MIB = 1024 * 1024
#: Extra metrics kept per sample: enough to be useful, bounded for the UI.
MAX_METRICS = 50
#: Nodes visited per document: a 1 MB body can hold ~100k leaves; stop well before.
MAX_NODES = 20_000

#: canonical field -> leaf key names that mean it (lower case), best first.
ALIASES: dict[str, tuple[str, ...]] = {
    "percent": ("memory_percent", "percent_of_limit", "mem_percent", "memory_usage_percent", "memory_usage",
                "percent"),
    # uWSGI's workers[].rss and express-actuator's mem.rss are bytes.
    "rss_bytes": ("rss_bytes", "memory_rss_bytes", "resident_bytes", "rss"),
    # getrusage's ru_maxrss (Flower's rusage.maxrss) is KiB on Linux, and a peak.
    "rss_kib": ("maxrss", "ru_maxrss"),
    "rss_mb": ("rss_mb", "memory_rss_mb", "resident_mb", "memory_mb"),
    # "used" is what seed 001 reports (psutil's system-wide used memory); it stands
    # in for RSS only where the endpoint gives no RSS.
    "used_mb": ("memory_used_mb", "used_mb"),
    "used_bytes": ("memory_used_bytes", "used_bytes"),
    "limit_bytes": ("limit_bytes", "memory_limit_bytes"),
    "limit_mb": ("limit_mb", "memory_limit_mb", "memory_total_mb", "total_mb"),
    "pid": ("pid",),
    "hit_rate": ("cache_hit_rate", "hit_rate", "hit_ratio", "cache_hit_ratio"),
    "cache_hits": ("cache_hits", "hits"),
    "cache_misses": ("cache_misses", "misses"),
    "cache_items": ("cache_items", "cache_size", "currsize"),
    "cache_maxsize": ("cache_maxsize", "maxsize", "cache_max_items"),
    "cache_size_mb": ("cache_size_mb", "cache_memory_mb"),
    "cache_size_bytes": ("cache_size_bytes", "cache_memory_bytes"),
    "cache_evictions": ("cache_evictions", "evictions", "evictions_count"),
    "gc_generation_stats": ("gc_generation_stats", "gc_stats", "generation_stats"),
    "gc_counts": ("gc_counts", "gc_count"),
    "gc_thresholds": ("gc_thresholds", "gc_threshold"),
    # {"gc": {"count": [...], "threshold": [...]}} (seed 000): only under a "gc" key.
    "gc_counts_in_gc": ("count", "counts"),
    "gc_thresholds_in_gc": ("threshold", "thresholds"),
    "allocated_mb": ("allocated_mb", "gpu_allocated_mb", "cuda_allocated_mb"),
    "allocated_bytes": ("allocated_bytes", "gpu_allocated_bytes", "cuda_allocated_bytes"),
    "reserved_mb": ("reserved_mb", "gpu_reserved_mb", "cuda_reserved_mb"),
    "reserved_bytes": ("reserved_bytes", "gpu_reserved_bytes", "cuda_reserved_bytes"),
    "max_allocated_mb": ("max_allocated_mb", "gpu_max_allocated_mb"),
    "device_name": ("device_name", "gpu_name"),
}

#: The process-memory figures: never taken from a CPU, disk, swap, GPU or cache
#: sub-object, where ``percent`` and ``used_mb`` mean something else.
_MEMORY_FIELDS = frozenset({"percent", "rss_bytes", "rss_mb", "rss_kib", "used_mb", "used_bytes", "limit_bytes",
                            "limit_mb"})
_NOT_MEMORY = ("cpu", "disk", "swap", "net", "gpu", "cuda", "cache", "load", "before", "after", "history")
_CACHE_FIELDS = ("hit_rate", "cache_hits", "cache_misses", "cache_items", "cache_maxsize",
                 "cache_size_mb", "cache_size_bytes", "cache_evictions")

_ALIAS_TO_FIELD: dict[str, str] = {}
for _field, _names in ALIASES.items():
    if _field.endswith("_in_gc"):
        continue
    for _name in _names:
        _ALIAS_TO_FIELD.setdefault(_name, _field)
for _field in ALIASES:
    if not _field.endswith("_in_gc"):
        _ALIAS_TO_FIELD.setdefault(_field, _field)
_IN_GC = {name: field[: -len("_in_gc")] for field, names in ALIASES.items() if field.endswith("_in_gc")
          for name in names}
#: What a short config key means: ``rss = {path = ..., unit = "KiB"}``.
_SHORT = {"rss": "rss_bytes", "used": "used_bytes", "limit": "limit_bytes", "memory": "rss_bytes"}

#: Units a mapped field may name -> bytes per unit (sizes), or the unit's kind.
UNITS: dict[str, float] = {"B": 1, "KiB": 1024, "KB": 1000, "MiB": MIB, "MB": 1000 ** 2, "GiB": 1024 * MIB,
                           "GB": 1000 ** 3}
_SIZE_FIELDS = {"rss": "rss_bytes", "used": "used_bytes", "limit": "limit_bytes", "cache_size": "cache_size_bytes",
                "allocated": "allocated_bytes", "reserved": "reserved_bytes", "max_allocated": "max_allocated_bytes"}


def _coerce(value: Any) -> Any:
    """A number written as a string (``"61100032"``, ``" 1.5e3 "``) as a float; anything else as it is."""
    if isinstance(value, str) and 0 < len(value) <= 40:
        try:
            v = float(value)
        except ValueError:
            return value
        return v if number(v) is not None else value
    return value


def convert(key: str, value: Any, unit: str | None) -> tuple[str | None, float | None, str | None]:
    """A mapped figure in memdash's units: ``(figure, value, problem)``.

    ``key`` is the config's name (``rss``, ``rss_mb``, ``percent``...); sizes come
    back as ``*_bytes``, percents as ``percent`` (0-100). ``problem`` says what
    was wrong, in words (``None``: nothing).
    """
    v = number(_coerce(value))
    if v is None:
        return None, None, f"{_shown(value)} is not a number"
    canon = _SHORT.get(key.lower()) or canonical(key) or key
    if unit in ("%", "ratio"):
        if canon not in ("percent", "hit_rate"):
            return None, None, f"unit {unit} given for a size or count ({key})"
        if canon == "percent":
            return "percent", v * 100 if unit == "ratio" else v, None
        return "hit_rate", v / 100 if unit == "%" else v, None
    stem = canon.rsplit("_", 1)[0] if canon.endswith(("_bytes", "_mb", "_kib")) else None
    if stem in _SIZE_FIELDS:
        scale = UNITS[unit] if unit in UNITS else {"_mb": MIB, "_kib": 1024}.get("_" + canon.rsplit("_", 1)[1], 1)
        return _SIZE_FIELDS[stem], v * scale, None
    if unit in UNITS and canon not in ("pid",):
        return canon, v * UNITS[unit], None
    return canon, v, None


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return repr(value)[:40]


def walk(doc: Any, *, max_nodes: int = MAX_NODES) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every ``(path, value)`` in ``doc``, breadth first; list indexes are path parts too."""
    queue: deque[tuple[tuple[str, ...], Any]] = deque([((), doc)])
    seen = 0
    while queue and seen < max_nodes:
        path, node = queue.popleft()
        seen += 1
        if path:
            yield path, node
        if isinstance(node, Mapping):
            queue.extend(((*path, str(k)), v) for k, v in node.items())
        elif isinstance(node, list):
            queue.extend(((*path, str(i)), v) for i, v in enumerate(node))


def split_path(path: str) -> list[str]:
    """A path's parts: JSON Pointer (RFC 6901: ``/celery@host.domain/rusage/maxrss``,
    ``~1`` for ``/`` and ``~0`` for ``~``) when it starts with ``/``; slash-separated
    when it has a ``/`` and no ``.`` (``workers/*/rss``); else dotted
    (``data.memory_percent``). ``*`` stands for every key or index."""
    if path.startswith("/"):
        return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]
    if "/" in path and "." not in path:  # workers/*/rss
        return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")]
    return path.split(".")


def spell(parts: tuple[str, ...] | list[str]) -> str:
    """Parts as a path :func:`split_path` reads back: dotted where it can be,
    JSON Pointer where a key holds a ``.`` or a ``/`` (or the path would start with one)."""
    if any("." in p or "/" in p or "~" in p for p in parts) or not parts:
        return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)
    return ".".join(parts)


def _child(node: Any, part: str) -> Any:
    if isinstance(node, Mapping):
        return node.get(part)
    if isinstance(node, list) and part.isascii() and part.isdigit() and len(part) < 10 and int(part) < len(node):
        return node[int(part)]
    return None


def resolve(doc: Any, path: str, *, limit: int = 1000) -> list[tuple[str, Any]]:
    """Every ``(concrete path, value)`` that ``path`` names; wildcards give one per
    match (at most ``limit``), the concrete paths written like ``path``."""
    parts = split_path(path)
    pointer = path.startswith("/") or ("/" in path and "." not in path)
    found: list[tuple[list[str], Any]] = [([], doc)]
    for part in parts:
        nxt: list[tuple[list[str], Any]] = []
        for where, node in found:
            if part == "*":
                items = (node.items() if isinstance(node, Mapping)
                         else enumerate(node) if isinstance(node, list) else ())
                for k, v in items:
                    if len(nxt) >= limit:
                        break
                    nxt.append(([*where, str(k)], v))
            else:
                child = _child(node, part)
                if child is not None:
                    nxt.append(([*where, part], child))
        found = nxt
        if not found:
            return []
    def written(where: list[str]) -> str:
        if pointer:
            return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in where)
        return spell(where)
    return [(written(w), _coerce(v)) for w, v in found]


def lookup(doc: Any, path: str) -> Any:
    """The value at ``path`` (dotted, JSON Pointer; see :func:`split_path`); ``None`` if absent.

    A number written as a string is a number. A wildcard path gives the sum of
    the numbers it matches (``workers/*/rss``: the workers' total)."""
    if "*" in split_path(path):
        values = [number(v) for _, v in resolve(doc, path)]
        nums = [v for v in values if v is not None]
        return sum(nums) if nums else None
    node = doc
    for part in split_path(path):
        node = _child(node, part)
        if node is None:
            return None
    return _coerce(node)


def canonical(name: str) -> str | None:
    """The canonical field a config ``fields`` key or a document key means, if any."""
    return _ALIAS_TO_FIELD.get(name.lower())


def discover(doc: Any) -> dict[str, str]:
    """Canonical field -> dotted path, for the common names found anywhere in ``doc``.

    The shallowest match wins; for a field with several aliases the better alias
    wins at equal depth (``memory_percent`` over ``percent``).
    """
    found: dict[str, tuple[int, int, str]] = {}
    for path, value in walk(doc):
        leaf = path[-1].lower()
        field = _ALIAS_TO_FIELD.get(leaf)
        if field is None and len(path) >= 2 and path[-2].lower() == "gc" and leaf in _IN_GC:
            field = _IN_GC[leaf]
        if field is None:
            continue
        value = _coerce(value)
        if field in _MEMORY_FIELDS and any(bad in p.lower() for p in path[:-1] for bad in _NOT_MEMORY):
            continue
        if field in ("gc_generation_stats", "gc_counts", "gc_thresholds"):
            if not isinstance(value, (list, Mapping)):
                continue
        elif field == "device_name":
            if not isinstance(value, str):
                continue
        elif number(value) is None:
            continue
        names = ALIASES[field]
        rank = (len(path), names.index(leaf) if leaf in names else 0)
        if field not in found or rank < found[field][:2]:
            found[field] = (*rank, _spell_found(doc, path, field))
    return {field: where for field, (_, _, where) in found.items()}


def _spell_found(doc: Any, path: tuple[str, ...], field: str) -> str:
    """A discovered path as a config would write it: JSON Pointer where a key holds
    a dot; a list of workers (``workers.0.rss``) as a wildcard that sums them."""
    parts = list(path)
    if field in ("rss_bytes", "rss_mb", "rss_kib"):
        node = doc
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list) and part.isdigit() and len(node) > 1:
                parts[i] = "*"  # several workers: their total, one row each
                break
            node = _child(node, part)
    return spell(parts)


def resolve_fields(doc: Any, fields: Mapping[str, "str | FieldSpec"]) -> dict[str, str]:
    """Discovered paths, overridden by the configured ``fields`` (keys may be aliases)."""
    paths = discover(doc)
    for key, raw in fields.items():
        name = _SHORT.get(key.lower()) or canonical(key) or key
        if name in ("rss_bytes", "rss_mb", "rss_kib"):  # one configured RSS replaces any discovered
            for other in ("rss_bytes", "rss_mb", "rss_kib"):
                paths.pop(other, None)
        paths[name] = field_spec(raw).path
    return paths


def _units(fields: Mapping[str, "str | FieldSpec"]) -> dict[str, str]:
    """Canonical field -> the unit the config gave it."""
    out = {}
    for key, raw in fields.items():
        unit = field_spec(raw).unit
        if unit:
            out[_SHORT.get(key.lower()) or canonical(key) or key] = unit
    return out


def mapping_warnings(doc: Any, fields: Mapping[str, "str | FieldSpec"]) -> list[str]:
    """Every configured path that resolves to nothing or to no number, in words."""
    out = []
    for key, raw in fields.items():
        path = field_spec(raw).path
        canon = _SHORT.get(key.lower()) or canonical(key) or key
        found = resolve(doc, path)
        if not found:
            out.append(f"fields.{key}: {path} resolves to nothing")
            continue
        if canon in ("gc_generation_stats", "gc_counts", "gc_thresholds", "device_name"):
            continue
        bad = [(where, v) for where, v in found if number(v) is None]
        if bad and len(bad) == len(found):
            out.append(f"fields.{key}: {bad[0][0]} is {_shown(bad[0][1])}, not a number")
        elif bad:
            out.append(f"fields.{key}: {len(bad)} of {len(found)} matches of {path} are not numbers "
                       f"(first: {bad[0][0]})")
    return out


def hit_ratio(value: Any) -> float | None:
    """A hit rate as a 0..1 ratio: above 1 it was a percent."""
    v = number(value)
    if v is None or v < 0 or v > 100.0:
        return None  # 101 % is no hit rate
    return v / 100.0 if v > 1.0 else v


def _bytes(
    doc: Any, paths: Mapping[str, str], b_key: str, mb_key: str, read: Any = size,
    units: Mapping[str, str] | None = None,
) -> tuple[int | None, str | None]:
    """The first of ``b_key`` (bytes), ``mb_key`` (MiB) and ``*_kib`` that holds a
    usable size (``read``: :func:`~memdash.sources.numbers.size`, or ``limit`` for
    limits); a unit the config gave wins over the name's."""
    kib_key = b_key[: -len("_bytes")] + "_kib"
    scales: tuple[tuple[str, float], ...] = ((b_key, 1), (mb_key, MIB), (kib_key, 1024))
    for key, scale in scales:
        path = paths.get(key)
        if not path:
            continue
        unit = (units or {}).get(key)
        if unit in UNITS:
            scale = UNITS[unit]
        v = read(lookup(doc, path), scale)
        if v is not None:
            return v, path
    return None, None


def gc_from_value(stats: Any, counts: Any = None, thresholds: Any = None) -> GcStats | None:
    """A :class:`GcStats` from the usual shapes of per-generation stats.

    Accepts ``gc.get_stats()``-like lists of dicts, ``{"0": {...}}`` or
    ``{"gen0": {...}}`` maps, or plain count lists (``gc.get_count()``).
    """
    entries: list[tuple[int, Any]] = []
    if isinstance(stats, list):
        entries = list(enumerate(stats))
    elif isinstance(stats, Mapping):
        for key, value in stats.items():
            digits = "".join(ch for ch in str(key) if ch in "0123456789")
            if digits and len(digits) < 4:  # "gen2", not a 5000-digit key
                entries.append((int(digits), value))
        entries.sort(key=lambda e: e[0])
    count_list = counts if isinstance(counts, list) else []
    threshold_list = thresholds if isinstance(thresholds, list) else []
    n = max(len(entries), len(count_list), len(threshold_list))
    if n == 0:
        return None
    by_gen = dict(entries)
    gens = []
    for g in range(n):
        entry = by_gen.get(g)
        d = entry if isinstance(entry, Mapping) else {}
        objects = count(d.get("count")) if d else count(entry)
        if objects is None and g < len(count_list):
            objects = count(count_list[g])
        threshold = count(d.get("threshold"))
        if threshold is None and g < len(threshold_list):
            threshold = count(threshold_list[g])
        generation = count(d.get("generation"))
        gens.append(GcGeneration(
            generation=generation if generation is not None and generation < 1000 else g,
            count=objects,
            threshold=threshold,
            collections=count(d.get("collections")),
            collected=count(d.get("collected", d.get("freed_objects"))),
            uncollectable=count(d.get("uncollectable")),
        ))
    return GcStats(generations=tuple(gens))


def _caches(doc: Any, paths: Mapping[str, str], explicit: bool) -> tuple[tuple[CacheStats, ...], set[str]]:
    """Caches: the configured one (``explicit``), else one per object holding cache figures."""
    used: set[str] = set()

    def read(get: Any, name: str) -> CacheStats | None:
        vals: dict[str, Any] = {}
        for field in _CACHE_FIELDS:
            path = get(field)
            if path is None:
                continue
            raw = lookup(doc, path)
            if number(raw) is not None:
                vals[field] = raw
                used.add(path)
        if not vals:
            return None
        hits, misses = count(vals.get("cache_hits")), count(vals.get("cache_misses"))
        rate = hit_ratio(vals.get("hit_rate"))
        if rate is None and hits is not None and misses is not None and hits + misses:
            rate = hits / (hits + misses)
        size_bytes = size(vals.get("cache_size_bytes"))
        if size_bytes is None:
            size_bytes = size(vals.get("cache_size_mb"), MIB)
        return CacheStats(
            name=name, hits=hits, misses=misses, hit_rate=rate,
            size=count(vals.get("cache_items")), maxsize=count(vals.get("cache_maxsize")),
            size_bytes=size_bytes, evictions=count(vals.get("cache_evictions")),
        )

    if explicit:
        cache = read(paths.get, "cache")
        return ((cache,) if cache else ()), used
    # Discovery: group cache figures by the object that holds them, so a document
    # with {"caches": {"users": {...}, "pages": {...}}} shows two caches.
    holders: dict[tuple[str, ...], dict[str, str]] = {}
    for path, value in walk(doc):
        field = _ALIAS_TO_FIELD.get(path[-1].lower())
        if field in _CACHE_FIELDS and number(value) is not None:
            holders.setdefault(path[:-1], {}).setdefault(field, spell(path))
    caches = []
    for parent, fields in holders.items():
        if not ({"hit_rate", "cache_hits", "cache_items", "cache_size_mb"} & fields.keys()):
            continue
        # {"users": {"hit_rate": ...}} names its cache; flat "cache_*" keys in a
        # general stats object do not.
        prefixed = any(split_path(p)[-1].lower().startswith("cache") for p in fields.values())
        name = parent[-1] if parent and not parent[-1].isdigit() and not prefixed else "cache"
        cache = read(fields.get, name)
        if cache:
            caches.append(cache)
    return tuple(caches), used


def sample_from_json(
    doc: Any,
    *,
    name: str,
    url: str,
    now: float,
    fields: Mapping[str, "str | FieldSpec"] | None = None,
    actions: Mapping[str, str] | None = None,
) -> TargetSample:
    """Read ``doc`` into a sample (``ok=True``, level not yet set).

    ``percent`` is the endpoint's own figure and ``limit_bytes`` its own limit;
    the poller recomputes percent against the limit that applies. ``actions`` are
    the memdash actions the config maps to routes, in :data:`ACTIONS` order.
    """
    # A cache configured in ``fields`` replaces the discovered ones.
    explicit = any(canonical(k) in _CACHE_FIELDS for k in (fields or {}))
    paths = resolve_fields(doc, fields or {})
    units = _units(fields or {})
    warnings = mapping_warnings(doc, fields or {})
    recognised: list[str] = []
    used: set[str] = set()
    runtime = _expvar(doc)
    if runtime is not None:
        recognised.append("go runtime (expvar memstats)")
        if "used_bytes" not in paths and runtime.figures.get("sys_bytes") is not None:
            paths.setdefault("used_bytes", "memstats.Sys")
    actuator = _actuator_memory(doc)
    if actuator and not paths.get("used_bytes") and not paths.get("rss_bytes"):
        paths["used_bytes"] = actuator
        recognised.append(f"Spring Actuator metric {str(doc.get('name'))[:60]}")

    rss, rss_path = _bytes(doc, paths, "rss_bytes", "rss_mb", units=units)
    box_used = rss is None
    if box_used:
        rss, rss_path = _bytes(doc, paths, "used_bytes", "used_mb", units=units)
    # -1, 0, NaN, Inf: "no limit"; the path still counts as read.
    _, limit_path = _bytes(doc, paths, "limit_bytes", "limit_mb", read=lambda v, scale: number(v), units=units)
    limit, _ = _bytes(doc, paths, "limit_bytes", "limit_mb", read=limit_bytes, units=units)
    used.update(p for p in (rss_path, limit_path) if p)
    instances: tuple[Instance, ...] = ()
    if rss_path and "*" in split_path(rss_path):
        # A wildcard: the total above, and one row per match.
        scale = UNITS.get(units.get("rss_bytes", ""), 1) if "rss_bytes" in paths else \
            MIB if paths.get("rss_mb") == rss_path else 1024
        instances = tuple(Instance(labels=where, rss_bytes=size(v, scale)) for where, v in resolve(doc, rss_path))
        used.update(where for where, _ in resolve(doc, rss_path))
    percent = None
    if paths.get("percent"):
        raw_percent = lookup(doc, paths["percent"])
        if units.get("percent") == "ratio" and number(raw_percent) is not None:
            raw_percent = number(raw_percent) * 100  # type: ignore[operator]
        percent = percent_value(raw_percent)
        if number(raw_percent) is not None:
            used.add(paths["percent"])
    if box_used and rss and percent and limit is None:
        # ``memory_used_mb`` beside ``memory_percent`` (seed 001) is the box's used
        # memory against the box's total: that total is the limit the endpoint
        # means, so a configured ``limit_mb`` is not divided into the whole box.
        limit = limit_bytes(rss * 100 / percent)
    pid = count(lookup(doc, paths["pid"])) if paths.get("pid") else None

    gc = None
    if paths.get("gc_generation_stats") or paths.get("gc_counts"):
        gc = gc_from_value(
            lookup(doc, paths.get("gc_generation_stats", "")) if paths.get("gc_generation_stats") else None,
            lookup(doc, paths["gc_counts"]) if paths.get("gc_counts") else None,
            lookup(doc, paths["gc_thresholds"]) if paths.get("gc_thresholds") else None,
        )
        for key in ("gc_generation_stats", "gc_counts", "gc_thresholds"):
            if gc is not None and paths.get(key):
                used.add(paths[key])

    caches, cache_paths = _caches(doc, paths, explicit)
    used |= cache_paths

    gpu = None
    allocated, a_path = _bytes(doc, paths, "allocated_bytes", "allocated_mb")
    reserved, r_path = _bytes(doc, paths, "reserved_bytes", "reserved_mb")
    if allocated is not None or reserved is not None:
        max_alloc, m_path = _bytes(doc, paths, "max_allocated_bytes", "max_allocated_mb")
        device_name = lookup(doc, paths["device_name"]) if paths.get("device_name") else None
        gpu = (TorchDevice(device=0, allocated_bytes=allocated, reserved_bytes=reserved,
                           max_allocated_bytes=max_alloc,
                           name=device_name if isinstance(device_name, str) else None),)
        used.update(p for p in (a_path, r_path, m_path) if p)

    for key, label in (("rss_bytes", "RSS"), ("rss_mb", "RSS"), ("rss_kib", "RSS"), ("used_bytes", "used memory"),
                       ("used_mb", "used memory"), ("percent", "percent"), ("limit_bytes", "limit"),
                       ("limit_mb", "limit")):
        if paths.get(key) and paths[key] in used:
            unit = units.get(key) or {"mb": "MiB", "kib": "KiB"}.get(key.rsplit("_", 1)[-1], "")
            recognised.append(f"{label} at {paths[key]}" + (f" ({unit})" if unit else ""))
    if gc is not None:
        recognised.append("GC generations")
    return TargetSample(
        name=name, url=url, kind="json", ok=True, time=now, last_ok=now, pid=pid,
        rss_bytes=rss, percent=percent, limit_bytes=limit, gc=gc, caches=caches, gpu=gpu,
        metrics=extra_metrics(doc, used),
        actions=tuple(a for a in ACTIONS if actions and a in actions),
        runtime=runtime, recognised=tuple(dict.fromkeys(recognised)), instances=instances,
        warnings=tuple(warnings),
    )


#: Go expvar's ``memstats`` (runtime.MemStats field names) -> runtime figure.
_EXPVAR = {"HeapAlloc": "heap_alloc_bytes", "HeapInuse": "heap_inuse_bytes", "HeapIdle": "heap_idle_bytes",
           "HeapReleased": "heap_released_bytes", "HeapSys": "heap_sys_bytes", "Sys": "sys_bytes",
           "NextGC": "next_gc_bytes", "StackInuse": "stack_inuse_bytes"}


def _expvar(doc: Any) -> Runtime | None:
    """Go's runtime from expvar's ``/debug/vars`` (``{"memstats": {"HeapAlloc": ...}}``)."""
    stats = doc.get("memstats") if isinstance(doc, Mapping) else None
    if not isinstance(stats, Mapping) or "HeapAlloc" not in stats:
        return None
    f: dict[str, float] = {}
    for key, figure in _EXPVAR.items():
        b = size(stats.get(key))
        if b is not None:
            f[figure] = b
    for key, figure in (("NumGC", "gc_count"), ("HeapObjects", "heap_objects")):
        c = count(stats.get(key))
        if c is not None:
            f[figure] = c
    pause = number(stats.get("PauseTotalNs"))
    if pause is not None and pause >= 0:
        f["gc_pause_total_seconds"] = pause / 1e9
    return Runtime(kind="go", figures=f)


def _actuator_memory(doc: Any) -> str | None:
    """Spring Boot Actuator's ``/actuator/metrics/<memory metric>``: the path of its value."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("measurements"), list):
        return None
    name, unit = str(doc.get("name", "")).lower(), str(doc.get("baseUnit", "")).lower()
    if "memory" not in name or unit not in ("bytes", ""):
        return None
    for i, m in enumerate(doc["measurements"]):
        if isinstance(m, Mapping) and number(_coerce(m.get("value"))) is not None:
            return f"measurements.{i}.value"
    return None


def extra_metrics(doc: Any, used: set[str], *, limit: int = MAX_METRICS) -> dict[str, float]:
    """Numeric leaves not in ``used`` (or under a used path), dotted path -> float, at most ``limit``."""
    out: dict[str, float] = {}
    used = {".".join(split_path(u)) for u in used}
    for path, value in walk(doc):
        v = number(value)
        if v is None:
            continue
        dotted = ".".join(path)
        if dotted in used or any(dotted.startswith(u + ".") for u in used):
            continue
        out[dotted] = v
        if len(out) >= limit:
            break
    return out


#: Phase words in a cleanup response's keys.
_BEFORE, _AFTER, _FREED = ("before", "antes", "initial"), ("after", "depois", "final"), ("freed", "released", "liberad")


def cleanup_figures(doc: Any) -> dict[str, float]:
    """What a service's own cleanup response says it did, where it names it.

    Returns any of ``rss_before``/``rss_after``/``rss_freed``/``gpu_before``/
    ``gpu_after``/``gpu_freed`` (bytes), ``percent_before``/``percent_after``
    (0-100) and ``collected`` (objects). Keys are recognised by their words:
    ``before.memory_used_mb``, ``ram_freed_mb``, ``gpu.reserved_after_mb``...
    """
    out: dict[str, float] = {}
    for path, value in walk(doc):
        v = number(value)
        if v is None or abs(v) > MAX_BYTES:
            continue
        words = ".".join(path).lower()
        leaf = path[-1].lower()
        if leaf in ("collected", "objects_collected", "collected_objects", "gc_collected", "gc_freed_objects"):
            out.setdefault("collected", v)
            continue
        phase = ("before" if any(w in words for w in _BEFORE)
                 else "after" if any(w in words for w in _AFTER)
                 else "freed" if any(w in words for w in _FREED) else None)
        if phase is None:
            continue
        if "percent" in leaf:
            if phase != "freed" and "cpu" not in words:
                out.setdefault(f"percent_{phase}", v)
            continue
        if leaf.endswith(("_mb", "mb")) or leaf == "mb":
            scale = MIB
        elif leaf.endswith(("_gb", "gb")):
            scale = 1024 * MIB
        elif leaf.endswith("bytes"):
            scale = 1
        else:
            continue
        resource = "gpu" if any(w in words for w in ("gpu", "cuda", "vram", "reserved")) else "rss"
        if resource == "rss" and any(w in words for w in ("available", "total", "cache", "swap", "vms")):
            continue
        out.setdefault(f"{resource}_{phase}", v * scale)
    return out
