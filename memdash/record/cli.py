"""``memdash record``, ``replay``, ``incidents`` and ``report``.

::

    memdash record [--interval 5] [--retain 7d] [--max-size 1GB] [--out DIR] [URL ...]
    memdash replay [STORE] [--at TIME] [--json]
    memdash incidents [STORE] [--json]
    memdash report INCIDENT [--store DIR] [--out DIR]

``memdash.cli.main`` hands these commands to :func:`run_command`. Errors are one
line on stderr; a usage or store error exits 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Sequence

from memdash.textsafe import command_line, printable
from memdash.units import parse_duration

COMMANDS = ("record", "replay", "incidents", "report")
#: How old a recorded process's USS/PSS/swap may be (RSS is read every frame).
RECORD_SMAPS_SECONDS = 60.0


class CommandError(Exception):
    """A wrong command line or an unusable store: one line, exit status 2."""


# -- parsing values ---------------------------------------------------------------------

_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
               "g": 1024**3, "gb": 1024**3, "gib": 1024**3, "t": 1024**4, "tb": 1024**4, "tib": 1024**4}


def parse_size(text: str) -> int:
    """Bytes from ``"1GB"``, ``"500M"``, ``"64MiB"`` or a bare number (binary units)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if m is None or m.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"must be a size such as \"500MB\" or \"1GB\", not {text!r}")
    value = int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
    if value <= 0:
        raise ValueError(f"must be more than 0 bytes, not {text!r}")
    return value


def parse_time(text: str, now: float | None = None) -> float:
    """Epoch seconds from ISO 8601 (``2026-11-29T03:12``, ``...Z``, ``...+01:00``;
    no offset means local time), a clock time today (``03:12``), a Unix time
    (``1764385920``), ``now``, or a time relative to now (``-2h``, ``-90s``)."""
    now = time.time() if now is None else now
    s = text.strip()
    if s == "now":
        return now
    if s.startswith("-"):
        try:
            return now - parse_duration(s[1:])
        except ValueError:
            raise ValueError(f"TIME must be ISO 8601, a Unix time or relative like -2h, not {text!r}") from None
    if re.fullmatch(r"\d+(\.\d+)?", s) and len(s.split(".")[0]) >= 9:
        return float(s)
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", s):
        today = _dt.datetime.fromtimestamp(now).date().isoformat()
        s = f"{today}T{s}"
    try:
        dt = _dt.datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"TIME must be ISO 8601, a Unix time or relative like -2h, not {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.astimezone()  # local time
    return dt.timestamp()


# -- parsers ------------------------------------------------------------------------------


def _store_help() -> str:
    from memdash.record.store import default_store_dir

    return f"the recording's directory (default {default_store_dir()})"


def record_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memdash record",
        description="Record a frame of the box (system, processes, services' cgroups, GPUs, targets) every "
        "interval, and the events between them (OOM kills, services appearing and vanishing, level changes), "
        "to a store you can replay and turn into post-mortems. Stop with Ctrl-C or SIGTERM.",
        epilog="See docs/record.md; a systemd unit is in contrib/memdash-record.service.",
    )
    p.add_argument("urls", nargs="*", metavar="URL", help="services to record as well (probe, Prometheus, JSON)")
    p.add_argument("--interval", "-i", default="5", metavar="SECONDS", help="seconds between frames (default 5)")
    p.add_argument("--retain", default="7d", metavar="AGE", help="delete whole shards older than this (default 7d)")
    p.add_argument("--max-size", default="1GB", metavar="SIZE", help="keep the store under this size (default 1GB)")
    p.add_argument("--out", metavar="DIR", help=_store_help())
    p.add_argument("--count", type=int, metavar="N", help="stop after N frames")
    p.add_argument("--config", metavar="FILE", help="config file (default: $MEMDASH_CONFIG or ~/.config/memdash/config.toml)")
    p.add_argument("--token-env", metavar="NAME", default="MEMDASH_TOKEN",
                   help="environment variable holding the bearer token for URL targets (default: MEMDASH_TOKEN)")
    p.add_argument("--no-gpu", action="store_true", help="do not poll NVIDIA GPUs")
    p.add_argument("--no-discover", action="store_true", help="do not look for local probes on their Unix sockets")
    p.add_argument("--insecure", action="store_true", help="do not verify TLS certificates of URL targets")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quiet", "-q", action="store_true", help="print nothing while recording")
    g.add_argument("--verbose", "-v", action="store_true", help="print each frame's time once it is stored")
    return p


