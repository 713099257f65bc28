"""The ``memdash`` command line.

::

    memdash [URL ...]                      the dashboard (local box, plus targets)
    memdash snapshot [--json] [URL ...]    one poll, printed; exit status per level
    memdash snapshot --watch S [--count N] one document every S seconds (JSON Lines with --json)
    memdash cleanup TARGET ACTION          run a cleanup on a target from a script
    memdash demo [--serve-only]            a demo service with the probe, and the dashboard on it

Heavy modules (Textual, httpx) are imported only by the commands that use them.
Users never see a traceback: errors are one line on stderr and an exit status
(set ``MEMDASH_DEBUG=1`` to get the traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import TYPE_CHECKING, Any, Sequence

from memdash import __version__
from memdash.config import Config, ConfigError, TargetConfig, load_config, redact_url, target_from_url
from memdash.model import ACTIONS
from memdash.textsafe import escape_log_output, printable
from memdash.usage import UsageError

if TYPE_CHECKING:
    from memdash.engine import Engine

COMMANDS = ("snapshot", "cleanup", "demo", "check", "serve")
RECORD_COMMANDS = ("record", "replay", "incidents", "report")  # memdash/record/cli.py
TOKEN_ENV_DEFAULT = "MEMDASH_TOKEN"

MAIN_EPILOG = """\
commands:
  snapshot     one poll, printed as a table or --json (exit 0 ok, 1 warning, 2 critical, 3 unreadable)
  cleanup      run a cleanup action (gc, caches, cuda, trim, all) on a target
  demo         start a demo service that embeds the probe and open the dashboard on it
  check        poll each target once and say what was recognised, found and missing
  serve        the dashboard in a browser (loopback, read-only by default; pip install 'memdash[serve]')
  record       record frames and events (OOM kills) to a store; replay, incidents, report read it
  fleet        rank a fleet's units by time to OOM over Prometheus; `rules` prints its alerting rules

