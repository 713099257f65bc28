"""The standard benchmark load: ~500 idle processes and ~800 MB of held memory.

Starts 500 ``sleep 3600`` processes and 4 Python processes that each hold a
200 MiB ``bytearray`` with every page touched (about 208 MiB RSS each), so a
dashboard has ~580 processes to list, a few of them big.  This is the load the
baselines in tech-notes section 10 were measured under.

Every child is put in one process group that this process does not belong to,
and gets ``PR_SET_PDEATHSIG = SIGKILL``, so the load dies with its owner:

* :meth:`Load.stop` (also run by ``with``, by ``atexit`` and by the SIGTERM /
  SIGHUP / SIGINT handlers installed while the load runs) kills the group;
* if the owner is SIGKILLed, the kernel kills the children anyway.

Usage::

    from load import Load
    with Load() as load:          # blocks until the holders have touched their memory
        print(len(load.pids))     # 504
        ...

    python bench/load.py --hold 120        # start, hold 120 s, clean up
    python bench/load.py --hold 0          # hold until Ctrl-C / SIGTERM
"""

from __future__ import annotations

import argparse
import atexit
import ctypes
import os
import select
import signal
import subprocess
import sys
import time
from types import FrameType, TracebackType

MIB = 1024 * 1024

_PR_SET_PDEATHSIG = 1

# The holder: allocate, touch one byte per page (calloc'd memory is otherwise
# not resident), report, then wait to be killed.  Dies if stdin closes too.
_HOLDER = r"""
import os, sys
n = int(sys.argv[1])
b = bytearray(n)
page = os.sysconf("SC_PAGE_SIZE")
b[::page] = b"\x01" * len(range(0, n, page))
sys.stdout.write("ready\n"); sys.stdout.flush()
sys.stdin.read()
"""


def _die_with_parent() -> None:
    """preexec_fn: have the kernel SIGKILL this child when its parent dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # pragma: no cover - best effort only
        pass


class Load:
    """Start and clean up the standard load (see the module docstring).

    Args:
        sleepers: number of ``sleep 3600`` processes.
        holders: number of memory-holding Python processes.
        hold_mib: MiB of touched memory per holder.
        ready_timeout: seconds to wait for the holders to report ready.
    """

    def __init__(
        self,
        sleepers: int = 500,
        holders: int = 4,
        hold_mib: int = 200,
        ready_timeout: float = 60.0,
    ) -> None:
        self.sleepers = sleepers
        self.holders = holders
        self.hold_mib = hold_mib
        self.ready_timeout = ready_timeout
        self.procs: list[subprocess.Popen[bytes]] = []
        self.pgid: int | None = None
        self._old_handlers: dict[int, object] = {}
        self._atexit_registered = False

    # -- lifecycle -----------------------------------------------------------

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def _spawn(self, argv: list[str], **kw: object) -> subprocess.Popen[bytes]:
        # The first child leads a new group (pgid = its pid); the rest join it.
        group = 0 if self.pgid is None else self.pgid
        p = subprocess.Popen(
            argv,
            process_group=group,
            preexec_fn=_die_with_parent,
            close_fds=True,
            **kw,  # type: ignore[arg-type]
        )
        if self.pgid is None:
            self.pgid = p.pid
        self.procs.append(p)
        return p

    def start(self) -> "Load":
        """Start everything; return once every holder has touched its memory."""
        if self.procs:
            raise RuntimeError("load already started")
        self._install_cleanup()
        try:
            holders = []
            for _ in range(self.holders):
                holders.append(
                    self._spawn(
                        [sys.executable, "-c", _HOLDER, str(self.hold_mib * MIB)],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                    )
                )
            for _ in range(self.sleepers):
                self._spawn(
                    ["sleep", "3600"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            deadline = time.monotonic() + self.ready_timeout
            for h in holders:
                assert h.stdout is not None
                left = deadline - time.monotonic()
                ready, _, _ = select.select([h.stdout], [], [], max(0.0, left))
                if not ready or h.stdout.readline().strip() != b"ready":
                    raise RuntimeError(f"memory holder {h.pid} did not get ready")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill the whole load (idempotent) and reap it."""
        if self.pgid is not None:
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for p in self.procs:
            # The group leader may have gone first; kill stragglers one by one.
            if p.poll() is None:
                try:
                    p.kill()
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass
            for f in (p.stdin, p.stdout):
                if f is not None:
                    try:
                        f.close()
                    except OSError:
                        pass
        self.procs = []
        self.pgid = None
        self._restore_handlers()

    def alive(self) -> int:
        """How many load processes are still running."""
        return sum(1 for p in self.procs if p.poll() is None)

    # -- cleanup hooks -------------------------------------------------------

    def _install_cleanup(self) -> None:
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        if _in_main_thread():
            for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)

    def _restore_handlers(self) -> None:
        if _in_main_thread():
            for sig, old in self._old_handlers.items():
                signal.signal(sig, old)  # type: ignore[arg-type]
        self._old_handlers = {}

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    # -- context manager -----------------------------------------------------

    def __enter__(self) -> "Load":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hold", type=float, default=0.0,
                    help="seconds to hold the load; 0 = until Ctrl-C/SIGTERM (default 0)")
    ap.add_argument("--sleepers", type=int, default=500)
    ap.add_argument("--holders", type=int, default=4)
    ap.add_argument("--hold-mib", type=int, default=200, help="MiB per holder (default 200)")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    with Load(args.sleepers, args.holders, args.hold_mib) as load:
        print(f"load up in {time.monotonic() - t0:.1f} s: {args.sleepers} sleepers, "
              f"{args.holders} x {args.hold_mib} MiB holders, pgid {load.pgid}", flush=True)
        try:
            if args.hold > 0:
                time.sleep(args.hold)
            else:
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
    print("load stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
