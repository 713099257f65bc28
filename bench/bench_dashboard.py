"""What the memdash dashboard costs to run, next to htop, glances and btop.

Method (tech-notes section 10, "Baselines"): with the standard load running
(bench/load.py: 500 ``sleep`` + 4 x 208 MiB Python processes, ~580 processes
on the box), each tool runs at a 1 s refresh in a detached 200x50 tmux pane.
The harness finds the tool's own process (not the pane shell; for memdash the
Python process running it) and reads ``/proc/PID/stat`` utime+stime at t=10 s
and at the end, scaled to CPU seconds per 60 s; VmRSS at every minute mark.
Each figure is the median over ``--runs`` runs, tools interleaved per run.

    python bench/bench_dashboard.py                        # 3 x 60 s, all tools
    python bench/bench_dashboard.py --seconds 20 --runs 1 --tools htop,glances
    python bench/bench_dashboard.py --first-frame --snapshot
    python bench/bench_dashboard.py --soak --skip-steady   # memdash, 5 min RSS growth
    python bench/bench_dashboard.py --targets 200 --tools memdash,htop --runs 1 --seconds 40

Extra measurements:

* ``--first-frame``: median of ``--starts`` (5) starts, the tools taking
  turns start by start; time from spawning the pane until
  ``capture-pane`` (polled every 10 ms) shows the tool's screen ("RSS" for
  memdash, "PID" for htop and glances, "Pid" for btop).
* ``--snapshot``: wall time of ``memdash snapshot --json --all``, median of 5.
* ``--soak``: memdash alone for ``--soak-seconds`` (default 300): RSS at
  minute 1 and minute 5 and the growth between them.
* ``--targets N``: one more tool, ``memdash+N``: the whole dashboard polling N
  live probe targets at 1 s (recorded probe documents served over kept-alive
  HTTP/1.1 by ``bench_targets.py --role host`` children on loopback), run and
  measured like the others, in the same invocation as htop.

Targets: memdash CPU <= 0.5 x htop and below glances; memdash RSS <= 60 MB;
with N targets, at most 5 % of one core and RSS <= 80 MB; soak growth < 1 MB;
snapshot < 1 s; first frame <= 0.5 s.  "MB" here is MiB (VmRSS / 1024).

Peers are installed on demand: htop and btop with apt-get, glances into its
own venv under bench/out/peers-venv (never into the project's environment).
Results are merged into bench/out/dashboard.json (``--fresh`` starts over);
the last screen of each tool is saved under bench/out/screens/.

Everything started here (the load, a private tmux server, the tools) is killed
on exit, Ctrl-C, SIGTERM/SIGHUP or error.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as _dt
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
PEERS_VENV = OUT / "peers-venv"
SCREENS = OUT / "screens"
RESULTS = OUT / "dashboard.json"

sys.path.insert(0, str(HERE))
from load import Load  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024
WIDTH, HEIGHT = 200, 50
CPU_FROM_S = 10.0  # CPU is counted from t=10 s, past start-up

TARGET_CPU_VS_HTOP = 0.5
TARGET_RSS_MB = 60.0
TARGET_TARGETS_CORE_PERCENT = 5.0
TARGET_TARGETS_RSS_MB = 80.0
TARGET_FIRST_FRAME_S = 0.5
TARGET_SOAK_GROWTH_MB = 1.0
TARGET_SNAPSHOT_S = 1.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# /proc helpers


def read_stat(pid: int) -> tuple[float, int, int] | None:
    """(utime+stime seconds, starttime ticks, ppid) of ``pid``, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = data[data.rindex(b")") + 2 :].split()
    # rest[0] is field 3 (state): ppid=4, utime=14, stime=15, starttime=22
    return (int(rest[11]) + int(rest[12])) / CLK_TCK, int(rest[19]), int(rest[1])


def cpu_seconds(pid: int) -> float | None:
    st = read_stat(pid)
    return None if st is None else st[0]


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except (FileNotFoundError, ProcessLookupError):
        return []


def descendants(root: int) -> list[int]:
    """``root`` and all its descendants (one /proc scan)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = read_stat(int(name))
            if st is not None:
                children.setdefault(st[2], []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


LOAD_PIDS: set[int] = set()  # the standard load's pids, filled in by main()
FOREIGN_MB = 50.0


def foreign_big(exclude: set[int]) -> list[list[Any]]:
    """[pid, RSS MB, command] of processes over FOREIGN_MB that are neither the
    load nor the tool. memdash reads smaps_rollup (cost grows with RSS) for its
    top rows, so another engineer's big process on the box inflates its CPU."""
    out = []
    page_mb = os.sysconf("SC_PAGE_SIZE") / MIB
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in exclude or int(name) in LOAD_PIDS:
            continue
        try:
            with open(f"/proc/{name}/statm") as f:
                mb = int(f.read().split()[1]) * page_mb
        except (OSError, IndexError, ValueError):
            continue
        if mb > FOREIGN_MB:
            out.append([int(name), round(mb, 1), " ".join(cmdline(int(name)))[:80]])
    return sorted(out, key=lambda r: -r[1])


