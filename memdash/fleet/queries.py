"""The metric families the fleet view reads, and the PromQL behind each column.

One instant query per *unit kind* per refresh, however many rows: each
column is one sub-expression, tagged with a ``memdash_col`` label by
``label_replace`` and joined with ``or`` (the tags differ, so nothing is
dropped). memdash joins the columns into rows itself, by the kind's key labels,
so a limit from another exporter (kube-state-metrics) joins as easily as one
from the same page. Only families that exist (learned once a minute from
``/api/v1/label/__name__/values``) are asked for, so a fleet without, say,
``container_oom_events_total`` gets no OOM column instead of an empty one.

Limits (``limit``, ``klimit``, MemTotal) change rarely: the source asks for
them once a minute, and when a row appears it has not seen, and fills the
refreshes between from its cache (``limits=False`` leaves them out).

Rare columns (OOM kills, memory pressure) come back only for rows where they
are above zero (``> 0``): a missing value means 0 when the family exists, and a
fleet of thousands does not send thousands of zeros every refresh.

Growth is ``deriv(...[30m])`` (a least-squares slope, robust to one GC drop),
and only for series that already existed ``eta_min_span`` ago (``and ...
offset``): a young series has no slope worth projecting. Time to OOM is then
``(limit - used) / slope``: when ``predict_linear`` would cross the limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

#: The window of the slope behind growth and time to OOM.
WINDOW = "30m"

#: The tag that names each sub-expression's column in a combined answer.
COLUMN_LABEL = "memdash_col"

# -- families ----------------------------------------------------------------

CONTAINER_WS = "container_memory_working_set_bytes"
CONTAINER_LIMIT = "container_spec_memory_limit_bytes"
CONTAINER_OOM = "container_oom_events_total"
KSM_LIMIT = "kube_pod_container_resource_limits"
KSM_LIMIT_OLD = "kube_pod_container_resource_limits_memory_bytes"

PROCESS_RSS = "process_resident_memory_bytes"
PROBE_WS = "memdash_memory_working_set_bytes"
PROBE_LIMIT = "memdash_memory_limit_bytes"
PROBE_OOM = "memdash_memory_oom_kills_total"
PROBE_MARK = "memdash_gc_garbage_objects"
GC_UNCOLLECTABLE = "python_gc_objects_uncollectable_total"
CACHE_HITS = "memdash_cache_hits_total"
CACHE_MISSES = "memdash_cache_misses_total"

NODE_AVAILABLE = "node_memory_MemAvailable_bytes"
NODE_TOTAL = "node_memory_MemTotal_bytes"
NODE_OOM = "node_vmstat_oom_kill"
NODE_PSI_SOME = "node_pressure_memory_waiting_seconds_total"
NODE_PSI_FULL = "node_pressure_memory_stalled_seconds_total"

#: Every family the fleet view can use, by unit kind. The first of each kind
#: is required: without it the kind has no rows.
FAMILIES: dict[str, tuple[str, ...]] = {
    "container": (CONTAINER_WS, CONTAINER_LIMIT, CONTAINER_OOM, KSM_LIMIT, KSM_LIMIT_OLD),
    "service": (PROCESS_RSS, PROBE_WS, PROBE_LIMIT, PROBE_OOM, PROBE_MARK, GC_UNCOLLECTABLE, CACHE_HITS, CACHE_MISSES),
    "host": (NODE_AVAILABLE, NODE_TOTAL, NODE_OOM, NODE_PSI_SOME, NODE_PSI_FULL),
}
ALL_FAMILIES: tuple[str, ...] = tuple(name for names in FAMILIES.values() for name in names)

#: The labels that name one unit of each kind (containers: see ``container_key``).
SERVICE_BY = ("job", "instance")
HOST_BY = ("job", "instance")


class SelectorError(ValueError):
    """A ``selector`` that is not a ``{label="value", ...}`` matcher list."""


_MATCHER = re.compile(r'\s*[A-Za-z_][A-Za-z0-9_]*\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*')


def parse_selector(selector: str | None) -> str:
    """The matchers inside ``{...}``, checked, without the braces (``""`` for none).

    >>> parse_selector('{env="prod", team=~"a|b"}')
    'env="prod", team=~"a|b"'
    """
    if selector is None:
        return ""
    text = selector.strip()
    if not text:
        return ""
    if not (text.startswith("{") and text.endswith("}")):
        raise SelectorError(f'must look like {{env="prod"}}, got {selector!r}')
    inner = text[1:-1].strip().rstrip(",")
    if not inner:
        return ""
    rest = inner
    while rest:
        m = _MATCHER.match(rest)
        if m is None:
            raise SelectorError(f'must be label matchers such as {{env="prod"}}, got {selector!r}')
        rest = rest[m.end():]
        if rest.startswith(","):
            rest = rest[1:]
        elif rest.strip():
            raise SelectorError(f'matchers must be separated by commas, got {selector!r}')
    return inner


def promql_duration(seconds: float) -> str:
    """``90 -> '90s'``: whole seconds, at least 1."""
    return f"{max(1, int(round(seconds)))}s"


@dataclass(frozen=True, slots=True)
class Selectors:
    """Builds series selectors with the user's matchers added to each."""

    matchers: str = ""

    def __call__(self, metric: str, *extra: str) -> str:
        parts = [p for p in (self.matchers, *extra) if p]
        return f"{metric}{{{', '.join(parts)}}}" if parts else metric


