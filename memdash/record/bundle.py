"""``memdash report INCIDENT``: a post-mortem bundle, one directory to attach to a ticket.

::

    summary.md            what was killed, where, when, its memory before, the evidence
    frames.jsonl          the recorded frames (``snapshot --json`` documents) of the
                          30 minutes before the incident and the first one after
    events.json           the events in that window
    working-set.svg       the killed service's working set (and the victim's RSS)
                          against its limit, the kill marked
    target-NAME.svg       RSS of each probe/target attached to that service, with
                          its GC and cache history summarised in summary.md
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from memdash.record.incidents import Incident
from memdash.record.store import RecordedFrame, Store, iso
from memdash.record.svg import HLine, Line, VLine, chart
from memdash.textsafe import printable
from memdash.units import human_bytes, human_duration

WINDOW_SECONDS = 30 * 60
AFTER_SECONDS = 60


def _code(text: Any) -> str:
    """Outside text (process names, paths) as a Markdown code span that cannot break out."""
    s = printable(text).replace("`", "'")
    return f"`{s}`"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60] or "target"


def service_series(frames: Sequence[RecordedFrame], cgroup: str | None) -> dict[str, list[tuple[float, float]]]:
    """Working set, usage and limit of ``cgroup`` over the frames: from the
    snapshot's ``services`` where the frame has them, else from the recorder's
    cgroup readings."""
    out: dict[str, list[tuple[float, float]]] = {"working_set": [], "usage": [], "limit": []}
    if not cgroup:
        return out
    want = cgroup.rstrip("/")
    for f in frames:
        row = None
        for s in f.snapshot.get("services", ()) or ():
            if isinstance(s, dict) and str(s.get("cgroup") or "").rstrip("/") == want:
                row = s
                break
        if row is None:
            for c in f.extra.get("cgroups", ()) or ():
                if str(c.get("path", "")).rstrip("/") == want:
                    row = c
                    break
        if row is None:
            continue
        for key, name in (("working_set_bytes", "working_set"), ("usage_bytes", "usage"), ("limit_bytes", "limit")):
            v = row.get(key)
            if isinstance(v, (int, float)):
                out[name].append((f.t, float(v)))
    return out


def process_series(frames: Sequence[RecordedFrame], pid: int | None) -> list[tuple[float, float]]:
    if pid is None:
        return []
    pts = []
    for f in frames:
        for p in f.snapshot.get("processes", ()) or ():
            if p.get("pid") == pid and isinstance(p.get("rss_bytes"), int):
                pts.append((f.t, float(p["rss_bytes"])))
                break
    return pts


def top_growers(frames: Sequence[RecordedFrame], n: int = 10) -> list[dict[str, Any]]:
    """Processes whose RSS grew most between their first and last frame in the window."""
    first: dict[int, tuple[float, int, dict]] = {}
    last: dict[int, tuple[float, int]] = {}
    for f in frames:
        for p in f.snapshot.get("processes", ()) or ():
            pid, rss = p.get("pid"), p.get("rss_bytes")
            if not isinstance(pid, int) or not isinstance(rss, int):
                continue
            first.setdefault(pid, (f.t, rss, p))
            last[pid] = (f.t, rss)
    rows: list[dict[str, Any]] = []
    for pid, (t0, r0, p) in first.items():
        t1, r1 = last[pid]
        if r1 > r0:
            rows.append({"pid": pid, "name": p.get("name"), "cmdline": p.get("cmdline"), "from_bytes": r0,
                         "to_bytes": r1, "growth_bytes": r1 - r0, "seconds": t1 - t0})
    rows.sort(key=lambda r: -int(r["growth_bytes"]))
    return rows[:n]


def attached_targets(frames: Sequence[RecordedFrame], pids: set[int]) -> dict[str, list[tuple[float, dict]]]:
    """Target samples (with GC/caches) of targets whose pid is one of ``pids``."""
    out: dict[str, list[tuple[float, dict]]] = {}
    for f in frames:
        for t in f.snapshot.get("targets", ()) or ():
            if t.get("pid") in pids:
                out.setdefault(str(t.get("name")), []).append((f.t, t))
    return out


def _gc_line(samples: list[tuple[float, dict]]) -> list[str]:
    lines = []
    firsts = [s for _, s in samples if s.get("gc")]
    if firsts:
        g0, g1 = firsts[0]["gc"], firsts[-1]["gc"]
        for a, b in zip(g0.get("generations", []), g1.get("generations", [])):
            c0, c1 = a.get("collections"), b.get("collections")
            if isinstance(c0, int) and isinstance(c1, int):
                lines.append(f"  - GC generation {b.get('generation')}: {c1 - c0} collections in the window"
                             f" (collected {b.get('collected')}, uncollectable {b.get('uncollectable')})")
        if g1.get("garbage"):
            lines.append(f"  - gc.garbage: {g1.get('garbage')} objects at the end")
    caches0 = {c.get("name"): c for c in (samples[0][1].get("caches") or [])}
    for c in samples[-1][1].get("caches") or []:
        before = caches0.get(c.get("name"), {})
        lines.append(f"  - cache {_code(c.get('name'))}: size {before.get('size')} -> {c.get('size')}"
                     f" (max {c.get('maxsize')}), {human_bytes(before.get('size_bytes'))} -> "
                     f"{human_bytes(c.get('size_bytes'))}, hit rate {c.get('hit_rate')}")
    return lines


def write_bundle(store: Store, incident: Incident, out: Path, *, window: float = WINDOW_SECONDS) -> list[Path]:
    """Write the bundle for ``incident`` into ``out`` (created); returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    t0, t1 = incident.t - window, incident.t + AFTER_SECONDS
    frames = list(store.frames_between(t0, t1))
    before = [f for f in frames if f.t <= incident.t]
    after = [f for f in frames if f.t > incident.t][:1]
    frames = before + after
    written: list[Path] = []

    path = out / "frames.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for f in frames:
            fh.write(json.dumps(f.snapshot, separators=(",", ":"), allow_nan=False) + "\n")
    written.append(path)

    events = store.events(t0, t1)
    path = out / "events.json"
    path.write_text(json.dumps([e.as_json() for e in events], indent=2, allow_nan=False) + "\n", encoding="utf-8")
    written.append(path)

    cgroup = incident.cgroup or (incident.subject if incident.subject != "host" else None)
    series = service_series(frames, cgroup)
    victim = process_series(frames, incident.pid)
    limit = incident.limit_bytes
    if limit is None and series["limit"]:
        limit = int(series["limit"][-1][1])
    charts: list[str] = []
    if series["working_set"] or victim:
        lines = []
        if series["usage"]:
            lines.append(Line("usage", series["usage"], "#9467bd", dashed=True))
        if series["working_set"]:
            lines.append(Line("working set", series["working_set"], "#1f77b4"))
        if victim:
            lines.append(Line(f"pid {printable(incident.pid)} RSS", victim, "#2ca02c"))
        title = f"{printable(cgroup or 'host')}: working set against its limit"
        svg = chart(title, lines, hlines=[HLine("limit", limit)] if limit else [],
                    vlines=[VLine("OOM kill" if incident.kind == "oom_kill" else "critical", incident.t)],
                    t0=frames[0].t if frames else None)
        path = out / "working-set.svg"
        path.write_text(svg, encoding="utf-8")
        written.append(path)
        charts.append(path.name)

    pids: set[int] = set()
    if incident.pid is not None:
        pids.add(incident.pid)
    for f in frames:
        for c in f.extra.get("cgroups", ()) or ():
            if cgroup and str(c.get("path", "")).rstrip("/") == cgroup.rstrip("/"):
                pids.update(p for p in c.get("pids", ()) if isinstance(p, int))
        for svc in f.snapshot.get("services", ()) or ():  # where the frame has services, their workers
            if isinstance(svc, dict) and cgroup and str(svc.get("cgroup") or "").rstrip("/") == cgroup.rstrip("/"):
                pids.update(int(w["pid"]) for w in svc.get("workers", ()) or ()
                            if isinstance(w, dict) and isinstance(w.get("pid"), int))
    targets = attached_targets(frames, pids)
    target_notes: list[str] = []
    for name, samples in targets.items():
        pts = [(t, float(s["rss_bytes"])) for t, s in samples if isinstance(s.get("rss_bytes"), int)]
        if pts:
            svg = chart(f"target {printable(name)}: RSS", [Line("RSS", pts)], hlines=[HLine("limit", limit)] if limit else [],
                        vlines=[VLine("incident", incident.t)])
            path = out / f"target-{_slug(name)}.svg"
            path.write_text(svg, encoding="utf-8")
            written.append(path)
            charts.append(path.name)
        target_notes.append(f"- target {_code(name)} ({len(samples)} samples)")
        target_notes.extend(_gc_line(samples))

    growers = top_growers(before)
    path = out / "summary.md"
    path.write_text(_summary(incident, frames, before, series, victim, limit, growers, events, charts,
                             target_notes, window), encoding="utf-8")
    written.insert(0, path)
    return written


