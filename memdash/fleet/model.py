"""What the fleet view shows: units (containers, services, hosts) and frames.

All sizes are bytes, growth is bytes per minute, times are seconds, percents
0-100 and shares 0-100. A figure the fleet does not export is ``None``, never
0. Label values are other people's text: :func:`printable` makes them safe to
put on a terminal (no control characters), and the screen still never treats
them as markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from memdash.levels import Level
from memdash.textsafe import printable as _printable

#: Unit kinds, in the order their columns are explained.
KINDS = ("container", "service", "host")

#: Columns a row may carry; a frame lists those the fleet exports (``FleetFrame.columns``).
COLUMNS = ("used", "limit", "percent", "growth", "eta", "oom", "level", "share")


def printable(text: object, limit: int = 200) -> str:
    """``text`` on one line with controls and bidi characters escaped
    (:func:`memdash.textsafe.printable`), cut to ``limit`` characters."""
    return _printable(text, limit)


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetUnit:
    """One container, service or host, with its memory against its limit.

    ``used_kind`` says what ``used_bytes`` is: ``"working set"`` (cgroup usage
    less inactive file cache), ``"RSS"``, or ``"used"`` (a host's total less
    available). ``limit_source`` says where the limit came from (``"cgroup"``,
    ``"spec"`` for cAdvisor, ``"kube-state-metrics"``, ``"MemTotal"``, ``"host RAM"``).
    ``oom_eta_seconds`` is ``None`` when not growing, too young, or no limit.
    ``share`` is this unit's part of the memory used by all units of its kind.
    """

    kind: str
    key: tuple[str, ...]
    name: str
    labels: Mapping[str, str]
    used_bytes: float | None
    used_kind: str
    limit_bytes: float | None = None
    limit_source: str | None = None
    percent: float | None = None
    growth_bytes_per_min: float | None = None
    oom_eta_seconds: float | None = None
    oom_kills_1h: int | None = None
    oom_kills_15m: int | None = None
    level: Level = Level.UNKNOWN
    share: float | None = None
    probe: bool = False
    extra: Mapping[str, float] = field(default_factory=dict)
    id: str = ""
    """A stable identifier: kind and key (filled in when left empty)."""

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", self.kind + ":" + "/".join(self.key))


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetFrame:
    """One refresh: the ranked units, what the fleet exports, and what went wrong.

    ``errors`` are whole sentences for the error row (Prometheus down, slow,
    partial); when a refresh fails the last good units are kept with
    ``stale=True``. ``queries`` counts the HTTP requests this refresh made;
    ``server_seconds`` is their evaluation time inside Prometheus.
    """

    at: float
    prometheus: str
    units: tuple[FleetUnit, ...] = ()
    families: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    partial: bool = False
    stale: bool = False
    queries: int = 0
    server_seconds: float | None = None
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """No error this refresh."""
        return not self.errors


def unit_json(u: FleetUnit) -> dict[str, Any]:
    """A unit as strict JSON (no NaN or infinity: unknown is ``null``)."""

    def num(v: float | None) -> float | None:
        if v is None or v != v or v in (float("inf"), float("-inf")):
            return None
        return round(v, 3)

    return {
        "kind": u.kind,
        "name": u.name,
        "labels": dict(u.labels),
        "used_bytes": num(u.used_bytes),
        "used_kind": u.used_kind,
        "limit_bytes": num(u.limit_bytes),
        "limit_source": u.limit_source,
        "percent": num(u.percent),
        "growth_bytes_per_min": num(u.growth_bytes_per_min),
        "oom_eta_seconds": num(u.oom_eta_seconds),
        "oom_kills_1h": u.oom_kills_1h,
        "oom_kills_15m": u.oom_kills_15m,
        "level": u.level.label,
        "share_percent": num(u.share),
        "memdash_probe": u.probe,
        "extra": {k: num(v) for k, v in u.extra.items()},
    }


def frame_json(f: FleetFrame) -> dict[str, Any]:
    """A frame as the document ``memdash fleet --json`` prints."""
    return {
        "schema": 1,
        "prometheus": f.prometheus,
        "time": f.at,
        "families": list(f.families),
        "columns": list(f.columns),
        "errors": list(f.errors),
        "partial": f.partial,
        "queries": f.queries,
        "server_seconds": None if f.server_seconds is None else round(f.server_seconds, 6),
        "units": [unit_json(u) for u in f.units],
    }
