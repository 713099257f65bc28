"""Tracked caches: what ``track_cache()`` registers and ``collect()`` reports.

Three kinds of cache are understood, by duck typing (nothing is imported):

``lru_cache``
    ``functools.lru_cache`` / ``functools.cache`` functions: ``cache_info()``
    gives exact hits, misses, size and maxsize; ``cache_clear()`` empties them
    (and, as functools does, resets the hit/miss counters).
``cachetools.cached``
    Functions decorated with ``cachetools.cached``: ``cache_info()`` where the
    decorator was given ``info=True``, else size and maxsize only (hits and
    misses ``None``).
``cachetools``
    A cachetools cache object (``LRUCache``, ``TTLCache``...): a mapping with
    ``maxsize`` and ``currsize``. cachetools keeps no hit/miss counts, so
    ``track_cache`` returns a :class:`CountingCache` wrapper that counts them:
    use the returned object where you used the cache (``@cached(cache)``);
    lookups that bypass it are not counted, and hits/misses stay ``None``
    once the wrapper is gone.
``stats``
    Anything with ``stats() -> mapping`` (keys ``hits``, ``misses``, ``size``
    or ``currsize``, ``maxsize``; optional ``size_bytes``, ``evictions``) and
    ``clear()``.

The registry holds weak references, so tracking never keeps a cache alive; an
entry disappears from snapshots once its cache is garbage-collected.
"""

from __future__ import annotations

from _thread import allocate_lock
from _weakref import ref as _weakref  # weakref.ref itself, without the weakref module's import

try:  # collections.abc re-exports these; importing it loads the whole collections package
    from _collections_abc import MutableMapping
except ImportError:  # pragma: no cover - an interpreter without the private module
    from collections.abc import MutableMapping

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, Mapping

#: Keys of one cache's figures in a snapshot, in order.
CACHE_KEYS = ("name", "kind", "hits", "misses", "hit_rate", "size", "maxsize")


class _Counts:
    __slots__ = ("hits", "misses")

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0


class CountingCache(MutableMapping):  # type: ignore[type-arg]
    """A mapping that forwards to a cache and counts its hits and misses.

    A hit is a ``[key]`` lookup that returns; a miss one that raises
    ``KeyError``. ``setdefault`` (used by cachetools' locked wrappers after a
    miss) is passed through uncounted so one miss is not counted twice. Other
    attributes (``maxsize``, ``currsize``, ``ttl``...) are the cache's own.
    Counters are plain integers: exact under cachetools' ``lock=``, possibly a
    few short under heavy unlocked threading.
    """

    __slots__ = ("_cache", "_counts", "__weakref__")

    def __init__(self, cache: MutableMapping, counts: _Counts) -> None:  # type: ignore[type-arg]
        self._cache = cache
        self._counts = counts

    def __getitem__(self, key: Any) -> Any:
        try:
            value = self._cache[key]
        except KeyError:
            self._counts.misses += 1
            raise
        self._counts.hits += 1
        return value

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __setitem__(self, key: Any, value: Any) -> None:
        self._cache[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._cache[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cache)

    def __len__(self) -> int:
        return len(self._cache)

    def __contains__(self, key: object) -> bool:
        return key in self._cache

    def setdefault(self, key: Any, default: Any = None) -> Any:
        return self._cache.setdefault(key, default)

    def pop(self, key: Any, *default: Any) -> Any:
        return self._cache.pop(key, *default)

    def clear(self) -> None:
        self._cache.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cache, name)

    def __repr__(self) -> str:
        return f"CountingCache({self._cache!r})"

    @property
    def wrapped(self) -> MutableMapping:  # type: ignore[type-arg]
        """The cache being counted."""
        return self._cache


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _hit_rate(hits: int | None, misses: int | None) -> float | None:
    if hits is None or misses is None or hits + misses == 0:
        return None
    return hits / (hits + misses)


def _ref(obj: Any) -> Callable[[], Any]:
    """A weak reference where the type allows one, else a strong one (a few
    builtins and ``__slots__`` classes without ``__weakref__``)."""
    try:
        return _weakref(obj)
    except TypeError:
        return lambda: obj


