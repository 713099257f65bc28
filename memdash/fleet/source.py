"""The fleet source: asks Prometheus, builds a ranked :class:`FleetFrame`.

Bounded by design: each refresh sends one instant query per unit kind whose
families exist (three at most; limits only once a minute, cached between),
plus one names-only discovery request a minute;
a caller refreshes every ``interval`` seconds (5 by default, 1 at the least).
Every request has a deadline. A kind whose query fails keeps its last good rows,
marked stale, and the frame carries the error as a sentence. Knows nothing of
Textual; the screen and ``--json`` both use it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Mapping

from memdash.fleet import queries as q
from memdash.fleet import ranking
from memdash.fleet.model import FleetFrame, FleetUnit, printable
from memdash.fleet.promapi import PromClient, PromError
from memdash.levels import Thresholds

#: How often the set of families is learned again, seconds.
DISCOVERY_SECONDS = 60.0
#: How often limits are asked for again (between, they come from a cache), seconds.
LIMITS_SECONDS = 60.0
#: Siblings drawn beside a unit in the drill-down.
MAX_SIBLINGS = 8
#: The ranges the drill-down offers, seconds.
RANGES = (3600, 6 * 3600, 24 * 3600)


@dataclass(frozen=True, slots=True)
class HistoryView:
    """A unit's history and its siblings' over one range, for the drill-down.

    ``points`` are ``(unix seconds, bytes)``; ``siblings`` are other instances
    of the same job, containers of the same pod, or hosts of the same job.
    """

    unit: FleetUnit
    seconds: int
    step: float
    points: tuple[tuple[float, float], ...]
    siblings: tuple[tuple[str, tuple[tuple[float, float], ...]], ...]
    error: str | None = None


class FleetSource:
    """Ranks a fleet's containers, services and hosts from one Prometheus.

    Args:
        client: the API client (owned: :meth:`close` closes it).
        thresholds: levels and time-to-OOM limits, as for local services.
        selector: ``{label="value"}`` matchers added to every series.
        clock: wall-clock seconds (tests may pass their own).
    """

    def __init__(self, client: PromClient, *, thresholds: Thresholds = Thresholds(), selector: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.thresholds = thresholds
        self.sel = q.Selectors(q.parse_selector(selector))
        self.clock = clock
        self.families: frozenset[str] | None = None
        self._discovered_at = -1e18
        self._last: dict[str, list[FleetUnit]] = {}
        self._limits = {kind: ranking.LimitCache() for kind in q.QUERIES}
        self._limits_at: dict[str, float] = {}
        # The kinds' queries go out side by side: Prometheus evaluates them in
        # parallel, so a refresh waits for the slowest, not for the sum.
        self._pool = ThreadPoolExecutor(max_workers=len(q.QUERIES), thread_name_prefix="memdash-fleet")

    def close(self) -> None:
        """Close the client's connections and the query threads."""
        self._pool.shutdown(wait=True)
        self.client.close()

    # -- ranking -----------------------------------------------------------------

    def discover(self) -> frozenset[str]:
        """Learn which families exist (names only, over the last hour)."""
        names = self.client.metric_names(q.discovery_matchers(self.sel), start=self.clock() - 3600)
        families = frozenset(n for n in names if n in q.ALL_FAMILIES)
        if families != self.families:
            self._limits_at.clear()  # a limit family may have come or gone
        self.families = families
        self._discovered_at = time.monotonic()
        return self.families

    def refresh(self) -> FleetFrame:
        """One refresh: a ranked frame, never an exception (errors are in the frame)."""
        stats = self.client.stats
        requests0, server0, wall0 = stats.requests, stats.server_seconds, stats.wall_seconds
        now = self.clock()
        errors: list[str] = []
        partial = False
        stale = False
        discovery_failed = False
        if self.families is None or time.monotonic() - self._discovered_at > DISCOVERY_SECONDS:
            try:
                self.discover()
            except Exception as exc:  # noqa: BLE001 - a refresh reports, never raises
                errors.append(_sentence(exc))
                discovery_failed = True
        found = set(self.families or ())
        units: list[FleetUnit] = []
        if self.families is None or discovery_failed:  # Prometheus is not answering: no more requests now
            stale = bool(self._last)
            for kept in self._last.values():
                units.extend(kept)
        else:
            min_span = self.thresholds.eta_min_span
            pending = {}
            fresh: dict[str, bool] = {}
            failed: dict[str, list[str]] = {}  # one sentence for kinds that failed alike
            tick = time.monotonic()
            for kind in ("host", "container", "service"):
                fresh[kind] = (self._limits[kind].missing
                               or tick - self._limits_at.get(kind, -1e18) > LIMITS_SECONDS)
                expr = q.QUERIES[kind](found, self.sel, min_span, fresh[kind])
                if expr is None:
                    self._last.pop(kind, None)
                else:
                    pending[kind] = self._pool.submit(self.client.query, expr)
            for kind, future in pending.items():  # hosts first: services use their RAM
                try:
                    samples, answer = future.result()
                except Exception as exc:  # noqa: BLE001 - a refresh reports, never raises
                    failed.setdefault(_sentence(exc), []).append(f"{kind}s")
                    kept = self._last.get(kind, [])
                    stale = stale or bool(kept)
                    units.extend(kept)
                    continue
                for w in answer.warnings:
                    partial = True
                    errors.append(f"{kind}s: partial answer: {printable(w, 300)}")
                limits, is_fresh = self._limits[kind], fresh[kind]
                if is_fresh:
                    self._limits_at[kind] = tick
                if kind == "host":
                    built = ranking.hosts(samples, self.thresholds, oom_known=q.NODE_OOM in found,
                                          limits=limits, fresh=is_fresh)
                elif kind == "container":
                    built = ranking.containers(samples, self.thresholds, oom_known=q.CONTAINER_OOM in found,
                                               limits=limits, fresh=is_fresh)
                else:
                    built = ranking.services(samples, self.thresholds,
                                             ranking.host_ram_by_address(u for u in units if u.kind == "host"),
                                             oom_known=q.PROBE_OOM in found, limits=limits, fresh=is_fresh)
                self._last[kind] = built
                units.extend(built)
            errors.extend(f"{', '.join(kinds)}: {text}" for text, kinds in failed.items())
        ranked = ranking.rank(units)
        server = stats.server_seconds - server0
        return FleetFrame(
            at=now, prometheus=self.client.base_url, units=tuple(ranked),
            families=tuple(sorted(found)), columns=_columns(ranked, found), errors=tuple(errors),
            partial=partial, stale=stale, queries=stats.requests - requests0,
            server_seconds=server if stats.requests > requests0 else None, wall_seconds=stats.wall_seconds - wall0,
        )

    # -- drill-down -----------------------------------------------------------------

    def history_query(self, unit: FleetUnit) -> tuple[str, Callable[[Mapping[str, str]], str]]:
        """The range query for ``unit`` and its siblings, and how to name each answer series."""
        sel = self.sel
        labels = dict(unit.labels)
        if unit.kind == "container":
            if "pod" in labels:
                match = q.exact(labels, ("namespace", "pod"))
                expr = sel(q.CONTAINER_WS, match, *q.CONTAINER_FILTER)
                return expr, lambda l: "/".join(x for x in (l.get("namespace"), l.get("pod"), l.get("container")) if x)
            expr = sel(q.CONTAINER_WS, q.exact(labels, ("instance",)), *q.CONTAINER_FILTER)
            return expr, lambda l: l.get("name") or l.get("id") or "?"
        if unit.kind == "host":
            match = q.exact(labels, ("job",))
            expr = f"{sel(q.NODE_TOTAL, match)} - {sel(q.NODE_AVAILABLE, match)}"
            return expr, lambda l: l.get("instance", "?")
        match = q.exact(labels, ("job",))
        if unit.used_kind == "working set":
            expr = f"max by (job, instance) ({sel(q.PROBE_WS, match)})"
        else:
            expr = f"sum by (job, instance) ({sel(q.PROCESS_RSS, match)})"
        return expr, lambda l: f"{l.get('job', '')} {l.get('instance', '')}".strip()

    def history(self, unit: FleetUnit, seconds: int, width: int) -> HistoryView:
        """``unit``'s history over ``seconds``, one point per chart column or so, with siblings."""
        step = max(1.0, float(seconds) / max(10, width))
        end = self.clock()
        expr, name_of = self.history_query(unit)
        try:
            series, _ = self.client.query_range(expr, end - seconds, end, step)
        except PromError as exc:
            return HistoryView(unit, seconds, step, (), (), error=printable(str(exc), 400))
        mine: tuple[tuple[float, float], ...] = ()
        siblings: list[tuple[str, tuple[tuple[float, float], ...]]] = []
        for s in series:
            name = printable(name_of(s.labels))
            if name == unit.name and not mine:
                mine = s.points
            elif len(siblings) < MAX_SIBLINGS:
                siblings.append((name, s.points))
        return HistoryView(unit, seconds, step, mine, tuple(siblings))

    def probe_url(self, unit: FleetUnit, mapping: Mapping[str, str] | None = None) -> str | None:
        """Where ``unit``'s memdash probe answers: the config's ``probes`` mapping by
        instance, else the scrape URL Prometheus uses for it, less ``/metrics``.

        ``None`` for units that are not memdash probes or whose target is unknown.
        """
        if unit.kind != "service" or not unit.probe:
            return None
        instance = unit.labels.get("instance", "")
        if mapping and instance in mapping:
            return mapping[instance]
        try:
            targets = self.client.targets()
        except PromError:
            return None
        for t in targets:
            labels = t.get("labels") or {}
            if labels.get("instance") == instance and labels.get("job") == unit.labels.get("job"):
                url = str(t.get("scrapeUrl") or "")
                base = url.split("?", 1)[0]
                if base.endswith("/metrics"):
                    return base[: -len("/metrics")] or None
                return None
        return None