def _tag(expr: str, column: str) -> str:
    return f'label_replace({expr}, "{COLUMN_LABEL}", "{column}", "", "")'


def _combine(columns: list[tuple[str, str]]) -> str:
    return "\n or ".join(_tag(expr, col) for col, expr in columns)


def _aged(series: str, min_span: float) -> str:
    """``series`` only where it already had a sample ``min_span`` ago (as an ``and`` filter)."""
    if min_span <= 0:
        return ""
    return f" and {series} offset {promql_duration(min_span)}"


CONTAINER_FILTER = ('image!=""', 'container!="POD"')
#: What a container row keeps. ``max by`` these drops ``id``, ``image`` and (on
#: Kubernetes) ``name``, long labels that would double what a big fleet sends
#: every refresh; containers outside Kubernetes (no ``pod``) keep their ``name``.
K8S_BY = "by (namespace, pod, container, instance)"
OTHER_BY = "by (name, instance)"


def _per_container(make: Callable[[tuple[str, ...]], str], agg: str = "max", cond: str = "") -> str:
    """``make(filters)`` aggregated per container, on Kubernetes and off it."""
    on_k8s, off_k8s = make(CONTAINER_FILTER + ('pod!=""',)), make(CONTAINER_FILTER + ('pod=""',))
    return f"({agg} {K8S_BY} ({on_k8s}){cond} or {agg} {OTHER_BY} ({off_k8s}){cond})"


def container_query(found: set[str], sel: Selectors, min_span: float, limits: bool = True) -> str | None:
    """Columns ``used``, ``slope``, ``limit``, ``klimit`` (with ``limits``), ``oom``, ``oom15`` for containers."""
    if CONTAINER_WS not in found:
        return None

    def ws(f: tuple[str, ...]) -> str:
        return sel(CONTAINER_WS, *f)

    cols = [("used", _per_container(ws)),
            ("slope", _per_container(lambda f: f"deriv({ws(f)}[{WINDOW}]){_aged(ws(f), min_span)}"))]
    if limits and CONTAINER_LIMIT in found:
        cols.append(("limit", _per_container(lambda f: f"{sel(CONTAINER_LIMIT, *f)} > 0")))
    ksm = "by (namespace, pod, container)"
    if not limits:
        pass
    elif KSM_LIMIT in found:
        memory = sel(KSM_LIMIT, 'resource="memory"')
        cols.append(("klimit", f"max {ksm} ({memory})"))
    elif KSM_LIMIT_OLD in found:
        cols.append(("klimit", f"max {ksm} ({sel(KSM_LIMIT_OLD)})"))
    if CONTAINER_OOM in found:
        cols.append(("oom", _per_container(lambda f: f"increase({sel(CONTAINER_OOM, *f)}[1h])", cond=" > 0")))
        cols.append(("oom15", _per_container(lambda f: f"increase({sel(CONTAINER_OOM, *f)}[15m])", cond=" > 0")))
    return _combine(cols)