class _Entry:
    """One tracked cache: its name, kind, a (weak) reference to it and, for
    cachetools objects, the counters and the counting proxy."""

    __slots__ = ("name", "kind", "ref", "counts", "proxy_ref")

    def __init__(self, name: str, kind: str, ref: Callable[[], Any], counts: _Counts | None = None,
                 proxy_ref: Callable[[], Any] | None = None) -> None:
        self.name = name
        self.kind = kind
        self.ref = ref
        self.counts = counts
        self.proxy_ref = proxy_ref

    def __repr__(self) -> str:
        return (f"_Entry(name={self.name!r}, kind={self.kind!r}, ref={self.ref!r}, counts={self.counts!r}, "
                f"proxy_ref={self.proxy_ref!r})")

    def target(self) -> Any:
        return self.ref()

    def figures(self) -> dict[str, Any] | None:
        """This cache's figures, ``None`` when the cache is gone."""
        obj = self.ref()
        if obj is None:
            return None
        if self.kind == "lru_cache":
            # The common case, kept lean: collect() must stay in microseconds.
            try:
                info = obj.cache_info()
                lookups = info.hits + info.misses
                return {"name": self.name, "kind": "lru_cache", "hits": info.hits, "misses": info.misses,
                        "hit_rate": info.hits / lookups if lookups else None, "size": info.currsize,
                        "maxsize": info.maxsize}
            except Exception:
                pass  # an odd cache_info(): the general path below reports what it can
        hits = misses = size = maxsize = None
        extra: dict[str, Any] = {}
        try:
            if self.kind in ("lru_cache", "cachetools.cached"):
                info_fn = getattr(obj, "cache_info", None)
                if info_fn is not None:
                    info = info_fn()
                    hits, misses = info.hits, info.misses
                    size, maxsize = info.currsize, info.maxsize
                else:
                    cache = obj.cache
                    size = _int_or_none(getattr(cache, "currsize", None))
                    if size is None:
                        size = len(cache)
                    maxsize = _int_or_none(getattr(cache, "maxsize", None))
            elif self.kind == "cachetools":
                size = _int_or_none(getattr(obj, "currsize", None))
                if size is None:
                    size = len(obj)
                maxsize = _int_or_none(getattr(obj, "maxsize", None))
                counts = self.counts
                proxy_alive = self.proxy_ref is not None and self.proxy_ref() is not None
                if counts is not None and (proxy_alive or counts.hits or counts.misses):
                    hits, misses = counts.hits, counts.misses
            else:  # "stats"
                stats: Mapping[str, Any] = obj.stats()
                hits = _int_or_none(stats.get("hits"))
                misses = _int_or_none(stats.get("misses"))
                size = _int_or_none(stats.get("size", stats.get("currsize", stats.get("len"))))
                maxsize = _int_or_none(stats.get("maxsize"))
                for key in ("size_bytes", "evictions"):
                    if key in stats:
                        extra[key] = _int_or_none(stats[key])
        except Exception as exc:  # a broken cache must not break the snapshot
            extra["error"] = f"{type(exc).__name__} reading stats"
        out = {"name": self.name, "kind": self.kind, "hits": _int_or_none(hits),
               "misses": _int_or_none(misses), "hit_rate": _hit_rate(_int_or_none(hits), _int_or_none(misses)),
               "size": _int_or_none(size), "maxsize": _int_or_none(maxsize)}
        out.update(extra)
        return out

    def clear(self) -> dict[str, Any]:
        """Empty the cache; a step for a cleanup receipt."""
        obj = self.ref()
        before = self.figures()
        if obj is None or before is None:
            return {"name": self.name, "kind": self.kind, "cleared": False, "error": "cache is gone"}
        try:
            if self.kind in ("lru_cache", "cachetools.cached"):
                obj.cache_clear()
            else:
                obj.clear()
        except Exception as exc:
            return {"name": self.name, "kind": self.kind, "cleared": False,
                    "error": f"{type(exc).__name__} while clearing"}
        after = self.figures() or {}
        return {"name": self.name, "kind": self.kind, "cleared": True,
                "size_before": before.get("size"), "size_after": after.get("size")}


def _kind_of(obj: Any) -> str | None:
    if callable(obj) and hasattr(obj, "cache_clear"):
        if hasattr(obj, "cache") and hasattr(obj, "cache_key"):
            return "cachetools.cached"
        if hasattr(obj, "cache_info"):
            return "lru_cache"
    if isinstance(obj, CountingCache):
        return "cachetools"
    if callable(getattr(obj, "stats", None)) and callable(getattr(obj, "clear", None)):
        return "stats"
    if isinstance(obj, MutableMapping) and hasattr(obj, "maxsize") and hasattr(obj, "currsize"):
        return "cachetools"
    return None