def _summary(incident: Incident, frames, before, series, victim, limit, growers, events: Iterable, charts,
             target_notes, window) -> str:
    L: list[str] = []
    if incident.kind == "oom_kill":
        who = f"pid {incident.pid}" if incident.pid is not None else "a process"
        if incident.name:
            who += f" ({_code(incident.name)})"
        L.append(f"# OOM kill: {who} in {_code(incident.cgroup or incident.subject)}")
    else:
        L.append(f"# Critical: {_code(incident.subject)}")
    L.append("")
    L.append(f"- **When:** {iso(incident.t)}" + (f" until {iso(incident.end)}" if incident.end else ""))
    L.append(f"- **Incident:** `{incident.id}`")
    if incident.kind == "oom_kill":
        L.append(f"- **Killed:** {('pid ' + str(incident.pid)) if incident.pid is not None else 'unknown pid'}"
                 + (f", command {_code(incident.name)}" if incident.name else ""))
        L.append(f"- **Memory cgroup:** {_code(incident.cgroup or incident.subject)}")
        parts = ""
        kernel = next((e.data for e in incident.events if e.data.get("source") == "kmsg"), None)
        if kernel:
            parts = (f" (anon {human_bytes(kernel.get('anon_rss_bytes'))}, file {human_bytes(kernel.get('file_rss_bytes'))},"
                     f" shmem {human_bytes(kernel.get('shmem_rss_bytes'))}; the kernel's figures)")
        L.append(f"- **RSS at death:** {human_bytes(incident.rss_bytes)}{parts}")
        L.append(f"- **Limit:** {human_bytes(limit)}")
        L.append(f"- **Evidence:** {', '.join(incident.sources)}"
                 " (kmsg: the kernel's log; cgroup: the cgroup's oom_kill counter; vmstat: the host's counter)")
        if incident.line:
            L.append("")
            L.append("Kernel log:")
            L.append("")
            L.append("    " + printable(incident.line))
    L.append("")
    L.append("## Before it")
    L.append("")
    if not before:
        L.append(f"No frame was recorded in the {human_duration(window)} before (was the recorder running?).")
    else:
        span = before[-1].t - before[0].t
        L.append(f"{len(before)} frames over {human_duration(span)}, from {iso(before[0].t)} to {iso(before[-1].t)}.")
        ws = [p for p in series.get("working_set", []) if p[0] <= incident.t]
        if len(ws) >= 2:
            (ta, a), (tb, b) = ws[0], ws[-1]
            rate = (b - a) / (tb - ta) * 60 if tb > ta else 0
            L.append(f"Working set {human_bytes(a)} -> {human_bytes(b)} ({human_bytes(rate)}/min)"
                     + (f", {100 * b / limit:.0f}% of the limit at the last frame." if limit else "."))
        vs = [p for p in victim if p[0] <= incident.t]
        if len(vs) >= 2:
            L.append(f"pid {incident.pid} RSS {human_bytes(vs[0][1])} -> {human_bytes(vs[-1][1])}.")
    L.append("")
    if charts:
        L.append("## Charts")
        L.append("")
        for c in charts:
            L.append(f"![{c}]({c})")
        L.append("")
    L.append("## Top growers")
    L.append("")
    if growers:
        L.append("| pid | name | from | to | growth | over |")
        L.append("|---:|---|---:|---:|---:|---:|")
        for g in growers:
            L.append(f"| {g['pid']} | {_code(g['name'])} | {human_bytes(g['from_bytes'])} | {human_bytes(g['to_bytes'])}"
                     f" | +{human_bytes(g['growth_bytes'])} | {human_duration(g['seconds'])} |")
    else:
        L.append("No recorded process grew in the window.")
    L.append("")
    L.append("## GC and caches")
    L.append("")
    if target_notes:
        L.extend(target_notes)
    else:
        L.append("No probe or target was attached to this service while it was recorded.")
    L.append("")
    L.append("## Events")
    L.append("")
    rows = list(events)
    if rows:
        for e in rows:
            detail = ", ".join(f"{k}={_code(v)}" for k, v in e.data.items() if k in ("source", "pid", "name", "to", "count"))
            L.append(f"- {iso(e.t)} {e.kind} {_code(e.subject)}" + (f" ({detail})" if detail else ""))
    else:
        L.append("None.")
    L.append("")
    L.append("## Files")
    L.append("")
    L.append("- `frames.jsonl`: one `memdash snapshot --json` document per line (docs/snapshot.md)")
    L.append("- `events.json`: the events above, with all their details")
    for c in charts:
        L.append(f"- `{c}`")
    return "\n".join(L) + "\n"


def default_bundle_dir(incident: Incident) -> Path:
    return Path(os.getcwd()) / f"memdash-incident-{incident.id}"