def replay_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memdash replay",
        description="Open the dashboard on a recording, at the frame nearest --at (default: the last one); "
        "keys: left/right one frame, shift+left/right a minute, n/N next/previous event, g go to a time, "
        "z charts over the whole recording or the minutes before the cursor. "
        "With --json, print that frame in the 'memdash snapshot --json' schema.",
        epilog="TIME: ISO 8601 (2026-11-29T03:12, no offset = local time), a clock time today (03:12), "
        "a Unix time, 'now', or relative to now (-2h, -90s).",
    )
    p.add_argument("store", nargs="?", metavar="STORE", help=_store_help())
    p.add_argument("--at", metavar="TIME", help="the time to show (the nearest frame is printed)")
    p.add_argument("--json", action="store_true", help="print the frame as the 'memdash snapshot --json' document")
    p.add_argument("--text", action="store_true", help="print a short text view of the frame, not the dashboard")
    return p


def incidents_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memdash incidents",
        description="List the OOM kills and critical episodes in a recording.",
        epilog="'memdash report ID' writes a post-mortem bundle for one of them.",
    )
    p.add_argument("store", nargs="?", metavar="STORE", help=_store_help())
    p.add_argument("--json", action="store_true", help="print a JSON array")
    return p


def report_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memdash report",
        description="Write a post-mortem bundle for an incident: summary.md, the frames of the 30 minutes "
        "before it (frames.jsonl), its events, and SVG charts of the service's working set against its limit.",
    )
    p.add_argument("incident", metavar="INCIDENT", help="an id from 'memdash incidents' (or a unique prefix, or its number)")
    p.add_argument("--store", metavar="DIR", help=_store_help())
    p.add_argument("--out", metavar="DIR", help="where to write the bundle (default ./memdash-incident-ID)")
    p.add_argument("--minutes", type=float, default=30, metavar="N", help="minutes of frames before the incident (default 30)")
    return p


# -- commands -----------------------------------------------------------------------------


def _store_dir(arg: str | None) -> Path:
    from memdash.record.store import default_store_dir

    return Path(arg).expanduser() if arg else default_store_dir()


def _open_store(arg: str | None):
    from memdash.record.store import Store, StoreError

    path = _store_dir(arg)
    if not path.exists():
        raise CommandError(f"no recording at {path} (start one with 'memdash record')")
    try:
        store = Store(path)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    for err in store.errors:
        print(f"memdash: warning: skipped a damaged shard: {printable(err)}", file=sys.stderr)
    return store


