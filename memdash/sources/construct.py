"""Building the frozen model objects of a poll at the speed the target poller needs.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``
(frozen classes refuse plain assignment): ~0.3 µs a field on a small box, and a
probe answer becomes ~60 fields (the sample, its GC generations, its Python
memory) 200 times a second with 200 targets. :func:`maker` writes, once per
class, a keyword-only function with the same parameters and defaults that sets
each slot through its descriptor instead: the same object (equal, same type,
still frozen afterwards), built in about half the time. :func:`evolver` does
what ``dataclasses.replace`` does for a few named fields, without building a
dict of every field first.

Only for ``slots=True`` dataclasses without ``__post_init__`` or ``init=False``
fields; anything else gets its own ``__init__`` (or ``dataclasses.replace``)
back, so a model change can never make these build something else.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar

T = TypeVar("T")

_MISSING = dataclasses.MISSING


def _plain(cls: type) -> list[dataclasses.Field[Any]] | None:
    """The fields, where the fast builders apply to ``cls``; else ``None``."""
    if not dataclasses.is_dataclass(cls) or "__slots__" not in cls.__dict__ or hasattr(cls, "__post_init__"):
        return None
    fields = list(dataclasses.fields(cls))
    if any(not f.init for f in fields) or len(fields) != len(cls.__dict__["__slots__"]):
        return None
    return fields


def maker(cls: type[T]) -> Callable[..., T]:
    """A function taking exactly ``cls``'s keyword arguments (same defaults) and
    returning what ``cls(**kwargs)`` would."""
    fields = _plain(cls)
    if fields is None:
        return cls
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_MISSING": _MISSING}
    params = []
    body = ["    o = _new(_cls)"]
    for i, f in enumerate(fields):
        env[f"_set{i}"] = cls.__dict__[f.name].__set__  # the slot's descriptor
        if f.default is not _MISSING:
            env[f"_d{i}"] = f.default
            params.append(f"{f.name}=_d{i}")
        elif f.default_factory is not _MISSING:
            env[f"_f{i}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            body.append(f"    if {f.name} is _MISSING: {f.name} = _f{i}()")
        else:
            params.append(f.name)
        body.append(f"    _set{i}(o, {f.name})")
    body.append("    return o")
    src = f"def make_{cls.__name__}(*, {', '.join(params)}):\n" + "\n".join(body) + "\n"
    exec(src, env)  # noqa: S102 - source built above from the class's own field names
    fn: Callable[..., T] = env[f"make_{cls.__name__}"]
    fn.__doc__ = f"``{cls.__name__}(**kwargs)``, built slot by slot (memdash.sources.construct)."
    return fn


def evolver(cls: type[T], names: tuple[str, ...]) -> Callable[..., T]:
    """A function ``(obj, **{name: value for name in names})`` returning what
    ``dataclasses.replace(obj, ...)`` would; every argument is required."""
    fields = _plain(cls)
    if fields is None or not set(names) <= {f.name for f in fields}:
        def replace(obj: T, **changes: Any) -> T:
            return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
        return replace
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    body = ["    o = _new(_cls)"]
    for i, f in enumerate(fields):
        env[f"_set{i}"] = cls.__dict__[f.name].__set__
        value = f.name if f.name in names else f"obj.{f.name}"
        body.append(f"    _set{i}(o, {value})")
    body.append("    return o")
    src = f"def evolve_{cls.__name__}(obj, *, {', '.join(names)}):\n" + "\n".join(body) + "\n"
    exec(src, env)  # noqa: S102 - as above
    fn: Callable[..., T] = env[f"evolve_{cls.__name__}"]
    return fn
