"""From query answers to ranked units: joins, levels, time to OOM, shares.

Columns arrive as tagged samples (see :mod:`memdash.fleet.queries`); here they
are joined by each kind's key labels into :class:`~memdash.fleet.model.FleetUnit`
rows, judged with the same :class:`~memdash.levels.Thresholds` as local
services (percent and time to OOM), and sorted worst first.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

from memdash.fleet.model import FleetUnit, printable
from memdash.fleet.promapi import Sample
from memdash.fleet.queries import COLUMN_LABEL
from memdash.levels import Level, Thresholds

Key = tuple[str, ...]
Row = tuple[dict[str, str], dict[str, float]]

#: Labels kept on a row for display and drill-down (the rest is noise: id, image...).
CONTAINER_LABELS = ("namespace", "pod", "container", "name", "instance", "job", "node")
SERVICE_LABELS = ("job", "instance")
HOST_LABELS = ("job", "instance")


def container_key(labels: Mapping[str, str]) -> Key | None:
    """A container's key: namespace/pod/container on Kubernetes, else instance and name (or cgroup id).

    ``None`` for rows that are not one container: a pod's own cgroup or its
    pause container (a pod label with no container name).
    """
    pod = labels.get("pod") or labels.get("pod_name")
    if pod:
        container = labels.get("container") or labels.get("container_name") or ""
        if not container or container == "POD":
            return None
        return (labels.get("namespace", ""), pod, container)
    name = labels.get("name") or labels.get("id")
    if not name:
        return None
    return (labels.get("instance", ""), name)


def job_instance(labels: Mapping[str, str]) -> Key | None:
    """The key of services and hosts: ``(job, instance)``."""
    return (labels.get("job", ""), labels.get("instance", ""))


def join(samples: Iterable[Sample], key: Callable[[Mapping[str, str]], Key | None],
         keep: tuple[str, ...]) -> dict[Key, Row]:
    """Tagged samples joined into rows: ``{key: (labels kept, {column: value})}``.

    Two series with one key and column (the same container scraped twice)
    keep the larger value: the worse figure is the one to rank by.
    """
    rows: dict[Key, Row] = {}
    for labels, value in samples:
        col = labels.get(COLUMN_LABEL)
        if not col:
            continue
        k = key(labels)
        if k is None:
            continue
        row = rows.get(k)
        if row is None:
            rows[k] = ({n: labels[n] for n in keep if labels.get(n)}, {col: value})
            continue
        kept = row[0]
        if len(kept) < len(keep):
            for n in keep:
                if n not in kept and labels.get(n):
                    kept[n] = labels[n]
        cols = row[1]
        if col not in cols or value > cols[col]:
            cols[col] = value
    return rows


#: The columns :class:`LimitCache` keeps between refreshes.
LIMIT_COLUMNS = ("limit", "klimit")


class LimitCache:
    """Limit columns by row key, kept between refreshes.

    Limits change rarely, so the source asks for them once a minute (and at
    the next refresh after a row appears that the cache has not seen) and fills
    the refreshes between from here: a third less for a big fleet to send.
    """

    def __init__(self) -> None:
        self.values: dict[Key, dict[str, float]] = {}
        #: A row came that the cache has never seen: ask for limits next time.
        self.missing = False

    def merge(self, rows: dict[Key, Row], fresh: bool) -> None:
        """Take the limits of ``rows`` (``fresh``: this answer carried them) or fill them in."""
        if fresh:
            self.values = {k: {c: cols[c] for c in LIMIT_COLUMNS if c in cols} for k, (_, cols) in rows.items()}
            self.missing = False
            return
        for k, (_, cols) in rows.items():
            known = self.values.get(k)
            if known is None:
                self.missing = True
            else:
                for c, v in known.items():
                    cols.setdefault(c, v)


def _kills(value: float | None) -> int | None:
    # increase() extrapolates to the window's edges: 1 kill reads 0.9-1.1.
    if value is None:
        return None
    return 0 if value < 0.25 else max(1, int(round(value)))


def eta_seconds(used: float | None, limit: float | None, growth_per_second: float | None) -> float | None:
    """When ``used`` reaches ``limit`` at this growth, seconds from now; ``None`` if not growing.

    This is where ``predict_linear(used[30m], t)`` crosses the limit (0 when
    already there).
    """
    if used is None or limit is None or growth_per_second is None or growth_per_second <= 0:
        return None
    return max(0.0, (limit - used) / growth_per_second)


def judge(thresholds: Thresholds, percent: float | None, eta: float | None,
          kills_1h: int | None, kills_15m: int | None, *, host: bool = False) -> Level:
    """The level: percent and time to OOM as for local services, then OOM kills.

    A unit the kernel OOM-killed in the last 15 minutes is critical, in the
    last hour at least a warning; a host's kill counter (any process on it)
    makes the host a warning.
    """
    level = thresholds.classify_with_eta(percent, eta)
    if host:
        if kills_1h:
            level = max(level, Level.WARNING)
        return level
    if kills_15m:
        return Level.CRITICAL
    if kills_1h:
        level = max(level, Level.WARNING)
    return level


def _unit(kind: str, key: Key, name: str, labels: dict[str, str], used: float | None, used_kind: str,
          limit: float | None, limit_source: str | None, slope: float | None, cols: dict[str, float],
          thresholds: Thresholds, *, probe: bool = False, extra: dict[str, float] | None = None,
          total: float = 0.0, oom_known: bool = False) -> FleetUnit:
    percent = 100.0 * used / limit if used is not None and limit else None
    eta = eta_seconds(used, limit, slope)
    # The OOM columns come back only where above zero: absent is 0 when the family exists.
    none = 0.0 if oom_known else None
    k1, k15 = _kills(cols.get("oom", none)), _kills(cols.get("oom15", none))
    return FleetUnit(
        # Label names are [a-zA-Z_][a-zA-Z0-9_]* by Prometheus's rules; values are anyone's text.
        kind=kind, key=key, name=printable(name),
        labels={k: v if v.isprintable() and len(v) <= 200 else printable(v) for k, v in labels.items()},
        used_bytes=used, used_kind=used_kind, limit_bytes=limit, limit_source=limit_source, percent=percent,
        growth_bytes_per_min=None if slope is None else slope * 60.0, oom_eta_seconds=eta,
        oom_kills_1h=k1, oom_kills_15m=k15, level=judge(thresholds, percent, eta, k1, k15, host=kind == "host"),
        probe=probe, extra=extra or {}, share=100.0 * (used or 0.0) / total if total else None,
    )


def containers(samples: Iterable[Sample], thresholds: Thresholds, *, oom_known: bool = False,
               limits: LimitCache | None = None, fresh: bool = True) -> list[FleetUnit]:
    """Container rows: working set against the cAdvisor limit, else kube-state-metrics'."""
    out = []
    rows = join(samples, container_key, CONTAINER_LABELS)
    if limits is not None:
        limits.merge(rows, fresh)
    total = sum(cols.get("used", 0.0) for _, cols in rows.values())
    for key, (labels, cols) in rows.items():
        if "used" not in cols:
            continue  # a limit from kube-state-metrics for a container cAdvisor does not see
        limit: float | None
        source: str | None
        if "limit" in cols:
            limit, source = cols["limit"], "spec"
        elif cols.get("klimit"):
            limit, source = cols["klimit"], "kube-state-metrics"
        else:
            limit, source = None, None
        name = "/".join(key[:3]) if len(key) == 3 else key[-1]
        out.append(_unit("container", key, name, labels, cols["used"], "working set", limit, source,
                         cols.get("slope"), cols, thresholds, total=total, oom_known=oom_known))
    return out