def run_record(argv: Sequence[str]) -> int:
    args = record_parser().parse_args(argv)
    try:
        interval = parse_duration(args.interval)
    except ValueError as exc:
        raise CommandError(f"--interval {exc}") from None
    if not 0.1 <= interval <= 3600:
        raise CommandError("--interval must be between 0.1 and 3600 seconds")
    try:
        retain = parse_duration(args.retain)
    except ValueError as exc:
        raise CommandError(f"--retain {exc}") from None
    if retain <= 0:
        raise CommandError("--retain must be more than 0")
    try:
        max_size = parse_size(args.max_size)
    except ValueError as exc:
        raise CommandError(f"--max-size {exc}") from None
    if args.count is not None and args.count < 1:
        raise CommandError("--count must be at least 1")

    from memdash.config import load_config, target_from_url

    config = load_config(args.config)
    targets = list(config.targets)
    for i, url in enumerate(args.urls):
        t = target_from_url(url, index=i, token_env=args.token_env)
        if args.insecure:
            t = dataclasses.replace(t, verify=False)
        targets.append(t)

    from memdash.engine import Engine
    from memdash.record.live import EngineSource
    from memdash.record.recorder import Recorder, describe, log
    from memdash.record.store import StoreError, StoreWriter

    path = _store_dir(args.out)
    try:
        writer = StoreWriter(path, retain=retain, max_size=max_size)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    # The recorder is the engine with no screen: the same frames the dashboard shows.
    # A target polled more often than frames are stored would be polled for nothing.
    targets = [t if t.interval >= interval else dataclasses.replace(t, interval=interval) for t in targets]
    config = dataclasses.replace(config, interval=interval, targets=tuple(targets), read_only=True)
    # A probe found on its socket is polled once per frame too (discovery's own
    # default, 2 s, would poll it 2.5 times for each frame stored at 5 s).
    # USS/PSS (smaps_rollup, milliseconds for a big process) are refreshed once a
    # minute: they explain no OOM kill, and were the recorder's dearest read.
    engine = Engine(config, gpu=not args.no_gpu, discover=not args.no_discover and config.discover,
                    discovered_interval=interval, smaps_max_age=max(RECORD_SMAPS_SECONDS, interval))
    source = EngineSource(engine, interval, top=config.top, owns_engine=True)
    recorder = Recorder(writer, source, interval)
    engine.start()
    if not args.quiet:
        log(describe(path, interval, retain, max_size))
        if recorder.kmsg.error:
            log(f"memdash record: note: {recorder.kmsg.error}; OOM kills come from cgroup counters only")
    on_frame = None
    if args.verbose:
        from memdash.record.store import iso

        def on_frame(polled) -> None:
            print(f"frame {recorder.frames} {iso(polled.t)} {polled.t:.3f}", flush=True)

    try:
        return recorder.run(count=args.count, on_frame=on_frame)
    finally:
        recorder.close()
        if not args.quiet:
            log(f"memdash record: stopped after {recorder.frames} frames")


def _glue_negative(argv: Sequence[str], option: str) -> list[str]:
    """``--at -2h`` as ``--at=-2h``: argparse would take ``-2h`` for an option."""
    out: list[str] = []
    it = iter(argv)
    for a in it:
        if a == option:
            nxt = next(it, None)
            out.append(a if nxt is None else f"{a}={nxt}")
        else:
            out.append(a)
    return out


def run_replay(argv: Sequence[str]) -> int:
    args = replay_parser().parse_args(_glue_negative(argv, "--at"))
    at = None
    if args.at is not None:
        try:
            at = parse_time(args.at)
        except ValueError as exc:
            raise CommandError(f"--at: {exc}") from None
    store = _open_store(args.store)
    with store:
        if not len(store):
            raise CommandError(f"the recording at {store.root} has no frames yet")
        frame = store.frame_at(at if at is not None else store.last)
        if frame is None:
            raise CommandError("no readable frame near that time (the store is damaged there)")
        if at is not None:
            gap = abs(frame.t - at)
            interval = frame.extra.get("interval") or 5
            if gap > 2 * float(interval) + 1:
                from memdash.record.store import iso
                from memdash.units import human_duration

                print(f"memdash: note: nothing was recorded at {iso(at)}; the nearest frame is"
                      f" {human_duration(gap)} {'earlier' if frame.t < at else 'later'} ({iso(frame.t)})",
                      file=sys.stderr)
        if args.json:
            print(json.dumps(frame.snapshot, indent=2, allow_nan=False))
            return 0
        if not args.text and sys.stdout.isatty() and sys.stdin.isatty():
            return _replay_screen(store, frame.t)
        print(_frame_text(store, frame))
    return 0


def _replay_screen(store, at: float) -> int:
    """The dashboard over the recording (Textual is imported only here)."""
    from memdash.config import load_config
    from memdash.record.replay import ReplayEngine
    from memdash.tui.replay import ReplayApp

    app = ReplayApp(load_config(None), ReplayEngine(store, at))
    app.run()
    return app.return_code or 0


