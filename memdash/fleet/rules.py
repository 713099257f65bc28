"""``memdash rules``: Prometheus recording and alerting rules for the judgments
the fleet view makes, with the user's thresholds, so the pager and the
terminal agree.

Alerts (``severity`` warning or critical):

==============================  ===========================================================
``MemdashMemoryCritical``       working set at or over ``critical`` percent of the limit
``MemdashOomWithinWarning``     ``predict_linear`` crosses the limit within ``oom_eta_warning``
``MemdashOomWithinCritical``    ... within ``oom_eta_critical``
``MemdashOomKilled``            any OOM kill in the last 10 minutes
``MemdashGcUncollectable``      uncollectable objects still growing over 30 minutes
``MemdashCacheHitRateCollapsed`` a cache's hit rate under 40 % now, 70 % or more over the hour
==============================  ===========================================================

Each covers containers (cAdvisor), memdash probes (their cgroup) and, where
it applies, hosts (node_exporter). The output is YAML for ``rule_files``;
``promtool check rules`` accepts it (the test suite checks that).
"""

from __future__ import annotations

import json
from typing import Any

from memdash.fleet import queries as q
from memdash.levels import Thresholds
from memdash.units import human_duration


def _duration(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    if s and s % 3600 == 0:
        return f"{s // 3600}h"
    if s and s % 60 == 0:
        return f"{s // 60}m"
    return f"{s}s"


def _pairs(sel: q.Selectors) -> list[tuple[str, str, str, str]]:
    """(what, used series, limit series, labels that name a unit) for each kind with a limit."""
    cf = q.CONTAINER_FILTER
    return [
        ("container", sel(q.CONTAINER_WS, *cf), f"({sel(q.CONTAINER_LIMIT, *cf)} > 0)",
         "{{ $labels.namespace }}/{{ $labels.pod }}/{{ $labels.container }}"),
        ("service", sel(q.PROBE_WS), f"({sel(q.PROBE_LIMIT)} > 0)", "{{ $labels.job }} {{ $labels.instance }}"),
    ]


def build_rules(thresholds: Thresholds = Thresholds(), *, selector: str | None = None, hold: float = 300.0,
                window: str = q.WINDOW) -> dict[str, Any]:
    """The rule groups as a mapping (what :func:`render_rules` writes as YAML).

    ``hold`` is each alert's ``for:`` (seconds); the ETA alerts only look at
    series at least ``thresholds.eta_min_span`` old, as the fleet view does.
    """
    sel = q.Selectors(q.parse_selector(selector))
    crit = thresholds.critical / 100.0
    aged = thresholds.eta_min_span
    hold_s = _duration(hold)
    records: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    for kind, used, limit, name in _pairs(sel):
        records += [
            {"record": f"memdash:{kind}_memory_working_set:ratio", "expr": f"{used}\n/ {limit}"},
            {"record": f"memdash:{kind}_memory_working_set:deriv{window}", "expr": f"deriv({used}[{window}])"},
            {"record": f"memdash:{kind}_oom_eta:seconds",
             "expr": f"({limit} - {used})\n/ (deriv({used}[{window}]) > 0)"},
        ]
        alerts.append({
            "alert": "MemdashMemoryCritical",
            "expr": f"{used}\n/ {limit}\n>= {crit:g}",
            "for": hold_s,
            "labels": {"severity": "critical", "memdash_kind": kind},
            "annotations": {
                "summary": f"{name}: working set at {{{{ $value | humanizePercentage }}}} of its limit",
                "description": f"memdash: over the critical threshold ({thresholds.critical:g} %) for {hold_s}.",
            },
        })
        for severity, eta in (("warning", thresholds.oom_eta_warning), ("critical", thresholds.oom_eta_critical)):
            filt = f"\nand {used} offset {q.promql_duration(aged)}" if aged > 0 else ""
            alerts.append({
                "alert": f"MemdashOomWithin{severity.capitalize()}",
                "expr": f"predict_linear({used}[{window}], {int(eta)})\n> {limit}{filt}",
                "for": hold_s,
                "labels": {"severity": severity, "memdash_kind": kind},
                "annotations": {
                    "summary": f"{name}: out of memory within {human_duration(eta)} at this growth",
                    "description": f"memdash: predict_linear over {window} crosses the memory limit within {human_duration(eta)}.",
                },
            })
    records.append({"record": "memdash:node_memory_used:ratio",
                    "expr": f"1 - {sel(q.NODE_AVAILABLE)}\n/ {sel(q.NODE_TOTAL)}"})
    alerts.append({
        "alert": "MemdashMemoryCritical",
        "expr": f"1 - {sel(q.NODE_AVAILABLE)}\n/ {sel(q.NODE_TOTAL)}\n>= {crit:g}",
        "for": hold_s,
        "labels": {"severity": "critical", "memdash_kind": "host"},
        "annotations": {"summary": "{{ $labels.instance }}: memory used at {{ $value | humanizePercentage }}",
                        "description": f"memdash: over the critical threshold ({thresholds.critical:g} %) for {hold_s}."},
    })
    for kind, family, severity, name in (
        ("container", sel(q.CONTAINER_OOM, *q.CONTAINER_FILTER), "critical",
         "{{ $labels.namespace }}/{{ $labels.pod }}/{{ $labels.container }}"),
        ("service", sel(q.PROBE_OOM), "critical", "{{ $labels.job }} {{ $labels.instance }}"),
        ("host", sel(q.NODE_OOM), "warning", "{{ $labels.instance }}"),
    ):
        alerts.append({
            "alert": "MemdashOomKilled",
            "expr": f"increase({family}[10m]) > 0",
            "labels": {"severity": severity, "memdash_kind": kind},
            "annotations": {"summary": f"{name}: the kernel OOM-killed a process in the last 10 minutes"},
        })
    by = "by (job, instance)"
    alerts.append({
        "alert": "MemdashGcUncollectable",
        "expr": f"sum {by} (increase({sel(q.GC_UNCOLLECTABLE)}[30m])) > 0",
        "for": "15m",
        "labels": {"severity": "warning", "memdash_kind": "service"},
        "annotations": {"summary": "{{ $labels.job }} {{ $labels.instance }}: gc finds uncollectable objects, still growing",
                        "description": "memdash: python_gc_objects_uncollectable_total keeps rising (objects in gc.garbage)."},
    })
    cby = "by (job, instance, cache)"
    hits, misses = sel(q.CACHE_HITS), sel(q.CACHE_MISSES)

    def ratio(r: str) -> str:
        h = f"sum {cby} (rate({hits}[{r}]))"
        return f"{h}\n/ ({h} + sum {cby} (rate({misses}[{r}])))"

    records.append({"record": "memdash:cache_hit:ratio5m", "expr": ratio("5m")})
    alerts.append({
        "alert": "MemdashCacheHitRateCollapsed",
        "expr": (f"({ratio('5m')}) < 0.4\nand ({ratio('1h')}) >= 0.7\n"
                 f"and (sum {cby} (rate({hits}[5m])) + sum {cby} (rate({misses}[5m]))) > 0.33"),
        "for": hold_s,
        "labels": {"severity": "warning", "memdash_kind": "service"},
        "annotations": {"summary": "{{ $labels.job }} {{ $labels.instance }}: cache {{ $labels.cache }} hit rate fell to {{ $value | humanizePercentage }}",
                        "description": "memdash: under 40 % over 5 minutes after 70 % or more over the hour."},
    })
    return {"groups": [{"name": "memdash.recording", "rules": records},
                       {"name": "memdash.alerts", "rules": alerts}]}


def _scalar(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value)


def _emit(lines: list[str], key: str, value: Any, indent: str) -> None:
    if isinstance(value, dict):
        lines.append(f"{indent}{key}:")
        for k, v in value.items():
            _emit(lines, k, v, indent + "  ")
    elif isinstance(value, str) and "\n" in value:
        lines.append(f"{indent}{key}: |-")
        lines.extend(f"{indent}  {line}" for line in value.splitlines())
    else:
        lines.append(f"{indent}{key}: {_scalar(value)}")


def render_rules(rules: dict[str, Any]) -> str:
    """``rules`` as a Prometheus rule file (YAML; strings JSON-quoted, PromQL as block text)."""
    lines = ["# Generated by `memdash rules`: the fleet view's judgments as Prometheus rules.", "groups:"]
    for group in rules["groups"]:
        lines.append(f"  - name: {_scalar(group['name'])}")
        lines.append("    rules:")
        for rule in group["rules"]:
            first = True
            for k, v in rule.items():
                if first:
                    start = len(lines)
                    _emit(lines, k, v, "        ")
                    lines[start] = "      - " + lines[start].lstrip()
                    first = False
                else:
                    _emit(lines, k, v, "        ")
    return "\n".join(lines) + "\n"