def process_count() -> int:
    return sum(1 for n in os.listdir("/proc") if n.isdigit())


def alive(pid: int, starttime: int) -> bool:
    st = read_stat(pid)
    return st is not None and st[1] == starttime


# ---------------------------------------------------------------------------
# tools


def _argv_names(argv: list[str]) -> list[str]:
    return [os.path.basename(a) for a in argv[:2]]


def _python_tool(name: str) -> Callable[[list[str]], bool]:
    def match(argv: list[str]) -> bool:
        return name in _argv_names(argv) or argv[1:3] == ["-m", name]

    return match


def _binary_tool(name: str) -> Callable[[list[str]], bool]:
    return lambda argv: bool(argv) and os.path.basename(argv[0]) == name


@dataclass
class Tool:
    name: str
    argv: list[str]
    marker: str  # text whose appearance in the pane means "first frame drawn"
    match: Callable[[list[str]], bool]  # is this cmdline the tool's own process?
    env: dict[str, str] = field(default_factory=dict)
    version: str = "?"
    error: str | None = None  # set when the tool cannot run

    def command(self) -> str:
        env = [f"{k}={v}" for k, v in self.env.items()]
        prefix = ["env", *env] if env else []
        return "exec " + shlex.join(prefix + self.argv)


def _run(argv: list[str], timeout: float = 600, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def _apt_install(pkg: str) -> str | None:
    """apt-get install ``pkg`` (apt-get update and retry once); None on success."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log(f"installing {pkg} with apt-get")
    r = _run(["apt-get", "install", "-y", "--no-install-recommends", pkg], env=env)
    if r.returncode != 0:
        log("apt-get install failed; running apt-get update and retrying")
        _run(["apt-get", "update"], env=env)
        r = _run(["apt-get", "install", "-y", "--no-install-recommends", pkg], env=env)
    if r.returncode != 0:
        return f"apt-get install {pkg} failed: {(r.stderr or r.stdout).strip()[-300:]}"
    return None


def _first_line(argv: list[str]) -> str:
    try:
        r = _run(argv, timeout=30)
        text = (r.stdout or r.stderr).strip()
        return text.splitlines()[0] if text else "?"
    except Exception as exc:  # pragma: no cover
        return f"? ({exc})"


def default_memdash() -> str:
    beside = Path(sys.executable).parent / "memdash"
    if beside.exists():
        return str(beside)
    return shutil.which("memdash") or "/work/venv/bin/memdash"


def make_memdash(path: str) -> Tool:
    tool = Tool("memdash", [path, "--interval", "1"], "RSS", _python_tool("memdash"))
    try:
        r = _run([path, "--help"], timeout=30)
        if r.returncode != 0:
            tool.error = f"`memdash --help` exited {r.returncode}: {(r.stderr or r.stdout).strip()[-300:]}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        tool.error = f"`memdash --help` failed: {exc}"
    if tool.error is None:
        py = Path(path).parent / "python"
        if py.exists():
            # An installed package carries .pyc files; an editable checkout under
            # PYTHONDONTWRITEBYTECODE would be compiled from source on every start.
            import memdash as _md

            _run([str(py), "-m", "compileall", "-q", str(Path(_md.__file__).parent)], timeout=120)
            tool.version = _run(
                [str(py), "-c", "import memdash, importlib.metadata as m; "
                 "print('memdash', memdash.__version__, 'textual', m.version('textual'))"]).stdout.strip() or "?"
    return tool


def targets_config(hosts: "TargetHosts") -> Path:
    """A config file naming every server of ``hosts`` as a probe target polled every second."""
    config = OUT / f"targets-{len(hosts.ports)}.toml"
    OUT.mkdir(parents=True, exist_ok=True)
    config.write_text("discover = false\n" + "".join(
        f'\n[[targets]]\nname = "t{i:03d}"\nurl = "http://127.0.0.1:{port}/"\nkind = "probe"\ninterval = 1.0\n'
        for i, port in enumerate(hosts.ports)))
    return config


def make_memdash_targets(path: str, config: Path, count: int) -> Tool:
    """memdash polling ``count`` live probe targets at 1 s: the whole dashboard."""
    base = make_memdash(path)
    return Tool(f"memdash+{count}", [path, "--config", str(config), "--interval", "1", "--no-discover"], "RSS",
                _python_tool("memdash"), version=base.version, error=base.error)


def make_memdash_peer(path: str, name: str, args: list[str]) -> Tool:
    """Another memdash build, installed in its own venv (``pip install DIR`` of
    ``git archive main``): a peer measured in the same invocation."""
    tool = Tool(name, [path, *args], "RSS", _python_tool("memdash"))
    r = _run([path, "--version"], timeout=30)
    if r.returncode != 0:
        tool.error = f"`{path} --version` exited {r.returncode}: {(r.stderr or r.stdout).strip()[-300:]}"
    else:
        tool.version = f"{r.stdout.strip()} ({path})"
    return tool


class TargetHosts:
    """``count`` loopback servers answering a recorded probe document (kept-alive
    HTTP/1.1), in a few child processes of ``bench_targets.py``."""

    def __init__(self, count: int, processes: int = 4) -> None:
        per = -(-count // processes)
        self.procs: list[subprocess.Popen[str]] = []
        self.ports: list[int] = []
        script = str(HERE / "bench_targets.py")
        for i in range(processes):
            n = min(per, count - i * per)
            if n <= 0:
                break
            p = subprocess.Popen([sys.executable, script, "--role", "host", "--server", "recorded", "--count", str(n)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            self.procs.append(p)
        for p in self.procs:
            self.ports.extend(json.loads(p.stdout.readline()))  # type: ignore[union-attr]
        self.pids = {p.pid for p in self.procs}

    def stop(self) -> None:
        for p in self.procs:
            if p.stdin:
                p.stdin.close()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stdout:
                p.stdout.close()
        self.procs.clear()


def make_textual_floor() -> Tool:
    """A bare Textual app (bench/textual_floor.py): what Textual alone costs here."""
    script = Path(__file__).resolve().parent / "textual_floor.py"
    tool = Tool("textual", [sys.executable, str(script)], "RSS",
                lambda cmd: any(part.endswith("textual_floor.py") for part in cmd))
    try:
        import textual

        tool.version = f"textual {textual.__version__} (bare app)"
    except ImportError as exc:
        tool.error = f"textual not importable: {exc}"
    return tool


def make_htop() -> Tool:
    tool = Tool("htop", ["htop", "-d", "10"], "PID", _binary_tool("htop"))
    if shutil.which("htop") is None:
        tool.error = _apt_install("htop")
    if tool.error is None:
        tool.version = _first_line(["htop", "--version"])
    return tool


def make_btop() -> Tool:
    conf_home = OUT / "btop-config"
    tool = Tool("btop", ["btop"], "Pid", _binary_tool("btop"),
                env={"XDG_CONFIG_HOME": str(conf_home), "LANG": "C.UTF-8"})
    if shutil.which("btop") is None:
        tool.error = _apt_install("btop")
    if tool.error is None:
        (conf_home / "btop").mkdir(parents=True, exist_ok=True)
        (conf_home / "btop" / "btop.conf").write_text("update_ms = 1000\n")
        tool.version = _first_line(["btop", "--version"])
    return tool


def make_glances(spec: str) -> Tool:
    exe = PEERS_VENV / "bin" / "glances"
    tool = Tool(
        "glances",
        [str(exe), "-t", "1", "--disable-check-update", "--disable-plugin", "ports"],
        "PID",
        _python_tool("glances"),
    )
    if not exe.exists():
        log(f"installing {spec} into {PEERS_VENV}")
        r = _run([sys.executable, "-m", "venv", "--clear", str(PEERS_VENV)])
        if r.returncode == 0:
            r = _run([str(PEERS_VENV / "bin" / "pip"), "install", "-q",
                      "--disable-pip-version-check", spec])
        if r.returncode != 0 or not exe.exists():
            tool.error = f"pip install {spec} failed: {(r.stderr or r.stdout).strip()[-300:]}"
    if tool.error is None:
        tool.version = _first_line([str(exe), "--version"])
    return tool


# ---------------------------------------------------------------------------
# tmux


class Tmux:
    """A private tmux server (own socket), killed with everything in it at exit."""

    def __init__(self) -> None:
        self.socket = f"memdash-bench-{os.getpid()}"
        OUT.mkdir(parents=True, exist_ok=True)
        self.conf = OUT / "tmux.conf"
        self.conf.write_text("set -g exit-empty off\nset -g remain-on-exit on\n")
        self.panes: dict[str, tuple[int, int]] = {}  # session -> (pane pid, starttime)
        self.started = False
        self.env = dict(os.environ)
        self.env.pop("TMUX", None)
        if "UTF-8" not in self.env.get("LANG", "").upper().replace("UTF8", "UTF-8"):
            self.env["LANG"] = "C.UTF-8"

    def __call__(self, *args: str, check: bool = True) -> str:
        r = subprocess.run(["tmux", "-L", self.socket, "-f", str(self.conf), *args],
                           capture_output=True, text=True, env=self.env, timeout=30)
        if check and r.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def start(self) -> None:
        self("start-server")
        self.started = True

    def new(self, session: str, command: str) -> int:
        """Start ``command`` in a detached 200x50 session; return the pane's pid."""
        out = self("new-session", "-d", "-s", session, "-x", str(WIDTH), "-y", str(HEIGHT),
                   "-P", "-F", "#{pane_pid}", command)
        pid = int(out.strip())
        st = read_stat(pid)
        self.panes[session] = (pid, st[1] if st else -1)
        return pid

    def capture(self, session: str) -> str:
        return self("capture-pane", "-p", "-t", session, check=False)

    def kill(self, session: str, wait: float = 3.0) -> None:
        """Kill a session and make sure the pane's processes are gone."""
        pane = self.panes.pop(session, None)
        self("kill-session", "-t", session, check=False)
        if pane is None:
            return
        pid, start = pane
        deadline = time.monotonic() + wait
        while alive(pid, start) and time.monotonic() < deadline:
            time.sleep(0.02)
        if alive(pid, start):
            _kill_group(pid)

    def cleanup(self) -> None:
        if not self.started:
            return
        panes = list(self.panes.values())
        self("kill-server", check=False)
        deadline = time.monotonic() + 3
        while any(alive(p, s) for p, s in panes) and time.monotonic() < deadline:
            time.sleep(0.02)
        for p, s in panes:
            if alive(p, s):
                _kill_group(p)
        self.panes.clear()
        self.started = False
        sock = Path(f"/tmp/tmux-{os.getuid()}") / self.socket
        if "TMUX_TMPDIR" not in self.env:
            sock.unlink(missing_ok=True)


def _kill_group(pid: int) -> None:
    # A tmux pane is its own session and process group, led by the pane pid.
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass


def find_tool_pid(tool: Tool, pane_pid: int, timeout: float = 15.0) -> int:
    """The tool's own process: the pane pid after ``exec``, or a descendant."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in descendants(pane_pid):
            if tool.match(cmdline(pid)):
                return pid
        if read_stat(pane_pid) is None:
            break
        time.sleep(0.01)
    raise RuntimeError(f"{tool.name}: process not found under pane pid {pane_pid}")


# ---------------------------------------------------------------------------
# measurements


class ToolDied(RuntimeError):
    pass


def _squeeze(screen: str, limit: int = 1500) -> str:
    """A pane capture without its blank lines, for error messages."""
    return "\n".join(line.rstrip() for line in screen.splitlines() if line.strip())[-limit:]


def _sleep_until(t: float, pid: int, start: int, tool: Tool, tmux: Tmux, session: str) -> None:
    while True:
        left = t - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 1.0))
        if not alive(pid, start):
            screen = tmux.capture(session)
            raise ToolDied(f"{tool.name} exited early; last screen:\n{_squeeze(screen)}")


def steady_run(tool: Tool, tmux: Tmux, seconds: float, run_no: int) -> dict[str, Any]:
    """One run of ``seconds``: CPU from t=10 s to the end, RSS at minute marks."""
    session = f"{tool.name}-{run_no}"
    t0 = time.monotonic()
    pane = tmux.new(session, tool.command())
    try:
        try:
            pid = find_tool_pid(tool, pane)
            st = read_stat(pid)
            if st is None:
                raise RuntimeError(f"{tool.name}: process {pid} is gone")
        except RuntimeError as exc:
            time.sleep(0.2)
            raise ToolDied(f"{exc}; screen:\n{_squeeze(tmux.capture(session))}") from None
        start = st[1]
        _sleep_until(t0 + CPU_FROM_S, pid, start, tool, tmux, session)
        t_a, cpu_a = time.monotonic(), cpu_seconds(pid)
        rss_marks: dict[str, float | None] = {}
        for minute in range(1, int(seconds // 60) + 1):
            _sleep_until(t0 + 60 * minute, pid, start, tool, tmux, session)
            rss_marks[f"{minute * 60}s"] = rss_mb(pid)
        _sleep_until(t0 + seconds, pid, start, tool, tmux, session)
        t_b, cpu_b, rss_end = time.monotonic(), cpu_seconds(pid), rss_mb(pid)
        tree = descendants(pid)
        if cpu_a is None or cpu_b is None or rss_end is None:
            raise ToolDied(f"{tool.name} exited during the run")
        screen = tmux.capture(session)
        SCREENS.mkdir(parents=True, exist_ok=True)
        (SCREENS / f"{tool.name}.txt").write_text(screen)
        if tool.marker not in screen:
            log(f"warning: {tool.name}'s last screen does not contain {tool.marker!r}")
        return {
            "cpu_s_per_60s": (cpu_b - cpu_a) / (t_b - t_a) * 60,
            "cpu_total_s": cpu_b,
            "rss_mb": rss_end,
            "rss_mb_at": rss_marks,
            "seconds": round(t_b - t0, 2),
            "pid": pid,
            "child_pids": tree[1:],
            "processes_on_box": process_count(),
            "foreign_big_processes": foreign_big({pid, os.getpid()}),
        }
    finally:
        tmux.kill(session)


def first_frame(tool: Tool, tmux: Tmux, start: int, timeout: float = 30.0) -> float:
    """Seconds from spawning the pane until its text shows ``tool.marker`` (one start)."""
    session = f"ff-{tool.name}-{start}"
    t0 = time.monotonic()
    tmux.new(session, tool.command())
    try:
        while True:
            if tool.marker in tmux.capture(session):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"{tool.name}: no {tool.marker!r} on screen after {timeout} s")
            time.sleep(0.01)
    finally:
        tmux.kill(session)
        time.sleep(0.5)


def soak(tool: Tool, tmux: Tmux, seconds: float) -> dict[str, Any]:
    log(f"soak: {tool.name} for {seconds:.0f} s")
    r = steady_run(tool, tmux, seconds, 0)
    at = r["rss_mb_at"]
    r1, r5 = at.get("60s"), at.get("300s")
    r["rss_mb_minute_1"] = r1
    r["rss_mb_minute_5"] = r5
    r["growth_mb"] = None if r1 is None or r5 is None else r5 - r1
    # With a longer soak, growth after minute 5 tells a bounded buffer still
    # filling up (it flattens) from a leak (it keeps going).
    last = r["rss_mb"]
    r["growth_mb_after_minute_5"] = None if r5 is None or seconds < 360 else last - r5
    return r


def snapshot_times(memdash: str, n: int = 5) -> dict[str, Any]:
    argv = [memdash, "snapshot", "--json", "--all"]
    times, rows, codes = [], None, []
    for _ in range(n):
        t0 = time.monotonic()
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        times.append(time.monotonic() - t0)
        codes.append(r.returncode)
        # Exit status is the memory level: 0 ok, 1 warning, 2 critical; 3+ is a failure.
        if r.returncode not in (0, 1, 2):
            raise RuntimeError(f"{shlex.join(argv)} exited {r.returncode}: {r.stderr.strip()[-500:]}")
        try:
            doc = json.loads(r.stdout)
        except json.JSONDecodeError as exc:
            raise RuntimeError(f"{shlex.join(argv)} printed invalid JSON: {exc}") from None
        rows = _count_processes(doc)
    return {"command": shlex.join(argv), "samples_s": times,
            "median_s": statistics.median(times), "processes_in_output": rows, "exit_codes": codes}


def _count_processes(doc: Any) -> int | None:
    if isinstance(doc, list):
        return len(doc)
    if isinstance(doc, dict):
        for key in ("processes", "procs", "rows"):
            if isinstance(doc.get(key), list):
                return len(doc[key])
        for v in doc.values():
            n = _count_processes(v) if isinstance(v, (dict, list)) else None
            if n:
                return n
    return None


# ---------------------------------------------------------------------------
# results


def load_results(fresh: bool) -> dict[str, Any]:
    if not fresh and RESULTS.exists():
        try:
            return json.loads(RESULTS.read_text())
        except json.JSONDecodeError:
            pass
    return {}


def save_results(results: dict[str, Any]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    tmp.replace(RESULTS)


def _fmt(v: float | None, nd: int = 2) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def report(results: dict[str, Any], now_id: str) -> tuple[str, dict[str, Any]]:
    steady = results.get("steady", {})
    ff = results.get("first_frame", {})
    names = list(dict.fromkeys([*steady, *ff]))
    order = ["memdash", "base", "htop", "btop", "glances"]
    names.sort(key=lambda n: order.index(n) if n in order else len(order))
    lines = [f"{'tool':<12} {'CPU s/60 s':>10} {'% core':>7} {'RSS MB':>7} {'first frame s':>13} {'runs':>4}  version"]
    stale = False
    for n in names:
        s, f = steady.get(n, {}), ff.get(n, {})
        mark = ""
        if (s and s.get("run_id") != now_id) or (f and f.get("run_id") != now_id):
            mark, stale = " *", True
        core = None if s.get("cpu_s_per_60s") is None else s["cpu_s_per_60s"] / 60 * 100
        lines.append(
            f"{n:<12} {_fmt(s.get('cpu_s_per_60s')):>10} {_fmt(core, 2):>7} {_fmt(s.get('rss_mb'), 1):>7} "
            f"{_fmt(f.get('median_s'), 3):>13} {s.get('runs_done', '-'):>4}  "
            f"{s.get('version') or f.get('version', '')}{mark}")
    if stale:
        lines.append("  * some figures come from an earlier invocation (see bench/out/dashboard.json)")

    checks: dict[str, Any] = {}
    md = steady.get("memdash", {})
    ht = steady.get("htop", {})
    gl = steady.get("glances", {})
    if md.get("cpu_s_per_60s") is not None and ht.get("cpu_s_per_60s"):
        ratio = md["cpu_s_per_60s"] / ht["cpu_s_per_60s"]
        checks["cpu_vs_htop"] = {"value": ratio, "target": f"<= {TARGET_CPU_VS_HTOP}",
                                 "ok": ratio <= TARGET_CPU_VS_HTOP}
    base = steady.get("base", {})
    if base.get("cpu_s_per_60s") is not None and ht.get("cpu_s_per_60s"):
        checks["base_vs_htop"] = {"value": base["cpu_s_per_60s"] / ht["cpu_s_per_60s"], "target": "-", "ok": True,
                                  "label": "base CPU / htop CPU (for reading)"}
    if md.get("cpu_s_per_60s") is not None and gl.get("cpu_s_per_60s"):
        ratio = md["cpu_s_per_60s"] / gl["cpu_s_per_60s"]
        checks["cpu_vs_glances"] = {"value": ratio, "target": "< 1", "ok": ratio < 1}
    if md.get("rss_mb") is not None:
        checks["rss_mb"] = {"value": md["rss_mb"], "target": f"<= {TARGET_RSS_MB}",
                            "ok": md["rss_mb"] <= TARGET_RSS_MB}
    for name, entry in steady.items():
        if name.startswith(("memdash+", "base+")) and entry.get("cpu_s_per_60s") is not None:
            core = entry["cpu_s_per_60s"] / 60 * 100
            checks[f"{name}_core_percent"] = {"value": core, "target": f"<= {TARGET_TARGETS_CORE_PERCENT:g}",
                                              "ok": core <= TARGET_TARGETS_CORE_PERCENT,
                                              "label": f"{name} CPU, % of one core"}
            checks[f"{name}_rss_mb"] = {"value": entry["rss_mb"], "target": f"<= {TARGET_TARGETS_RSS_MB:g}",
                                        "ok": entry["rss_mb"] <= TARGET_TARGETS_RSS_MB, "label": f"{name} RSS MB"}
            if ht.get("cpu_s_per_60s"):
                checks[f"{name}_vs_htop"] = {"value": entry["cpu_s_per_60s"] / ht["cpu_s_per_60s"], "target": "-",
                                             "ok": True, "label": f"{name} CPU / htop CPU (for reading)"}
    mf = ff.get("memdash", {})
    if mf.get("median_s") is not None:
        checks["first_frame_s"] = {"value": mf["median_s"], "target": f"<= {TARGET_FIRST_FRAME_S}",
                                   "ok": mf["median_s"] <= TARGET_FIRST_FRAME_S, "label": "memdash first frame s"}
    sk = results.get("soak", {})
    if sk.get("growth_mb") is not None:
        checks["soak_growth_mb"] = {"value": sk["growth_mb"], "target": f"< {TARGET_SOAK_GROWTH_MB}",
                                    "ok": sk["growth_mb"] < TARGET_SOAK_GROWTH_MB}
    sn = results.get("snapshot", {})
    if sn.get("median_s") is not None:
        checks["snapshot_s"] = {"value": sn["median_s"], "target": f"< {TARGET_SNAPSHOT_S}",
                                "ok": sn["median_s"] < TARGET_SNAPSHOT_S}

    labels = {
        "cpu_vs_htop": "memdash CPU / htop CPU",
        "cpu_vs_glances": "memdash CPU / glances CPU",
        "rss_mb": "memdash RSS MB",
        "soak_growth_mb": "memdash RSS growth min 1 -> 5, MB",
        "snapshot_s": "`memdash snapshot --json --all` s",
    }
    if sk:
        lines.append("")
        lines.append(f"soak: RSS minute 1 {_fmt(sk.get('rss_mb_minute_1'), 1)} MB, minute 5 "
                     f"{_fmt(sk.get('rss_mb_minute_5'), 1)} MB, growth {_fmt(sk.get('growth_mb'), 2)} MB"
                     + (f", then {_fmt(sk.get('growth_mb_after_minute_5'), 2)} MB more to "
                        f"{sk.get('seconds', 0) / 60:.0f} min" if sk.get("growth_mb_after_minute_5") is not None else "")
                     + "; "
                     f"all marks {({k: round(v, 1) for k, v in sk.get('rss_mb_at', {}).items() if v})}")
    if sn:
        lines.append("")
        lines.append(f"snapshot: median {_fmt(sn.get('median_s'), 3)} s over {len(sn.get('samples_s', []))} "
                     f"runs ({', '.join(f'{t:.3f}' for t in sn.get('samples_s', []))}); "
                     f"processes in output: {sn.get('processes_in_output')}")
    if checks:
        lines.append("")
        for key, c in checks.items():
            lines.append(f"{c.get('label') or labels[key]:<44} {c['value']:>7.2f}  target {c['target']:<7} "
                         f"{'PASS' if c['ok'] else 'FAIL'}")
    for key in ("steady", "first_frame"):
        for n, v in results.get(key, {}).items():
            if v.get("error"):
                lines.append(f"{key} {n}: ERROR {v['error'].splitlines()[0]}")
    return "\n".join(lines), checks


# ---------------------------------------------------------------------------
# main


def spread_over_cgroups(pids: list[int], n: int) -> list[Path]:
    """Make ``n`` v1 memory cgroups with a 512 MiB limit and move ``pids`` into
    them round-robin: ``n`` services for the dashboard's Services table."""
    base = Path("/sys/fs/cgroup/memory")
    made: list[Path] = []
    for i in range(n):
        path = base / f"memdash-bench-{os.getpid()}-{i}"
        path.mkdir()
        made.append(path)
        (path / "memory.limit_in_bytes").write_text(str(512 << 20))
    for i, pid in enumerate(pids):
        try:
            (made[i % n] / "cgroup.procs").write_text(str(pid))
        except OSError:
            pass  # gone already
    return made


def remove_cgroups(paths: list[Path]) -> None:
    """Remove the cgroups :func:`spread_over_cgroups` made (once the load is stopped)."""
    for path in paths:
        for _ in range(100):
            try:
                path.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


def _on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60, help="length of a steady run (default 60)")
    ap.add_argument("--runs", type=int, default=3, help="steady runs per tool; median (default 3)")
    ap.add_argument("--tools", default="memdash,htop,glances,btop",
                    help="comma list (default memdash,htop,glances,btop; also: textual, a bare Textual app; btop only if apt has it)")
    ap.add_argument("--first-frame", action="store_true", help="also time the first frame (median of --starts)")
    ap.add_argument("--starts", type=int, default=5, help="starts per tool for --first-frame, tools in turns (default 5)")
    ap.add_argument("--snapshot", action="store_true", help="also time `memdash snapshot --json --all`")
    ap.add_argument("--soak", action="store_true", help="also run memdash alone for --soak-seconds")
    ap.add_argument("--soak-seconds", type=float, default=300)
    ap.add_argument("--skip-steady", action="store_true", help="skip the CPU/RSS comparison")
    ap.add_argument("--memdash", default=default_memdash(), help="memdash executable")
    ap.add_argument("--glances-spec", default="glances", help="pip requirement for glances")
    ap.add_argument("--no-load", action="store_true", help="do not start bench/load.py's load")
    ap.add_argument("--fresh", action="store_true", help="discard earlier results in dashboard.json")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--targets", type=int, default=0, metavar="N",
                    help="also run memdash+N: the dashboard polling N live probe targets at 1 s")
    ap.add_argument("--cgroups", type=int, default=0, metavar="N",
                    help="spread the load over N memory cgroups (512 MiB limits: N services; needs root and"
                         " cgroup v1) and also run memdash --no-services as 'nosvc'")
    ap.add_argument("--compare", metavar="PATH",
                    help="also run this other memdash executable as 'base' (e.g. main, pip-installed in its own venv)")
    args = ap.parse_args(argv)
    if args.seconds < CPU_FROM_S + 5:
        ap.error(f"--seconds must be at least {CPU_FROM_S + 5:.0f}")
    if args.soak and args.soak_seconds < 300:
        ap.error("--soak-seconds must be at least 300 (RSS is compared at minute 1 and minute 5)")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)

    wanted = [t.strip() for t in args.tools.split(",") if t.strip()]
    needs_memdash = "memdash" in wanted or args.soak or args.snapshot
    tools: dict[str, Tool] = {}
    if needs_memdash:
        tools["memdash"] = make_memdash(args.memdash)
    if args.skip_steady and not args.first_frame:
        wanted = [n for n in wanted if n == "memdash"]  # no peer is run: do not install them
    for name in wanted:
        if name == "htop":
            tools[name] = make_htop()
        elif name == "glances":
            tools[name] = make_glances(args.glances_spec)
        elif name == "btop":
            tools[name] = make_btop()
        elif name == "textual":
            tools[name] = make_textual_floor()
        elif name != "memdash":
            ap.error(f"unknown tool {name!r}")
    for t in tools.values():
        log(f"{t.name}: {'UNAVAILABLE: ' + t.error if t.error else t.version}")
    if "btop" in tools and tools["btop"].error and "btop" in wanted:
        log("btop is optional; skipping it")
        wanted.remove("btop")
        del tools["btop"]
    target_hosts: TargetHosts | None = None
    extra: list[Tool] = []
    if args.cgroups > 0 and "memdash" in wanted:
        extra.append(make_memdash_peer(args.memdash, "nosvc", ["--interval", "1", "--no-services"]))
    if args.compare is not None and "memdash" in wanted:
        extra.append(make_memdash_peer(args.compare, "base", ["--interval", "1"]))
    if args.targets > 0:
        target_hosts = TargetHosts(args.targets)
        atexit.register(target_hosts.stop)
        config = targets_config(target_hosts)
        extra.append(make_memdash_targets(args.memdash, config, args.targets))
        if args.compare is not None:
            extra.append(make_memdash_peer(args.compare, f"base+{args.targets}",
                                           ["--config", str(config), "--interval", "1", "--no-discover"]))
        log(f"{args.targets} probe targets on 127.0.0.1, {len(target_hosts.procs)} server processes")
    for tool in extra:
        tools[tool.name] = tool
        log(f"{tool.name}: {'UNAVAILABLE: ' + tool.error if tool.error else tool.version}")
    wanted[1:1] = [t.name for t in extra]
    runnable = [tools[n] for n in wanted if n in tools and tools[n].error is None]

    results = load_results(args.fresh)
    run_id = _dt.datetime.now().isoformat(timespec="seconds")
    results["updated"] = run_id
    results["machine"] = {"cpus": os.cpu_count(), "kernel": os.uname().release,
                          "loadavg_at_start": os.getloadavg()}
    failures = 0

    tmux = Tmux()
    load = Load()
    cgroups: list[Path] = []
    atexit.register(tmux.cleanup)
    try:
        tmux.start()
        if not args.no_load:
            t0 = time.monotonic()
            load.start()
            LOAD_PIDS.update(load.pids)
            if args.cgroups > 0:
                cgroups.extend(spread_over_cgroups(load.pids, args.cgroups))
                log(f"load spread over {len(cgroups)} memory cgroups")
            if target_hosts is not None:
                LOAD_PIDS.update(target_hosts.pids)
            log(f"load up in {time.monotonic() - t0:.1f} s; {process_count()} processes on the box")
            time.sleep(2)

        if not args.skip_steady:
            per_tool: dict[str, list[dict[str, Any]]] = {t.name: [] for t in runnable}
            errors: dict[str, str] = {}
            for run in range(args.runs):
                for tool in runnable:
                    if tool.name in errors:
                        continue
                    log(f"steady run {run + 1}/{args.runs}: {tool.name} for {args.seconds:.0f} s")
                    try:
                        r = steady_run(tool, tmux, args.seconds, run)
                    except (ToolDied, RuntimeError) as exc:
                        errors[tool.name] = str(exc)
                        log(f"{tool.name}: {exc}")
                        continue
                    per_tool[tool.name].append(r)
                    log(f"  {tool.name}: CPU {r['cpu_s_per_60s']:.2f} s/60 s, RSS {r['rss_mb']:.1f} MB"
                        + (f", children {r['child_pids']}" if r["child_pids"] else ""))
                    for fp in r["foreign_big_processes"]:
                        log(f"  note: another big process on the box: pid {fp[0]} {fp[1]} MB {fp[2]}")
                    time.sleep(2)
            steady = results.setdefault("steady", {})
            for tool in runnable:
                rs = per_tool[tool.name]
                entry: dict[str, Any] = {
                    "run_id": run_id, "version": tool.version, "command": tool.command(),
                    "seconds": args.seconds, "runs_done": len(rs), "runs": rs,
                    "load": not args.no_load,
                }
                if rs:
                    entry["cpu_s_per_60s"] = statistics.median(r["cpu_s_per_60s"] for r in rs)
                    entry["rss_mb"] = statistics.median(r["rss_mb"] for r in rs)
                if tool.name in errors:
                    entry["error"] = errors[tool.name]
                    failures += 1
                steady[tool.name] = entry
            for name in wanted:
                if name in tools and tools[name].error:
                    steady[name] = {"run_id": run_id, "error": tools[name].error}
                    failures += 1
            save_results(results)

        if args.first_frame:
            ffr = results.setdefault("first_frame", {})
            # Tools take turns start by start, so that a change in the box's load
            # hits them alike (five of one tool, then five of the next, did not).
            log(f"first frame: {', '.join(t.name for t in runnable)}, {args.starts} starts each, in turns")
            samples: dict[str, list[float]] = {t.name: [] for t in runnable}
            failed: dict[str, str] = {}
            for start in range(args.starts):
                for tool in runnable:
                    if tool.name in failed:
                        continue
                    try:
                        samples[tool.name].append(first_frame(tool, tmux, start))
                    except RuntimeError as exc:
                        failed[tool.name] = str(exc)
            for tool in runnable:
                s = samples[tool.name]
                if tool.name in failed:
                    ffr[tool.name] = {"run_id": run_id, "error": failed[tool.name]}
                    failures += 1
                    continue
                ffr[tool.name] = {"run_id": run_id, "version": tool.version, "samples_s": s,
                                  "median_s": statistics.median(s), "marker": tool.marker}
                log(f"  {tool.name}: {statistics.median(s):.3f} s ({', '.join(f'{x:.3f}' for x in s)})")
            save_results(results)

        md = tools.get("memdash")
        if args.snapshot:
            if md is None or md.error:
                results["snapshot"] = {"run_id": run_id, "error": md.error if md else "no memdash"}
                failures += 1
            else:
                log("snapshot: `memdash snapshot --json --all` x 5")
                try:
                    results["snapshot"] = {"run_id": run_id, **snapshot_times(args.memdash)}
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    results["snapshot"] = {"run_id": run_id, "error": str(exc)}
                    failures += 1
            save_results(results)

        if args.soak:
            if md is None or md.error:
                results["soak"] = {"run_id": run_id, "error": md.error if md else "no memdash"}
                failures += 1
            else:
                try:
                    results["soak"] = {"run_id": run_id, "version": md.version,
                                       **soak(md, tmux, args.soak_seconds)}
                except (ToolDied, RuntimeError) as exc:
                    results["soak"] = {"run_id": run_id, "error": str(exc)}
                    failures += 1
            save_results(results)
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    finally:
        tmux.cleanup()
        load.stop()
        remove_cgroups(cgroups)
        if target_hosts is not None:
            target_hosts.stop()

    results["machine"]["loadavg_at_end"] = os.getloadavg()
    text, checks = report(results, run_id)
    results["checks"] = checks
    save_results(results)
    print(text)
    for key in ("snapshot", "soak"):
        if results.get(key, {}).get("error") and results[key].get("run_id") == run_id:
            print(f"{key}: ERROR {results[key]['error']}")
    print(f"\nresults: {RESULTS.relative_to(ROOT)}")
    if failures:
        return 2
    if args.check and not all(c["ok"] for c in checks.values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
