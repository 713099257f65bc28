#!/usr/bin/env python3
"""Mutation testing for memdash: plant one small fault at a time in a module and
see whether the tests notice.

Each mutant is one edit made from the module's AST (a comparison flipped, ``and``
swapped for ``or``, ``+`` for ``-``, ``max`` for ``min``, a constant off by one,
a statement removed, a condition negated, ...). The mutant is written into a
private *copy* of the repository under a temporary directory, never into the
checkout itself, and the tests that cover the module run there with
``PYTHONPATH`` pointing at the copy (so child processes the tests start import
the mutant too). A mutant is *killed* when those tests fail, *survived* when they
pass, *timed out* when they run past the limit.

    python bench/mutation.py --module memdash/levels.py
    python bench/mutation.py --module memdash/history.py --budget 300 --max-mutants 80
    python bench/mutation.py --module memdash/sources/prom.py --tests tests/remote/test_prometheus.py

Prints killed / survived / timed out and every survivor as a unified diff.
Not part of CI: it runs the module's tests once per mutant.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Which tests cover which module. Tests exercise modules through public entry
# points (the CLI in a subprocess, a probe over HTTP), so an import grep would
# miss most of them; this list is kept by hand. Paths are relative to the root.
TESTS: dict[str, list[str]] = {
    "memdash/levels.py": ["tests/test_levels.py", "tests/test_snapshot_cli.py", "tests/test_config.py",
                          "tests/test_worst_level.py"],
    "memdash/history.py": ["tests/test_history_growth.py", "tests/test_levels.py", "tests/test_processes.py",
                           "tests/test_history_lookup.py"],
    "memdash/collector.py": ["tests/test_worst_level.py", "tests/gpu/test_gpu_level.py", "tests/test_cgroup_limit_real.py",
                             "tests/test_snapshot_cli.py", "tests/test_processes.py", "tests/gpu/test_gpu_dashboard.py",
                             "tests/services/test_collector_services.py", "tests/services/test_collector_history.py",
                             "tests/services/test_service_level.py", "tests/gpu/test_gpu_collector.py"],
    "memdash/sources/jsonmap.py": ["tests/remote/test_json_targets.py", "tests/remote/test_readers_recorded.py",
                                   "tests/remote/test_readers.py", "tests/remote/test_hostile_numbers.py",
                                   "tests/remote/test_jsonmap_units.py",
                                   "tests/test_public_names.py::test_a_star_import_gives_every_declared_name[memdash.sources.jsonmap]"],
    "memdash/sources/prom.py": ["tests/remote/test_prometheus.py", "tests/remote/test_readers_recorded.py",
                                "tests/remote/test_readers.py", "tests/remote/test_exporters.py",
                                "tests/remote/test_hostile_numbers.py", "tests/remote/test_prom_pages.py"],
    "memdash/sources/probe_wire.py": ["tests/remote/test_wire.py", "tests/remote/test_probe_targets.py",
                                      "tests/remote/test_readers_recorded.py",
                                      "tests/remote/test_python_memory_wire.py", "tests/remote/test_wire_schema.py",
                                      "tests/remote/test_wire_generations.py"],
    "memdash/sources/cgroup.py": ["tests/test_cgroup.py", "tests/test_cgroup_limit_real.py", "tests/test_cgroup_api.py",
                                  "tests/test_public_names.py::test_a_star_import_gives_every_declared_name[memdash.sources.cgroup]"],
    # the reader under memdash.sources.cgroup (shared with the probe)
    "memdash/probe/cgroupfs.py": ["tests/test_cgroup.py", "tests/test_cgroup_limit_real.py", "tests/test_cgroup_api.py",
                                  "tests/test_unlimited.py", "tests/probe/test_probe_boundary.py"],
    "memdash/probe/core.py": ["tests/probe/test_probe_api.py", "tests/probe/test_probe_server.py",
                              "tests/probe/test_access_control.py", "tests/probe/test_rate_limits.py",
                              "tests/probe/test_wire_encoding.py", "tests/probe/test_http_errors.py",
                              "tests/probe/test_probe_local_only.py", "tests/probe/test_probe_core_names.py",
                              "tests/probe/test_probe_prefork.py"],  # the last: cleanups aimed at one worker
    "memdash/probe/cleanup.py": ["tests/probe/test_rate_limits.py", "tests/probe/test_probe_api.py",
                                 "tests/probe/test_wire_encoding.py", "tests/probe/test_probe_server.py",
                                 "tests/probe/test_tracemalloc_action.py", "tests/probe/test_cleanup_named_cache.py"],
    # the cleaner (rate limits, locks, receipts) split out of cleanup.py
    "memdash/probe/cleaner.py": ["tests/probe/test_rate_limits.py", "tests/probe/test_probe_api.py",
                                 "tests/probe/test_wire_encoding.py", "tests/probe/test_probe_server.py",
                                 "tests/probe/test_tracemalloc_action.py", "tests/probe/test_cleanup_named_cache.py"],
    "memdash/probe/server.py": ["tests/probe/test_access_control.py", "tests/probe/test_fork_in_a_worker.py", "tests/probe/test_http_errors.py",
                                "tests/probe/test_wire_encoding.py", "tests/probe/test_probe_server.py",
                                "tests/probe/test_rate_limits.py", "tests/probe/test_probe_frameworks.py",
                                "tests/probe/test_probe_server_loop.py", "tests/probe/test_probe_squatters.py"],
    "memdash/probe/unixserver.py": ["tests/probe/test_probe_server_loop.py", "tests/probe/test_probe_squatters.py",
                                    "tests/probe/test_probe_server.py", "tests/probe/test_access_control.py",
                                    "tests/probe/test_socket_path_length.py"],
    "memdash/probe/discovery.py": ["tests/probe/test_probe_discovery.py", "tests/remote/test_discovery.py",
                                   "tests/probe/test_rate_limits.py", "tests/probe/test_discovery_dir.py", "tests/probe/test_discovery_names.py",
                                   "tests/probe/test_socket_path_length.py"],
    # the engine's level logic is lines ~495-505 (--lines): the frame's worst level over local and targets
    "memdash/engine/core.py": ["tests/test_worst_level.py", "tests/engine/test_frames.py", "tests/test_snapshot_cli.py",
                               "tests/engine/test_target_services.py::test_a_target_with_no_memory_figure_is_unknown_never_healthy"],
    "memdash/probe/frontends.py": ["tests/probe/test_probe_frameworks.py", "tests/probe/test_access_control.py"],
}

COMPARE_SWAPS = {
    ast.Lt: ["<=", ">="], ast.LtE: ["<", ">"], ast.Gt: [">=", "<="], ast.GtE: [">", "<"],
    ast.Eq: ["!="], ast.NotEq: ["=="], ast.Is: ["is not"], ast.IsNot: ["is"], ast.In: ["not in"], ast.NotIn: ["in"],
}
COMPARE_TEXT = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
                ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
BINOP_SWAPS = {ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "/"), ast.Div: ("/", "*"),
               ast.FloorDiv: ("//", "*"), ast.Mod: ("%", "//"), ast.Pow: ("**", "*"),
               ast.BitAnd: ("&", "|"), ast.BitOr: ("|", "&"), ast.LShift: ("<<", ">>"), ast.RShift: (">>", "<<")}
NAME_SWAPS = {"max": "min", "min": "max", "any": "all", "all": "any", "True": "False", "False": "True",
              "break": "continue", "continue": "break"}


@dataclass(frozen=True)
class Mutant:
    """One planted fault: ``source`` is the whole mutated module."""

    line: int
    what: str
    source: str


class _Splicer:
    """Turns AST positions (line, UTF-8 byte column) into offsets in the text."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines = source.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, line: int, col_bytes: int) -> int:
        text = self.lines[line - 1]
        return self.starts[line - 1] + len(text.encode()[:col_bytes].decode())

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (self.offset(node.lineno, node.col_offset),  # type: ignore[attr-defined]
                self.offset(node.end_lineno, node.end_col_offset))  # type: ignore[attr-defined]

    def replace(self, start: int, end: int, text: str) -> str:
        return self.source[:start] + text + self.source[end:]


