"""``memdash fleet`` and ``memdash rules``: ``memdash.cli.main`` runs them and
reports their errors (one line, exit status 2 for usage and config errors).

::

    memdash fleet [--prometheus URL] [--json] [--selector '{env="prod"}']
    memdash rules [--hold 5m] [--selector ...] > memdash-rules.yml

Both read ``[fleet]`` and ``[thresholds]`` from the config. The Prometheus
token comes from ``[fleet] token_env``/``token_file`` (or
``--prometheus-token-env NAME``), a probe's token for the attach key from
``--token-env`` (default ``MEMDASH_TOKEN``): never from argv.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Sequence

from memdash.config import Config, FleetConfig, TargetConfig, load_config
from memdash.levels import Level
from memdash.usage import UsageError

EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNKNOWN = 0, 1, 2, 3


def fleet_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memdash fleet",
        description="Rank a fleet's containers, services and hosts by how close they are to running out of memory, "
        "from Prometheus. Exit status with --json: 0 ok, 1 warning, 2 critical, 3 Prometheus unreadable.",
    )
    p.add_argument("--prometheus", metavar="URL", help="the Prometheus (or compatible) base URL (default: [fleet] prometheus)")
    p.add_argument("--json", action="store_true", help="print one ranking as JSON and exit")
    p.add_argument("--config", metavar="FILE", help="config file (default: $MEMDASH_CONFIG or ~/.config/memdash/config.toml)")
    p.add_argument("--selector", metavar="MATCHERS", help='label matchers added to every query, e.g. \'{env="prod"}\'')
    p.add_argument("-i", "--interval", type=float, metavar="SECONDS", help="refresh interval (default 5, at least 1)")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="deadline of each request to Prometheus (default 4)")
    p.add_argument("--prometheus-token-env", metavar="NAME", help="environment variable holding Prometheus's bearer token")
    p.add_argument("--ca", metavar="FILE", help="CA bundle for Prometheus's TLS certificate")
    p.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    p.add_argument("--token-env", metavar="NAME", default="MEMDASH_TOKEN",
                   help="environment variable holding the token for attached memdash probes (default: MEMDASH_TOKEN)")
    p.add_argument("--theme", help="theme name")
    return p


def rules_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memdash rules",
        description="Print Prometheus recording and alerting rules for memdash's judgments, with your thresholds "
        "([thresholds] in the config). Load them with rule_files; check them with 'promtool check rules'.",
    )
    p.add_argument("--config", metavar="FILE", help="config file")
    p.add_argument("--selector", metavar="MATCHERS", help="label matchers added to every series (default: [fleet] selector)")
    p.add_argument("--hold", default="5m", metavar="DURATION", help="how long a condition holds before it fires (for:, default 5m)")
    return p


def _fleet_config(args: argparse.Namespace, config: Config) -> FleetConfig:
    fc = config.fleet
    changes: dict[str, object] = {}
    if args.prometheus:
        if not args.prometheus.startswith(("http://", "https://")):
            raise UsageError(f"--prometheus must be an http:// or https:// URL, got {args.prometheus!r}")
        changes["prometheus"] = args.prometheus
    if args.selector is not None:
        from memdash.fleet.queries import SelectorError, parse_selector

        try:
            parse_selector(args.selector)
        except SelectorError as exc:
            raise UsageError(f"--selector {exc}") from None
        changes["selector"] = args.selector
    if args.interval is not None:
        if not 1 <= args.interval <= 3600:
            raise UsageError("--interval must be between 1 and 3600 seconds")
        changes["interval"] = args.interval
    if args.timeout is not None:
        if not 0.1 <= args.timeout <= 300:
            raise UsageError("--timeout must be between 0.1 and 300 seconds")
        changes["timeout"] = args.timeout
    if args.prometheus_token_env:
        changes["token_env"] = args.prometheus_token_env
        changes["token_file"] = None
    if args.ca:
        changes["ca"] = args.ca
    if args.insecure:
        changes["verify"] = False
    fc = dataclasses.replace(fc, **changes)  # type: ignore[arg-type]
    if not fc.prometheus:
        raise UsageError("no Prometheus to read: give --prometheus URL or set [fleet] prometheus in the config")
    return fc


def exit_status(frame: object) -> int:
    """0 ok, 1 warning, 2 critical, 3 when Prometheus could not be read (fully or in part)."""
    units = getattr(frame, "units", ())
    worst = max((u.level for u in units), default=Level.UNKNOWN)
    if worst >= Level.CRITICAL:
        return EXIT_CRITICAL
    if getattr(frame, "errors", ()) or not units:
        return EXIT_UNKNOWN
    return EXIT_WARNING if worst >= Level.WARNING else EXIT_OK


def run_fleet(argv: Sequence[str]) -> int:
    args = fleet_parser().parse_args(argv)
    config = load_config(args.config)
    fc = _fleet_config(args, config)
    from memdash.fleet.source import open_source

    source = open_source(fc.prometheus or "", token=fc.token(), verify=fc.verify, ca=fc.ca, timeout=fc.timeout,
                         thresholds=config.thresholds, selector=fc.selector)
    try:
        if args.json:
            import json

            from memdash.fleet.model import frame_json

            frame = source.refresh()
            print(json.dumps(frame_json(frame), indent=2, allow_nan=False))
            return exit_status(frame)
        return _run_screen(source, config, fc, args)
    finally:
        source.close()


def _run_screen(source: object, config: Config, fc: FleetConfig, args: argparse.Namespace) -> int:
    from memdash.tui.screens.fleet import AttachRequest, FleetApp

    theme = args.theme or os.environ.get("MEMDASH_THEME") or config.theme
    config = dataclasses.replace(config, theme=theme)
    selected: str | None = None
    while True:
        app = FleetApp(source, config=config, interval=fc.interval, probes=fc.probes, select=selected)  # type: ignore[arg-type]
        app.run()
        result = app.return_value
        if not isinstance(result, AttachRequest):
            return 0
        selected = result.unit_id
        _attach(result, config, args)


def _attach(request: object, config: Config, args: argparse.Namespace) -> None:
    """The live dashboard on one probe, with its cleanup keys; back to the fleet on quit."""
    from memdash.tui.app import MemdashApp

    target = TargetConfig(name=request.name, url=request.url, kind="probe", token_env=args.token_env,  # type: ignore[attr-defined]
                          verify=not args.insecure, interval=1.0)
    attached = dataclasses.replace(config, targets=(target,))
    MemdashApp(attached, discover=False, select_target=target.name).run()


def run_rules(argv: Sequence[str]) -> int:
    args = rules_parser().parse_args(argv)
    config = load_config(args.config)
    from memdash.fleet.queries import SelectorError
    from memdash.fleet.rules import build_rules, render_rules
    from memdash.units import parse_duration

    try:
        hold = parse_duration(args.hold)
    except ValueError as exc:
        raise UsageError(f"--hold {exc}") from None
    selector = args.selector if args.selector is not None else config.fleet.selector
    try:
        text = render_rules(build_rules(config.thresholds, selector=selector, hold=hold))
    except SelectorError as exc:
        raise UsageError(f"--selector {exc}") from None
    sys.stdout.write(text)
    return 0

