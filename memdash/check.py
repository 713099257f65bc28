"""``memdash check``: attach a target and see what memdash makes of it.

::

    memdash check [--config FILE] [URL ...]

Each target (the config's, then the URLs) is polled once. For each, a few
lines say what kind it was read as, what was recognised (a runtime, an
exporter, the fields found and where), the memory figure, what is missing
and every mapping warning. Exit status: 0 when every target gave a memory
figure, 1 when one did not (or failed), 2 for a wrong command line or config.

Everything a target said is printed through :func:`memdash.textsafe.printable`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
from typing import Sequence

from memdash.config import TargetConfig, load_config, target_from_url
from memdash.model import TargetSample
from memdash.textsafe import printable
from memdash.units import human_bytes, human_percent

USAGE_EPILOG = """\
exit status: 0 every target gave a memory figure, 1 one did not, 2 usage or config error.
Start here when attaching anything: see docs/targets.md."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memdash check",
        description="Poll each target once and say what memdash recognised, found and missed.",
        epilog=USAGE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("urls", nargs="*", metavar="URL",
                   help="targets besides the config's: http(s)://, unix:/path.sock, redis://")
    p.add_argument("--config", metavar="FILE", help="config file (default: $MEMDASH_CONFIG or ~/.config/memdash/config.toml)")
    p.add_argument("--token-env", metavar="NAME", default="MEMDASH_TOKEN",
                   help="environment variable holding the token for URL targets (default: MEMDASH_TOKEN)")
    p.add_argument("--insecure", action="store_true", help="do not verify TLS certificates of URL targets")
    return p


def _has_memory(s: TargetSample) -> bool:
    return s.ok and (s.rss_bytes is not None or s.percent is not None)


def _runtime_line(s: TargetSample) -> str | None:
    rt = s.runtime
    if rt is None:
        return None
    shown = []
    for key, value in list(rt.figures.items())[:8]:
        if key.endswith("_bytes"):
            shown.append(f"{key[:-6]} {human_bytes(value)}")
        elif key.endswith("_seconds") and "time" not in key:
            shown.append(f"{key[:-8]} {value:.3g} s")
        elif key.endswith("_ratio"):
            shown.append(f"{key} {value:.2f}")
        else:
            shown.append(f"{key} {value:,.0f}")
    for name, rows in rt.groups.items():
        shown.append(f"{len(rows)} {name}")
    shown.extend(f"{k} {v}" for k, v in rt.labels.items())
    return f"{rt.kind}: " + ", ".join(shown)


def describe(s: TargetSample, target: TargetConfig) -> list[str]:
    """The lines ``memdash check`` prints for one target (already printable)."""
    p = printable
    lines = [f"{p(s.name)}  {p(s.url)}"]
    how = "detected" if target.kind == "auto" else "as configured"
    lines.append(f"  kind: {p(s.kind)} ({how})" if s.kind != "auto" else "  kind: not known (no good answer yet)")
    if not s.ok:
        lines.append(f"  error: {p(s.error)}")
    for r in s.recognised:
        lines.append(f"  recognised: {p(r)}")
    rt = _runtime_line(s)
    if rt:
        lines.append(f"  runtime: {p(rt, 300)}")
    if s.exporter_rss_bytes is not None:
        lines.append(f"  exporter: its own RSS {human_bytes(s.exporter_rss_bytes)} (not counted as the memory)")
    if s.ok:
        if s.rss_bytes is not None or s.percent is not None:
            memory = f"  memory: {human_bytes(s.rss_bytes)}"
            if s.limit_bytes:
                memory += f" of {human_bytes(s.limit_bytes)} limit"
            memory += f" ({human_percent(s.percent)})"
            lines.append(memory)
        for i in s.instances[:20]:
            lines.append(f"    {p(i.labels, 80)}: {human_bytes(i.rss_bytes)}" + (f" ({p(i.runtime)})" if i.runtime else ""))
        found = []
        if s.gc is not None:
            found.append(f"GC ({len(s.gc.generations)} generations)")
        if s.caches:
            found.append(f"{len(s.caches)} cache" + ("s" if len(s.caches) > 1 else ""))
        if s.gpu:
            found.append("GPU allocator")
        if s.metrics:
            found.append(f"{len(s.metrics):,} other figures")
        if s.actions:
            found.append("cleanups: " + ", ".join(s.actions))
        if found:
            lines.append("  found: " + "; ".join(found))
        missing = []
        if s.rss_bytes is None and s.percent is None:
            missing.append("a memory figure (map one: fields.rss = \"path\" or a series name)")
        elif s.limit_bytes is None:
            missing.append("a limit (set limit_mb, or map fields.limit)")
        no_gc = s.runtime is not None and s.runtime.kind in ("host", "redis")  # nothing collects there
        if s.gc is None and not no_gc and (s.runtime is None or "gc_count" not in s.runtime.figures):
            missing.append("GC figures")
        if missing:
            lines.append("  missing: " + "; ".join(missing))
    for w in s.warnings:
        lines.append(f"  warning: {p(w, 300)}")
    return lines


async def _poll(targets: Sequence[TargetConfig]) -> tuple[TargetSample, ...]:
    from memdash.sources.remote import TargetPoller

    poller = TargetPoller(targets)
    try:
        return await poller.poll_once()
    finally:
        await poller.aclose()


def run_check(argv: Sequence[str]) -> int:
    """``memdash check``; returns the exit status (raises ConfigError for exit 2)."""
    args = parser().parse_args(argv)
    config = load_config(args.config)
    targets = list(config.targets)
    for i, url in enumerate(args.urls):
        t = target_from_url(url, index=i, token_env=args.token_env)
        targets.append(dataclasses.replace(t, verify=False) if args.insecure else t)
    names = [t.name for t in targets]
    targets = [dataclasses.replace(t, name=f"{t.name}#{i + 1}") if names.count(t.name) > 1 else t
               for i, t in enumerate(targets)]
    if not targets:
        print("memdash check: no targets: give a URL or a config with [[targets]]")
        return 1
    # Each target's error is in its own lines below: not again as a log line.
    logging.getLogger("memdash.sources.remote").setLevel(logging.ERROR)
    samples = asyncio.run(_poll(targets))
    good = 0
    for t, s in zip(targets, samples):
        print("\n".join(describe(s, t)))
        print()
        good += _has_memory(s)
    print(f"{good} of {len(samples)} target{'s' if len(samples) != 1 else ''} gave a memory figure")
    return 0 if good == len(samples) else 1