def _sentence(exc: BaseException) -> str:
    """An error as one printable sentence for the error row."""
    text = str(exc) if isinstance(exc, PromError) else f"{type(exc).__name__}: {exc}"
    return printable(text, 400)


def _columns(units: list[FleetUnit], found: set[str]) -> tuple[str, ...]:
    """The columns this fleet exports: limit and time to OOM only with some limit,
    OOM kills only where an OOM family exists."""
    cols = ["used"]
    if any(u.limit_bytes for u in units):
        cols += ["limit", "percent"]
    cols.append("growth")
    if any(u.limit_bytes for u in units):
        cols.append("eta")
    if found & {q.CONTAINER_OOM, q.PROBE_OOM, q.NODE_OOM}:
        cols.append("oom")
    cols += ["level", "share"]
    return tuple(cols)


def open_source(url: str, *, token: str | None = None, verify: bool = True, ca: str | None = None,
                timeout: float = 4.0, thresholds: Thresholds = Thresholds(), selector: str | None = None) -> FleetSource:
    """A :class:`FleetSource` on a new client for ``url``."""
    client = PromClient(url, token=token, verify=verify, ca=ca, timeout=timeout)
    return FleetSource(client, thresholds=thresholds, selector=selector)


__all__ = ["FleetSource", "HistoryView", "open_source", "RANGES"]
