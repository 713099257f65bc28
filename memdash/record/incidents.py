"""Incidents: the OOM kills and critical episodes in a recording.

One kill usually leaves two or three ``oom_kill`` events (the kernel log, the
cgroup's counter, the host counter); :func:`incidents_from_events` joins them
into one incident that names what each source knew. The join is a pure function
of the events, so it is tested on its own.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from memdash.record.store import Event

#: Events of one kill are at most this far apart (the recorder's poll interval,
#: plus the kernel clock's drift from the wall clock).
JOIN_SECONDS = 60.0


@dataclass
class Incident:
    """An OOM kill or a critical episode.

    Attributes:
        id: stable and typeable: ``oom-20261129T031200Z-4242`` or
            ``critical-20261129T031200Z-host``.
        kind: ``oom_kill`` or ``critical``.
        t: the kill, or the start of the episode; ``end`` is ``None`` for a kill
            and for an episode still going at the end of the recording.
        subject: the cgroup (or ``host``) killed in, or what was critical.
    """

    id: str
    kind: str
    t: float
    subject: str
    end: float | None = None
    pid: int | None = None
    name: str | None = None
    cgroup: str | None = None
    rss_bytes: int | None = None
    limit_bytes: int | None = None
    sources: list[str] = field(default_factory=list)
    line: str | None = None
    events: list[Event] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        from memdash.record.store import iso

        return {
            "id": self.id, "kind": self.kind, "time": iso(self.t), "t": self.t,
            "end": iso(self.end), "subject": self.subject, "pid": self.pid, "name": self.name,
            "cgroup": self.cgroup, "rss_bytes": self.rss_bytes, "limit_bytes": self.limit_bytes,
            "sources": list(self.sources), "kernel_line": self.line,
        }


def _stamp(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")
    return (s or "x")[-40:]


def _same_cgroup(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.rstrip("/") == b.rstrip("/")


def incidents_from_events(events: Iterable[Event], *, recording_end: float | None = None) -> list[Incident]:
    """Join ``oom_kill`` events into kills and ``level_change`` events into critical
    episodes; in time order."""
    ordered = sorted(events, key=lambda e: e.t)
    kills: list[Incident] = []

    for e in ordered:
        if e.kind == "oom_kill" and e.data.get("source") == "kmsg":
            d = e.data
            kills.append(Incident(id="", kind="oom_kill", t=e.t, subject=d.get("cgroup") or e.subject,
                                  pid=d.get("pid"), name=d.get("name"), cgroup=d.get("cgroup"),
                                  rss_bytes=d.get("rss_bytes"), sources=["kmsg"], line=d.get("line"), events=[e]))

    for e in ordered:
        if e.kind != "oom_kill" or e.data.get("source") != "cgroup":
            continue
        d = e.data
        budget = int(d.get("delta") or 1)
        for k in sorted(kills, key=lambda k: abs(k.t - e.t)):  # the nearest in time first
            if budget <= 0:
                break
            if "cgroup" in k.sources or abs(k.t - e.t) > JOIN_SECONDS:
                continue
            if not (_same_cgroup(k.cgroup, d.get("cgroup")) or _same_cgroup(k.events[0].data.get("oom_cgroup"), d.get("cgroup"))):
                continue
            if d.get("pid") is not None and k.pid is not None and d.get("pid") != k.pid:
                continue
            k.sources.append("cgroup")
            k.limit_bytes = d.get("limit_bytes")
            k.events.append(e)
            budget -= 1
        if budget > 0:
            kills.append(Incident(id="", kind="oom_kill", t=e.t, subject=d.get("cgroup") or e.subject,
                                  pid=d.get("pid"), name=d.get("name"), cgroup=d.get("cgroup"),
                                  rss_bytes=d.get("last_rss_bytes"), limit_bytes=d.get("limit_bytes"),
                                  sources=["cgroup"], events=[e]))

    for e in ordered:
        if e.kind != "oom_kill" or e.data.get("source") != "vmstat":
            continue
        budget = int(e.data.get("delta") or 1)
        for k in sorted(kills, key=lambda k: abs(k.t - e.t)):
            if budget <= 0:
                break
            if "vmstat" in k.sources or abs(k.t - e.t) > JOIN_SECONDS:
                continue
            k.sources.append("vmstat")
            k.events.append(e)
            budget -= 1
        for _ in range(budget):
            kills.append(Incident(id="", kind="oom_kill", t=e.t, subject="host", sources=["vmstat"], events=[e]))

    kills.sort(key=lambda k: k.t)
    seen: set[str] = set()
    for k in kills:
        base = f"oom-{_stamp(k.t)}-{k.pid if k.pid is not None else _slug(k.subject)}"
        k.id = base
        n = 2
        while k.id in seen:
            k.id = f"{base}.{n}"
            n += 1
        seen.add(k.id)

    episodes: list[Incident] = []
    open_by_subject: dict[str, Incident] = {}
    for e in ordered:
        if e.kind != "level_change":
            continue
        to = e.data.get("to", e.level)
        current = open_by_subject.get(e.subject)
        if to == "critical" and current is None:
            inc = Incident(id=f"critical-{_stamp(e.t)}-{_slug(e.subject)}", kind="critical", t=e.t,
                           subject=e.subject, events=[e])
            open_by_subject[e.subject] = inc
            episodes.append(inc)
        elif to != "critical" and current is not None:
            current.end = e.t
            current.events.append(e)
            del open_by_subject[e.subject]
    for inc in episodes:
        if inc.id in seen:
            inc.id += ".2"
        seen.add(inc.id)

    out = kills + episodes
    out.sort(key=lambda i: i.t)
    return out


def find_incident(incidents: Sequence[Incident], ident: str) -> Incident:
    """The incident named ``ident``: its id, a unique prefix of it, or its 1-based
    number in the list. Raises ``LookupError`` with a sentence."""
    for inc in incidents:
        if inc.id == ident:
            return inc
    if ident.isdigit() and 1 <= int(ident) <= len(incidents):
        return incidents[int(ident) - 1]
    matches = [i for i in incidents if i.id.startswith(ident)]
    if len(matches) == 1:
        return matches[0]
    if not incidents:
        raise LookupError("this recording has no incidents")
    if matches:
        raise LookupError(f"{ident!r} matches {len(matches)} incidents; give more of the id")
    raise LookupError(f"no incident {ident!r} (run 'memdash incidents' for the list)")