def service_query(found: set[str], sel: Selectors, min_span: float, limits: bool = True) -> str | None:
    """Columns for services scraped directly, one row per (job, instance)."""
    if PROCESS_RSS not in found:
        return None
    by = f"by ({', '.join(SERVICE_BY)})"
    rss = sel(PROCESS_RSS)
    # RSS only for services without a probe's working set: a probe's row is judged by the latter.
    unless = f" unless on ({', '.join(SERVICE_BY)}) {sel(PROBE_WS)}" if PROBE_WS in found else ""
    cols = [("rss", f"sum {by} ({rss}){unless}"),
            ("rss_slope", f"sum {by} (deriv({rss}[{WINDOW}]){_aged(rss, min_span)}){unless}")]
    if PROBE_WS in found:
        ws = sel(PROBE_WS)
        cols.append(("ws", f"max {by} ({ws})"))
        cols.append(("ws_slope", f"max {by} (deriv({ws}[{WINDOW}]){_aged(ws, min_span)})"))
    if limits and PROBE_LIMIT in found:
        cols.append(("limit", f"max {by} ({sel(PROBE_LIMIT)})"))
    if PROBE_OOM in found:
        cols.append(("oom", f"max {by} (increase({sel(PROBE_OOM)}[1h])) > 0"))
        cols.append(("oom15", f"max {by} (increase({sel(PROBE_OOM)}[15m])) > 0"))
    if PROBE_MARK in found:  # a row with a probe's working set is a probe already
        cols.append(("probe", f"count {by} ({sel(PROBE_MARK)}){unless}"))
    if GC_UNCOLLECTABLE in found:
        cols.append(("gc_uncollectable", f"sum {by} (increase({sel(GC_UNCOLLECTABLE)}[10m]))"))
    if CACHE_HITS in found and CACHE_MISSES in found:
        hits = f"sum {by} (rate({sel(CACHE_HITS)}[5m]))"
        misses = f"sum {by} (rate({sel(CACHE_MISSES)}[5m]))"
        cols.append(("hit_ratio", f"{hits} / ({hits} + {misses})"))
    return _combine(cols)


def host_query(found: set[str], sel: Selectors, min_span: float, limits: bool = True) -> str | None:
    """Columns for hosts (node_exporter), one row per (job, instance)."""
    if NODE_AVAILABLE not in found or NODE_TOTAL not in found:
        return None
    avail, total = sel(NODE_AVAILABLE), sel(NODE_TOTAL)
    by = f"by ({', '.join(HOST_BY)})"
    cols = [("limit", f"max {by} ({total})")] if limits else []
    cols += [("available", f"max {by} ({avail})"),
            ("slope", f"max {by} (-deriv({avail}[{WINDOW}]){_aged(avail, min_span)})")]
    if NODE_OOM in found:
        cols.append(("oom", f"max {by} (increase({sel(NODE_OOM)}[1h])) > 0"))
        cols.append(("oom15", f"max {by} (increase({sel(NODE_OOM)}[15m])) > 0"))
    if NODE_PSI_SOME in found:
        cols.append(("psi_some", f"max {by} (rate({sel(NODE_PSI_SOME)}[5m])) > 0"))
    if NODE_PSI_FULL in found:
        cols.append(("psi_full", f"max {by} (rate({sel(NODE_PSI_FULL)}[5m])) > 0"))
    return _combine(cols)


QUERIES = {"container": container_query, "service": service_query, "host": host_query}


def discovery_matchers(sel: Selectors) -> list[str]:
    """One ``match[]`` that selects every family the view can use (names only are asked for)."""
    names = "|".join(ALL_FAMILIES)
    extra = f', {sel.matchers}' if sel.matchers else ""
    return [f'{{__name__=~"{names}"{extra}}}']


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def exact(labels: dict[str, str], names: tuple[str, ...]) -> str:
    """Equality matchers for ``names`` taken from ``labels`` (``job="api", instance="h:1"``)."""
    return ", ".join(f"{n}={_quote(labels.get(n, ''))}" for n in names)