class CacheRegistry:
    """The caches this process tracks. Reads take no lock: the entries live in
    a tuple that is replaced, never mutated, on every change."""

    def __init__(self) -> None:
        self._entries: tuple[_Entry, ...] = ()
        self._lock = allocate_lock()

    def track(self, obj: Any, name: str | None = None) -> Any:
        """Register ``obj``; returns what the caller should use from now on
        (``obj`` itself, or a :class:`CountingCache` for cachetools objects)."""
        kind = _kind_of(obj)
        if kind is None:
            raise TypeError(
                f"track_cache: cannot track {type(obj).__name__!r}: expected an lru_cache function, "
                "a cachetools cache or cached function, or an object with stats() and clear()"
            )
        with self._lock:
            for entry in self._entries:
                target = entry.target()
                if target is obj or (entry.proxy_ref is not None and entry.proxy_ref() is obj):
                    return obj  # already tracked: tracking twice must not double-count
            base = name or getattr(obj, "__qualname__", None) or type(obj).__name__
            taken = {e.name for e in self._entries if e.target() is not None}
            unique, n = base, 2
            while unique in taken:
                unique, n = f"{base}#{n}", n + 1
            result = obj
            if kind == "cachetools" and isinstance(obj, CountingCache):
                entry = _Entry(unique, kind, _ref(obj.wrapped), obj._counts, _ref(obj))
            elif kind == "cachetools":
                counts = _Counts()
                result = CountingCache(obj, counts)
                entry = _Entry(unique, kind, _ref(obj), counts, _ref(result))
            else:
                entry = _Entry(unique, kind, _ref(obj))
            alive = tuple(e for e in self._entries if e.target() is not None)
            self._entries = alive + (entry,)
        return result

    def untrack(self, name: str) -> bool:
        """Forget the cache called ``name``; True if there was one."""
        with self._lock:
            kept = tuple(e for e in self._entries if e.name != name)
            found = len(kept) != len(self._entries)
            self._entries = kept
        return found

    def untrack_all(self) -> None:
        """Forget every cache."""
        with self._lock:
            self._entries = ()

    def figures(self) -> list[dict[str, Any]]:
        """One dict per live cache (keys :data:`CACHE_KEYS`)."""
        out = []
        for entry in self._entries:
            fig = entry.figures()
            if fig is not None:
                out.append(fig)
        return out

    def names(self) -> list[str]:
        """Names of the live caches."""
        return [e.name for e in self._entries if e.target() is not None]

    def clear(self, name: str | None = None) -> list[dict[str, Any]]:
        """Empty every cache, or the one called ``name``; raises ``KeyError``
        for an unknown name."""
        entries = [e for e in self._entries if e.target() is not None]
        if name is not None:
            entries = [e for e in entries if e.name == name]
            if not entries:
                raise KeyError(name)
        return [e.clear() for e in entries]


#: The one registry of this process.
REGISTRY = CacheRegistry()


def track_cache(obj: Any = None, name: str | None = None) -> Any:
    """Register a cache so snapshots report it and ``caches`` cleanups empty it.

    Works on ``functools.lru_cache``/``functools.cache`` functions,
    ``cachetools`` caches and ``cachetools.cached`` functions, and any object
    with ``stats() -> mapping`` and ``clear()``. ``name`` defaults to the
    function's qualified name or the class name (``#2``... appended on clashes).

    Usable as a decorator, bare or with arguments, on top of ``@lru_cache``::

        @track_cache
        @functools.lru_cache(maxsize=1024)
        def lookup_user(user_id): ...

        @track_cache(name="prices")
        @functools.lru_cache(maxsize=256)
        def price(sku): ...

    Returns ``obj`` itself, except for a cachetools cache object, where it
    returns a :class:`CountingCache` that counts hits and misses: use that
    object in place of the cache. Only weak references are kept.
    """
    if obj is None:
        def decorator(target: Any) -> Any:
            return REGISTRY.track(target, name=name)
        return decorator
    return REGISTRY.track(obj, name=name)