def host_part(instance: str) -> str:
    """``'10.0.0.5:9100' -> '10.0.0.5'``, ``'[::1]:9100' -> '::1'``."""
    if instance.startswith("["):
        return instance[1:].split("]", 1)[0]
    return instance.rsplit(":", 1)[0] if instance.count(":") == 1 else instance


def services(samples: Iterable[Sample], thresholds: Thresholds,
             host_ram: Mapping[str, float] | None = None, *, oom_known: bool = False,
             limits: LimitCache | None = None, fresh: bool = True) -> list[FleetUnit]:
    """Service rows per (job, instance): a probe's cgroup working set against its limit,
    else RSS against the RAM of the host at the same address (when node_exporter runs there)."""
    out = []
    host_ram = host_ram or {}
    rows = join(samples, job_instance, SERVICE_LABELS)
    if limits is not None:
        limits.merge(rows, fresh)
    total = sum(cols.get("ws", cols.get("rss", 0.0)) for _, cols in rows.values())
    for key, (labels, cols) in rows.items():
        if "ws" in cols:
            used, used_kind, slope = cols["ws"], "working set", cols.get("ws_slope")
        elif "rss" in cols:
            used, used_kind, slope = cols["rss"], "RSS", cols.get("rss_slope")
        else:
            continue
        limit: float | None
        source: str | None
        if cols.get("limit"):
            limit, source = cols["limit"], "cgroup"
        else:
            limit = host_ram.get(host_part(labels.get("instance", "")))
            source = "host RAM" if limit else None
        extra: dict[str, float] = {k: cols[k] for k in ("rss", "gc_uncollectable", "hit_ratio") if k in cols}
        name = f"{labels.get('job', '')} {labels.get('instance', '')}".strip()
        out.append(_unit("service", key, name, labels, used, used_kind, limit, source, slope, cols, thresholds,
                         probe="probe" in cols or "ws" in cols, extra=extra, total=total,
                         oom_known=oom_known and ("ws" in cols or "limit" in cols)))
    return out


def hosts(samples: Iterable[Sample], thresholds: Thresholds, *, oom_known: bool = False,
          limits: LimitCache | None = None, fresh: bool = True) -> list[FleetUnit]:
    """Host rows: MemTotal less MemAvailable against MemTotal."""
    out = []
    rows = join(samples, job_instance, HOST_LABELS)
    if limits is not None:
        limits.merge(rows, fresh)
    used_all = sum(c["limit"] - c["available"] for _, c in rows.values() if "limit" in c and "available" in c)
    for key, (labels, cols) in rows.items():
        total, avail = cols.get("limit"), cols.get("available")
        if total is None or avail is None:
            continue
        extra: dict[str, float] = {k: cols[k] for k in ("available", "psi_some", "psi_full") if k in cols}
        out.append(_unit("host", key, labels.get("instance", ""), labels, total - avail, "used", total, "MemTotal",
                         cols.get("slope"), cols, thresholds, extra=extra, total=used_all, oom_known=oom_known))
    return out


def host_ram_by_address(units: Iterable[FleetUnit]) -> dict[str, float]:
    """MemTotal of each host, keyed by the address part of its instance."""
    return {host_part(u.labels.get("instance", "")): u.limit_bytes for u in units
            if u.kind == "host" and u.limit_bytes}


def rank(units: Iterable[FleetUnit]) -> list[FleetUnit]:
    """Worst first: level, then soonest OOM, then percent of limit, then size."""
    inf = float("inf")
    return sorted(units, key=lambda u: (-int(u.level), u.oom_eta_seconds if u.oom_eta_seconds is not None else inf,
                                        -(u.percent if u.percent is not None else -1.0), -(u.used_bytes or 0.0), u.id))