targets:
  URL arguments are services to poll: a memdash probe, any Prometheus /metrics,
  or a JSON memory endpoint (http://, https:// or unix:/path.sock). A bearer
  token for them is read from $MEMDASH_TOKEN (or --token-env NAME), never argv.

config:
  --config FILE, else $MEMDASH_CONFIG, else ~/.config/memdash/config.toml
  (thresholds, targets, theme, keymap; see README.md)

Run 'memdash COMMAND --help' for a command's options.
"""


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="config file (default: $MEMDASH_CONFIG or ~/.config/memdash/config.toml)")
    p.add_argument(
        "--token-env",
        metavar="NAME",
        default=TOKEN_ENV_DEFAULT,
        help=f"environment variable holding the bearer token for URL targets (default: {TOKEN_ENV_DEFAULT})",
    )
    p.add_argument("--no-gpu", action="store_true", help="do not poll NVIDIA GPUs")
    p.add_argument("--no-discover", action="store_true", help="do not look for local probes on their Unix sockets")
    p.add_argument("--insecure", action="store_true", help="do not verify TLS certificates of URL targets")
    p.add_argument("--no-services", action="store_true",
                   help="do not group processes into services (cgroups, worker pools; see docs/services.md)")


def dashboard_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memdash",
        description="See which processes and services hold memory, against the limit that applies, and free it measurably.",
        epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("urls", nargs="*", metavar="URL", help="services to poll (probe, Prometheus or JSON endpoints)")
    p.add_argument("--version", action="version", version=f"memdash {__version__}")
    _add_common(p)
    p.add_argument("-i", "--interval", type=float, metavar="SECONDS", help="refresh interval (default 1.0)")
    p.add_argument("--theme", help="theme name (memdash-dark, memdash-light, memdash-contrast, or any Textual theme)")
    p.add_argument("--top", type=int, metavar="N", help="at most N process rows (default: as many as fit the window)")
    p.add_argument("--read-only", action="store_true", help="no cleanup keys")
    p.add_argument("--record", nargs="?", const="", metavar="DIR",
                   help="record what the dashboard shows, a frame every 5 s (store: DIR, default as 'memdash record')")
    return p


def snapshot_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memdash snapshot",
        description="Poll once and print. Exit status: 0 excellent/good, 1 warning, 2 critical, 3 something unreadable.",
    )
    p.add_argument("urls", nargs="*", metavar="URL", help="services to poll as well")
    _add_common(p)
    p.add_argument("--json", action="store_true", help="print one JSON document (schema 1, see docs/snapshot.md)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--top", type=int, metavar="N", help="the N processes with most RSS (default: config 'top', 25)")
    g.add_argument("--all", action="store_true", help="every process")
    p.add_argument("--watch", type=float, metavar="SECONDS",
                   help="keep polling: print one document every SECONDS (JSON Lines with --json) until interrupted,"
                        " so slopes, times to OOM and OOM kills show")
    p.add_argument("--count", type=int, metavar="N", help="with --watch: stop after N documents")
    return p


def cleanup_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memdash cleanup",
        description="Run a cleanup on a target and print what it freed (RSS before -> after).",
    )
    p.add_argument("target", help="a target name from the config, or a URL")
    p.add_argument("action", choices=ACTIONS, help="what to run")
    _add_common(p)
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--generation", type=int, choices=(0, 1, 2), help="gc: collect only up to this generation")
    p.add_argument("--name", metavar="CACHE", help="caches: clear only this cache")
    p.add_argument("--worker", type=int, metavar="PID", help="pre-fork servers: only this worker")
    return p


def _load(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def _url_targets(args: argparse.Namespace, config: Config) -> tuple[TargetConfig, ...]:
    targets = list(config.targets)
    for i, url in enumerate(getattr(args, "urls", []) or []):
        t = target_from_url(url, index=i, token_env=args.token_env)
        if args.insecure:
            t = dataclasses.replace(t, verify=False)
        targets.append(t)
    names = [t.name for t in targets]
    for i, t in enumerate(targets):
        if names.count(t.name) > 1:
            targets[i] = dataclasses.replace(t, name=f"{t.name}#{i + 1}")
    return tuple(targets)


# -- commands -------------------------------------------------------------


def _engine(config: Config, args: argparse.Namespace) -> Engine:
    """The engine for one frame or one cleanup: no schedule runs, nothing is polled twice."""
    from memdash.engine import Engine

    return Engine(config, gpu=not args.no_gpu, discover=not args.no_discover and config.discover, running=False,
                  services=not args.no_services)


def run_snapshot(argv: Sequence[str]) -> int:
    args = snapshot_parser().parse_args(argv)
    config = _load(args)
    if args.top is not None and args.top < 1:
        raise UsageError("--top must be at least 1")
    config = dataclasses.replace(config, targets=_url_targets(args, config))

    from memdash.report import dumps, exit_status, snapshot_json, snapshot_text

    limit = None if args.all else (args.top or config.top)
    if args.count is not None and args.watch is None:
        raise UsageError("--count needs --watch")
    if args.watch is not None:
        if not args.watch > 0 or args.watch != args.watch or args.watch == float("inf"):
            raise UsageError("--watch needs a number of seconds above 0")
        if args.count is not None and args.count < 1:
            raise UsageError("--count must be at least 1")
        return _watch(config, args, limit)
    engine = _engine(config, args)
    try:
        # USS/PSS/swap are read for every row that is printed, and only those.
        snap = engine.poll_once(limit=limit, detail_top=sys.maxsize if limit is None else limit).as_snapshot()
    finally:
        engine.close()
    if args.json:
        print(dumps(snapshot_json(snap)))  # strict JSON: null for NaN/Infinity
    else:
        import shutil

        # To a file or a pipe: whole commands (a reader greps them); to a terminal: its width.
        width = shutil.get_terminal_size((120, 24)).columns if sys.stdout.isatty() else None
        print(snapshot_text(snap, width=width))
    return exit_status(snap)


def _watch(config: Config, args: argparse.Namespace, limit: int | None) -> int:
    """``snapshot --watch``: the dashboard's engine, one document per refresh.

    Frames come from the engine's own thread through a bounded queue; this
    thread only prints. The exit status is the last document's. The engine's
    first frame (RSS only, before USS/PSS are read) is not printed: the next
    one follows at once, or once every target named has answered (or timed out).
    """
    import json
    import queue
    import shutil
    import time

    from memdash.engine import Engine, Frame, frame_json
    from memdash.report import exit_status, snapshot_text

    config = dataclasses.replace(config, interval=args.watch)
    engine = Engine(config, gpu=not args.no_gpu, discover=not args.no_discover and config.discover,
                    services=not args.no_services)
    engine.set_view(need_all=limit is None, top=limit or config.top)
    frames: queue.Queue[Frame | None] = queue.Queue(maxsize=8)
    # The first document waits for every named target's first answer (or its
    # deadline: a GET is tried twice), as a one-shot snapshot does: a target
    # still on its way must not be missing from the document.
    expected = {t.name for t in config.targets}
    first_by = time.monotonic() + 2 * max((t.timeout for t in config.targets), default=0.0) + 1.0
    first = True

    def hand(frame: Frame) -> None:
        nonlocal first
        if frame.seq == 1:
            return
        if first and not expected <= {t.name for t in frame.targets} and time.monotonic() < first_by:
            return
        first = False
        try:
            frames.put_nowait(frame)
        except queue.Full:  # a slow terminal: drop this one rather than hold the engine
            pass

    engine.subscribe(hand, lambda: frames.put(None))
    engine.start()
    status = 3
    printed = 0
    try:
        while args.count is None or printed < args.count:
            frame = frames.get()
            if frame is None:
                break
            snap = frame.as_snapshot()
            if args.json:
                print(json.dumps(frame_json(frame), separators=(",", ":")), flush=True)
            else:
                print(snapshot_text(snap, width=shutil.get_terminal_size((120, 24)).columns) + "\n", flush=True)
            status = exit_status(snap)
            printed += 1
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()
    return status


def run_cleanup(argv: Sequence[str]) -> int:
    args = cleanup_parser().parse_args(argv)
    config = _load(args)
    if config.read_only:
        raise UsageError(f"read-only: cleanups are disabled by {config.path or 'the config'}")
    targets = _url_targets(args, config)
    target = next((t for t in targets if t.name == args.target), None)
    if target is None and args.target.startswith(("http://", "https://", "unix:")):
        target = target_from_url(args.target, token_env=args.token_env)
        targets = targets + (target,)
    engine = _engine(dataclasses.replace(config, targets=targets), args)
    try:
        if target is None:
            found = engine.find_probes()
            target = next((t for t in found if t.name == args.target), None)
            if target is None:
                known = ", ".join(t.name for t in (*targets, *found)) or "none configured"
                raise UsageError(f"unknown target {args.target!r} (known: {known})")
            engine.add_targets([target])
        if target.read_only:
            raise UsageError(f"read-only: cleanups are disabled for target {target.name!r}")
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError("refusing to run a cleanup without confirmation: stdin is not a terminal (use --yes)")
            answer = input(f"Run {args.action} on {printable(target.name)} ({printable(redact_url(target.url))})? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("cancelled", file=sys.stderr)
                return 1
        options = {k: v for k, v in (("generation", args.generation), ("name", args.name), ("worker", args.worker)) if v is not None}
        import asyncio

        result = asyncio.run(engine.cleanup(target.name, args.action, **options))
    finally:
        engine.close()
    from memdash.units import human_bytes

    if args.json:
        from memdash.actions import result_json
        from memdash.report import dumps

        print(dumps(result_json(result)))
    elif result.ok:
        freed = result.rss_freed_bytes
        line = f"{printable(result.target)}: {printable(result.action)} done"
        if result.rss_before_bytes is not None:
            line += f", RSS {human_bytes(result.rss_before_bytes)} -> {human_bytes(result.rss_after_bytes)}"
            if freed is not None:
                line += f" ({'freed ' + human_bytes(freed) if freed > 0 else 'nothing returned to the OS'})"
        if result.gpu_reserved_before_bytes is not None:
            line += (
                f", GPU reserved {human_bytes(result.gpu_reserved_before_bytes)}"
                f" -> {human_bytes(result.gpu_reserved_after_bytes)}"
            )
        if result.collected is not None:
            line += f", {result.collected} objects collected"
        print(line)
        if result.note:
            print(f"note: {printable(result.note)}")
    else:
        print(f"memdash: {printable(result.target)}: {printable(result.action)} failed: {printable(result.error)}", file=sys.stderr)
    return 0 if result.ok else 1


def run_dashboard(argv: Sequence[str]) -> int:
    args = dashboard_parser().parse_args(argv)
    config = _load(args)
    changes: dict[str, Any] = {}
    if args.interval is not None:
        if not 0.1 <= args.interval <= 3600:
            raise UsageError("--interval must be between 0.1 and 3600 seconds")
        changes["interval"] = args.interval
    if args.top is not None:
        if args.top < 1:
            raise UsageError("--top must be at least 1")
        changes["top"] = args.top
        changes["top_set"] = True
    if args.theme:
        changes["theme"] = args.theme
    elif os.environ.get("MEMDASH_THEME"):
        changes["theme"] = os.environ["MEMDASH_THEME"]
    if args.read_only:
        changes["read_only"] = True
    targets = _url_targets(args, config)
    changes["targets"] = targets
    config = dataclasses.replace(config, **changes)

    from memdash.tui.app import MemdashApp

    app = MemdashApp(config, gpu=not args.no_gpu, discover=not args.no_discover and config.discover,
                     services=not args.no_services)
    recorder = None
    if args.record is not None:
        from memdash.record.live import start_dashboard_recording
        from memdash.record.store import StoreError

        try:
            recorder = start_dashboard_recording(app.engine, args.record)
        except StoreError as exc:
            raise UsageError(f"--record: {exc}") from None
    try:
        app.run()
    finally:
        if recorder is not None:
            recorder.close()
    return app.return_code or 0


def run_demo(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="memdash demo", description="A demo service that embeds memdash.probe, with the dashboard on it.")
    p.add_argument("--serve-only", action="store_true", help="only run the demo service and print its URL")
    p.add_argument("--config", metavar="FILE", help="config file for the dashboard")
    args, rest = p.parse_known_args(argv)
    from memdash import demo

    if args.serve_only:
        return demo.main(["--serve-only", *rest])
    import secrets

    token = secrets.token_urlsafe(24)
    proc, url = demo.spawn_demo(token)
    os.environ["MEMDASH_DEMO_TOKEN"] = token
    try:
        config = load_config(args.config)
        target = TargetConfig(name="demo", url=url, kind="probe", token_env="MEMDASH_DEMO_TOKEN", interval=1.0)
        config = dataclasses.replace(config, targets=(*config.targets, target))
        from memdash.tui.app import MemdashApp

        app = MemdashApp(config, discover=False, select_target="demo")
        app.run()
        return app.return_code or 0
    finally:
        demo.stop_demo(proc)


#: Options that take a value: the word after them is never a command.
_VALUE_OPTIONS = frozenset({"--config", "--token-env", "-i", "--interval", "--theme", "--top"})


def split_command(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """The subcommand and the other words: global options may come before it
    (``memdash --config x.toml snapshot``) or after it."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            break
        if word in COMMANDS or word in RECORD_COMMANDS or word in ("fleet", "rules"):
            return word, [*argv[:i], *argv[i + 1 :]]
        if not word.startswith("-"):
            break  # a URL: the dashboard's
        i += 2 if word in _VALUE_OPTIONS else 1
    return None, list(argv)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    try:
        sys.stdout = open(os.devnull, "w")
    except OSError:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``memdash`` command; returns the exit status."""
    command, rest = split_command(list(sys.argv[1:] if argv is None else argv))
    argv = [command, *rest] if command else rest
    escape_log_output()  # log lines may quote remote text: escaped on stderr
    try:
        if command in ("fleet", "rules"):  # the fleet view over Prometheus (memdash/fleet/cli.py)
            from memdash.fleet.cli import run_fleet, run_rules

            return run_fleet(argv[1:]) if command == "fleet" else run_rules(argv[1:])
        if command in RECORD_COMMANDS:
            from memdash.record.cli import run_command

            return run_command(command, argv[1:])
        if command == "snapshot":
            return run_snapshot(argv[1:])
        if command == "cleanup":
            return run_cleanup(argv[1:])
        if command == "demo":
            return run_demo(argv[1:])
        if command == "check":  # memdash.check: what each target gave, and what it did not
            from memdash.check import run_check

            return run_check(argv[1:])
        if command == "serve":
            from memdash.serve import ServeError, run_serve

            try:
                return run_serve(argv[1:])
            except ServeError as exc:
                raise UsageError(str(exc)) from None
        return run_dashboard(argv)
    except ConfigError as exc:
        print(f"memdash: error: {printable(exc)}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"memdash: error: {printable(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `memdash snapshot | head`: the reader has gone, nothing to say
        _quiet_stdout()
        return 0
    except Exception as exc:  # never a traceback for users
        if os.environ.get("MEMDASH_DEBUG"):
            raise
        print(f"memdash: error: {type(exc).__name__}: {printable(exc)} (set MEMDASH_DEBUG=1 for details)", file=sys.stderr)
        return 3