def _between(sp: _Splicer, left: ast.AST, right: ast.AST, word: str) -> tuple[int, int] | None:
    """Where the operator ``word`` stands between two operands (outside comments)."""
    start, end = sp.span(left)[1], sp.span(right)[0]
    gap = sp.source[start:end]
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(gap).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        tokens = []
    words = word.split()
    names = [t for t in tokens if t.type in (tokenize.OP, tokenize.NAME)]
    for i in range(len(names) - len(words) + 1):
        if [t.string for t in names[i:i + len(words)]] == words:
            first, last = names[i], names[i + len(words) - 1]
            sub = _Splicer(gap)  # tokenize columns are characters, not bytes
            return (start + sub.starts[first.start[0] - 1] + first.start[1],
                    start + sub.starts[last.end[0] - 1] + last.end[1])
    return None


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                ids.add(id(first))
                ids.add(id(first.value))
    return ids


def _skip_line(sp: _Splicer, line: int) -> bool:
    text = sp.lines[line - 1]
    return "pragma: no mutate" in text


def generate(source: str) -> list[Mutant]:
    """Every mutant of ``source`` that still compiles, each distinct."""
    tree = ast.parse(source)
    sp = _Splicer(source)
    docs = _docstring_nodes(tree)
    out: list[tuple[int, str, str]] = []

    def add(node: ast.AST, what: str, new_source: str) -> None:
        out.append((node.lineno, what, new_source))  # type: ignore[attr-defined]

    annotations: set[int] = set()
    for node in ast.walk(tree):
        for field in ("annotation", "returns"):
            sub = getattr(node, field, None)
            if sub is not None:
                annotations.update(id(n) for n in ast.walk(sub))

    for node in ast.walk(tree):
        if id(node) in annotations or not hasattr(node, "lineno") or _skip_line(sp, node.lineno):
            continue
        if isinstance(node, ast.Compare):
            left = node.left
            for op, right in zip(node.ops, node.comparators):
                where = _between(sp, left, right, COMPARE_TEXT[type(op)])
                if where:
                    for new in COMPARE_SWAPS[type(op)]:
                        add(node, f"{COMPARE_TEXT[type(op)]} -> {new}", sp.replace(*where, new))
                left = right
        elif isinstance(node, ast.BoolOp):
            word, other = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
            for a, b in zip(node.values, node.values[1:]):
                where = _between(sp, a, b, word)
                if where:
                    add(node, f"{word} -> {other}", sp.replace(*where, other))
        elif isinstance(node, (ast.BinOp, ast.AugAssign)):
            pair = BINOP_SWAPS.get(type(node.op))
            if pair is None:
                continue
            if isinstance(node, ast.BinOp):
                if isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
                    continue  # "%" formatting and string concatenation
                where = _between(sp, node.left, node.right, pair[0])
                if where:
                    add(node, f"{pair[0]} -> {pair[1]}", sp.replace(*where, pair[1]))
            else:
                where = _between(sp, node.target, node.value, pair[0] + "=")
                if where:
                    add(node, f"{pair[0]}= -> {pair[1]}=", sp.replace(*where, pair[1] + "="))
        elif isinstance(node, ast.UnaryOp):
            start, end = sp.span(node)
            inner_start = sp.span(node.operand)[0]
            if isinstance(node.op, ast.Not):
                add(node, "not x -> x", sp.replace(start, inner_start, ""))
            elif isinstance(node.op, ast.USub):
                add(node, "-x -> x", sp.replace(start, inner_start, ""))
        elif isinstance(node, ast.Name) and node.id in NAME_SWAPS and isinstance(node.ctx, ast.Load):
            add(node, f"{node.id} -> {NAME_SWAPS[node.id]}", sp.replace(*sp.span(node), NAME_SWAPS[node.id]))
        elif isinstance(node, ast.Constant) and id(node) not in docs:
            value = node.value
            start, end = sp.span(node)
            if isinstance(value, bool):
                add(node, f"{value} -> {not value}", sp.replace(start, end, str(not value)))
            elif isinstance(value, int):
                add(node, f"{value} -> {value + 1}", sp.replace(start, end, repr(value + 1)))
                if value != 0:
                    add(node, f"{value} -> 0", sp.replace(start, end, "0"))
            elif isinstance(value, float):
                add(node, f"{value!r} -> {value + 1!r}", sp.replace(start, end, repr(value + 1)))
                if value != 0:
                    add(node, f"{value!r} -> 0.0", sp.replace(start, end, "0.0"))
            elif isinstance(value, str) and value and sp.source[start:end][-1:] in "\"'" \
                    and sp.source[start:end][:1] in "\"'" and node.lineno == node.end_lineno:
                add(node, "string -> \"\"", sp.replace(start, end, '""'))
        elif isinstance(node, (ast.If, ast.While, ast.IfExp)):
            start, end = sp.span(node.test)
            add(node, "negate condition", sp.replace(start, end, f"not ({sp.source[start:end]})"))
        elif isinstance(node, ast.Return) and node.value is not None:
            if not (isinstance(node.value, ast.Constant) and node.value.value is None):
                start, end = sp.span(node.value)
                add(node, "return None", sp.replace(start, end, "None"))
        elif isinstance(node, ast.Break):
            add(node, "break -> continue", sp.replace(*sp.span(node), "continue"))
        elif isinstance(node, ast.Continue):
            add(node, "continue -> break", sp.replace(*sp.span(node), "break"))
        if isinstance(node, (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Raise, ast.Delete,
                             ast.If, ast.With, ast.For, ast.Try)) and id(node) not in docs:
            if isinstance(node, ast.AnnAssign) and node.value is None:
                continue
            start, end = sp.span(node)
            add(node, "remove statement", sp.replace(start, end, "pass"))

    seen = {source}
    mutants = []
    for line, what, new in out:
        if new in seen:
            continue
        seen.add(new)
        try:
            compile(new, "<mutant>", "exec")
        except (SyntaxError, ValueError):
            continue
        mutants.append(Mutant(line, what, new))
    mutants.sort(key=lambda m: m.line)
    return mutants