def _frame_text(store, frame) -> str:
    from memdash.record.store import iso
    from memdash.units import human_bytes, human_percent

    doc = frame.snapshot
    lines = [f"memdash replay  {printable(store.root)}  {len(store)} frames, {iso(store.first)} .. {iso(store.last)}",
             f"frame {iso(frame.t)}  host {printable(doc.get('host'))}"
             f"  level {printable(doc.get('level') or 'unknown').upper()}"]
    s = doc.get("system")
    if s:
        lines.append(f"memory: {human_percent(s.get('percent'))}, available {human_bytes(s.get('available_bytes'))}")
    for c in frame.extra.get("cgroups", ()):
        lines.append(f"cgroup {printable(c.get('path'))}: working set {human_bytes(c.get('working_set_bytes'))}"
                     f" of {human_bytes(c.get('limit_bytes'))}, oom kills {c.get('oom_kills')}")
    lines.append(f"{'PID':>7} {'RSS':>7}  COMMAND")
    for p in (doc.get("processes") or [])[:15]:
        cmd = command_line(p.get("cmdline") or p.get("name") or "", 100)
        lines.append(f"{printable(p.get('pid')):>7} {human_bytes(p.get('rss_bytes')):>7}  {cmd}")
    lines.append("(--json prints the whole frame)")
    return "\n".join(lines)


def run_incidents(argv: Sequence[str]) -> int:
    args = incidents_parser().parse_args(argv)
    from memdash.record.incidents import incidents_from_events
    from memdash.record.store import iso
    from memdash.units import human_bytes

    store = _open_store(args.store)
    with store:
        found = incidents_from_events(store.events(kinds=("oom_kill", "level_change")), recording_end=store.last)
    if args.json:
        print(json.dumps([i.as_json() for i in found], indent=2, allow_nan=False))
        return 0
    if not found:
        print("no incidents recorded")
        return 0
    print(f"{'#':>3} {'ID':<36} {'TIME':<25} {'KIND':<9} {'PID':>7} {'RSS':>6}  WHERE")
    for n, i in enumerate(found, 1):
        where = i.subject if i.kind == "critical" else (i.cgroup or i.subject)
        what = f" {i.name}" if i.name else ""
        lasted = f" until {iso(i.end)}" if i.end else ""
        sources = f"  [{','.join(i.sources)}]" if i.sources else ""
        print(f"{n:>3} {i.id:<36} {iso(i.t) or '':<25} {printable(i.kind):<9} {i.pid if i.pid is not None else '-':>7}"
              f" {human_bytes(i.rss_bytes):>6}  {printable(where)}{printable(what)}{lasted}{sources}")
    return 0


def run_report(argv: Sequence[str]) -> int:
    args = report_parser().parse_args(argv)
    if args.minutes <= 0:
        raise CommandError("--minutes must be more than 0")
    from memdash.record.bundle import default_bundle_dir, write_bundle
    from memdash.record.incidents import find_incident, incidents_from_events

    store = _open_store(args.store)
    with store:
        found = incidents_from_events(store.events(kinds=("oom_kill", "level_change")), recording_end=store.last)
        try:
            incident = find_incident(found, args.incident)
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        out = Path(args.out) if args.out else default_bundle_dir(incident)
        try:
            files = write_bundle(store, incident, out, window=args.minutes * 60)
        except OSError as exc:
            raise CommandError(f"cannot write the bundle to {out}: {exc.strerror}") from None
    print(f"wrote {printable(out)}/ ({', '.join(printable(f.name) for f in files)})")
    return 0


def run_command(command: str, argv: Sequence[str]) -> int:
    """Run one of :data:`COMMANDS`; returns the exit status (2 for usage/store errors)."""
    runner = {"record": run_record, "replay": run_replay, "incidents": run_incidents, "report": run_report}[command]
    try:
        return runner(argv)
    except CommandError as exc:
        print(f"memdash {command}: error: {printable(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `memdash incidents | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_command(sys.argv[1], sys.argv[2:]))
