"""``memdash serve``: the dashboard in a browser, through textual-serve.

Each browser tab gets its own ``memdash`` process (textual-serve starts one per
websocket), run with the same config and targets. Safe by default: it listens
on loopback only unless ``--public`` is given, and the served dashboards are
read-only (no cleanup keys) unless ``--allow-cleanup`` is given.
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import sys
from typing import Sequence

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class ServeError(Exception):
    """A serve command line that must not run: one line, exit 2."""


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``: reachable from this box only."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memdash serve",
        description="Serve the dashboard to a browser (textual-serve). Loopback and read-only unless told otherwise.",
    )
    p.add_argument("urls", nargs="*", metavar="URL", help="services to poll, as for the dashboard")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--public", action="store_true", help="allow a host that is not loopback (anyone who reaches it sees your processes)")
    p.add_argument("--allow-cleanup", action="store_true", help="offer cleanup keys in the browser (default: read-only)")
    p.add_argument("--config", metavar="FILE", help="config file for the served dashboards")
    p.add_argument("--token-env", metavar="NAME", help="environment variable holding the bearer token for URL targets")
    p.add_argument("-i", "--interval", type=float, metavar="SECONDS", help="refresh interval")
    p.add_argument("--theme", help="theme name")
    p.add_argument("--no-gpu", action="store_true", help="do not poll NVIDIA GPUs")
    p.add_argument("--no-discover", action="store_true", help="do not look for local probes on their Unix sockets")
    return p


def dashboard_command(args: argparse.Namespace, python: str = sys.executable) -> list[str]:
    """The ``memdash`` command line each browser tab runs."""
    argv = [python, "-m", "memdash"]
    if not args.allow_cleanup:
        argv.append("--read-only")
    for flag, value in (("--config", args.config), ("--token-env", args.token_env), ("--theme", args.theme),
                        ("--interval", None if args.interval is None else str(args.interval))):
        if value is not None:
            argv += [flag, value]
    if args.no_gpu:
        argv.append("--no-gpu")
    if args.no_discover:
        argv.append("--no-discover")
    return argv + list(args.urls)


def run_serve(argv: Sequence[str]) -> int:
    """Parse, check and serve; returns the exit status."""
    args = serve_parser().parse_args(argv)
    if not is_loopback(args.host) and not args.public:
        raise ServeError(f"--host {args.host} is not loopback: add --public to serve it beyond this machine")
    if not 0 < args.port < 65536:
        raise ServeError("--port must be between 1 and 65535")
    try:
        from textual_serve.server import Server
    except ImportError:
        raise ServeError("memdash serve needs textual-serve: pip install 'memdash[serve]'") from None
    command = shlex.join(dashboard_command(args))
    mode = "cleanup keys on" if args.allow_cleanup else "read-only"
    print(f"memdash serve: http://{args.host}:{args.port}/ ({mode}; Ctrl+C stops)", file=sys.stderr, flush=True)
    Server(command, host=args.host, port=args.port, title="memdash").serve()
    return 0