def _copy_repo(dest: Path) -> None:
    ignore = shutil.ignore_patterns(".git", ".venv", "venv", "__pycache__", "*.pyc", "out", ".pytest_cache",
                                    "build", "dist", "*.egg-info", ".coverage*", "snapshot_report.html")
    for name in ("memdash", "tests", "themes", "bench"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dest / name)
    nvml = ROOT / "tests" / "nvml" / "build"
    if nvml.is_dir():  # the fake NVML is built once per checkout; reuse it
        shutil.copytree(nvml, dest / "tests" / "nvml" / "build")


def _copy_parent() -> str | None:
    """Where the private copy goes: not under /tmp, because some tests run their
    children in a mount namespace with an empty private /tmp (tests/probe/
    test_probe_squatters.py), where a copy under /tmp would not exist."""
    chosen = os.environ.get("MEMDASH_MUTATION_TMPDIR")
    if chosen:
        return chosen
    return "/var/tmp" if os.path.isdir("/var/tmp") and os.access("/var/tmp", os.W_OK) else None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM/SIGHUP: stop like Ctrl-C, print what was measured, remove the copy


def _run(copy: Path, tests: list[str], timeout: float, extra: list[str]) -> tuple[str, float]:
    """Run ``tests`` in ``copy``; ``killed``, ``survived``, ``timeout`` or ``error``."""
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    env.pop("CI", None)
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header",
           "-o", "addopts=", *extra, *tests]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "timeout", time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    elapsed = time.monotonic() - t0
    if proc.returncode == 0:
        return "survived", elapsed
    # 2 (interrupted: an import error during collection counts as caught), 3, 4, 5
    tail = out.decode(errors="replace").strip().splitlines()
    if proc.returncode == 1:
        return "killed:" + " | ".join(line for line in tail if line.startswith(("FAILED", "ERROR")))[:500], elapsed
    return ("killed" if proc.returncode == 2 else "error:" + " | ".join(tail[-3:])), elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", required=True, help="the module to mutate, e.g. memdash/levels.py")
    ap.add_argument("--tests", nargs="*", help="test files or node ids to run (default: the module's list in TESTS)")
    ap.add_argument("--budget", type=float, default=600.0, help="stop starting mutants after this many seconds")
    ap.add_argument("--max-mutants", type=int, default=0, help="test at most N mutants, an even sample (0: all)")
    ap.add_argument("--timeout", type=float, default=0.0,
                    help="seconds per mutant (default: 3x the clean run + 15 s)")
    ap.add_argument("--seed", type=int, default=1, help="seed for the sample")
    ap.add_argument("--lines", help="only mutate lines in these ranges, e.g. 40-90 or 40-90,120,130-140")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--pytest-arg", action="append", default=[], help="extra argument for pytest")
    args = ap.parse_args(argv)

    module = Path(args.module)
    rel = module.resolve().relative_to(ROOT).as_posix() if module.is_absolute() else module.as_posix()
    path = ROOT / rel
    if not path.is_file():
        print(f"mutation: no such module: {rel}", file=sys.stderr)
        return 2
    source = path.read_text()
    mutants = generate(source)
    if args.lines:
        spans = []
        for part in args.lines.split(","):
            lo, _, hi = part.strip().partition("-")
            spans.append((int(lo), int(hi or lo)))
        mutants = [m for m in mutants if any(lo <= m.line <= hi for lo, hi in spans)]
    total = len(mutants)
    if args.max_mutants and total > args.max_mutants:
        keep = sorted(random.Random(args.seed).sample(range(total), args.max_mutants))
        mutants = [mutants[i] for i in keep]
    if args.list:
        for m in mutants:
            print(f"{rel}:{m.line}: {m.what}")
        print(f"{len(mutants)} of {total} mutants")
        return 0
    tests = args.tests or [t for t in TESTS.get(rel, []) if (ROOT / t.split("::")[0]).exists()]
    if not tests:
        print(f"mutation: no tests listed for {rel}; pass --tests", file=sys.stderr)
        return 2

    counts = {"killed": 0, "survived": 0, "timeout": 0, "error": 0}
    survivors: list[Mutant] = []
    started = time.monotonic()
    interrupted = False
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    with tempfile.TemporaryDirectory(prefix="memdash-mutation-", dir=_copy_parent()) as tmp:
        copy = Path(tmp)
        _copy_repo(copy)
        target = copy / rel
        where = subprocess.run([sys.executable, "-c", "import memdash; print(memdash.__file__)"], cwd=copy,
                               env=dict(os.environ, PYTHONPATH=str(copy)), capture_output=True, text=True)
        if not where.stdout.strip().startswith(str(copy)):
            print(f"mutation: the copy does not shadow the installed memdash ({where.stdout.strip()})",
                  file=sys.stderr)
            return 2
        status, clean = _run(copy, tests, 3600, args.pytest_arg)
        if status != "survived":
            print(f"mutation: the tests fail on the unmutated code ({status}); fix that first", file=sys.stderr)
            return 2
        timeout = args.timeout or 3 * clean + 15
        print(f"{rel}: {len(mutants)} of {total} mutants; tests: {' '.join(tests)}")
        print(f"clean run {clean:.1f} s; per-mutant timeout {timeout:.0f} s; budget {args.budget:.0f} s")
        done = 0
        try:
            for m in mutants:
                if time.monotonic() - started > args.budget:
                    break
                target.write_text(m.source)
                try:
                    status, took = _run(copy, tests, timeout, args.pytest_arg)
                finally:
                    target.write_text(source)
                done += 1
                key = status.split(":")[0]
                counts[key] += 1
                mark = {"killed": ".", "survived": "S", "timeout": "T"}.get(key, "E")
                print(f"  {mark} {rel}:{m.line} {m.what} ({status if key == 'error' else key}, {took:.1f} s)",
                      flush=True)
                if key == "survived":
                    survivors.append(m)
        except KeyboardInterrupt:
            interrupted = True
    # The checkout itself is never written; say so, since that is what matters after Ctrl-C.
    assert path.read_text() == source, f"{rel} changed while mutating"
    for m in survivors:
        print()
        print(f"--- survivor {rel}:{m.line}: {m.what}")
        sys.stdout.writelines(difflib.unified_diff(source.splitlines(keepends=True), m.source.splitlines(keepends=True),
                                                   f"a/{rel}", f"b/{rel}", n=1))
    tested = sum(counts.values())
    rate = 100.0 * (counts["killed"] + counts["timeout"]) / tested if tested else 0.0
    print()
    print(f"{rel}: {tested} tested of {total} ({len(mutants)} selected): killed {counts['killed']}, "
          f"survived {counts['survived']}, timed out {counts['timeout']}, errors {counts['error']}; "
          f"kill rate {rate:.0f} % (timeouts count as killed); {time.monotonic() - started:.0f} s"
          + (" (interrupted)" if interrupted else ""))
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
