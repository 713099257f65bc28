"""Run ``memdash snapshot`` where it sees only the processes a test made.

On a shared machine any process may sit near its own cgroup limit (another
test's child, another user's container), which would decide a snapshot's
level behind a test's back. As root, the snapshot runs as the init of a fresh
pid namespace with its own ``/proc``; a test's holder process, if any, starts
inside it (optionally in a memory cgroup), and everything in the namespace dies
with it. Elsewhere it runs as a plain subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

HOLDER = r"""
import sys, time
b = bytearray(int(sys.argv[1]) * 1024 * 1024)
b[::4096] = b"x" * len(range(0, len(b), 4096))
open(sys.argv[2], "w").close()
time.sleep(600)
"""

SCRIPT = """
if [ -n "$HOLD_MIB" ]; then
    sh -c 'if [ -n "$HOLD_GROUP" ]; then echo $$ > "$HOLD_GROUP/cgroup.procs"; fi
           exec "$PY" -c "$HOLDER" "$HOLD_MIB" "$DIR/ready"' &
    n=0; while [ ! -e "$DIR/ready" ]; do n=$((n+1)); [ $n -gt 1200 ] && exit 99; sleep 0.1; done
fi
"$PY" -m memdash snapshot --json --all --no-discover "$@"
"""

_can_isolate: bool | None = None


def can_isolate() -> bool:
    global _can_isolate
    if _can_isolate is None:
        try:
            ok = os.geteuid() == 0 and subprocess.run(
                ["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, timeout=30
            ).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        _can_isolate = ok
    return _can_isolate


def ns_prefix() -> list[str]:
    """The command prefix that runs a command alone in a new pid namespace (or nothing)."""
    return ["unshare", "--pid", "--fork", "--mount-proc"] if can_isolate() else []


def snapshot(tmp_path: Path, *args: str, env: dict[str, str] | None = None, hold_mib: int | None = None,
             hold_group: Path | None = None) -> tuple[int, dict]:
    """``memdash snapshot --json --all --no-discover ARGS``: (exit status, document).

    ``hold_mib``: start a holder of that many MiB first (in ``hold_group``, a
    cgroup v1 directory, if given); its pid is in the document with
    ``"bytearray"`` in its command line.
    """
    base = dict(env if env is not None else os.environ)
    base = {k: v for k, v in base.items() if not k.startswith("MEMDASH_")}
    run_dir = tmp_path / f"run-{uuid.uuid4().hex[:8]}"
    run_dir.mkdir()
    base.setdefault("XDG_CONFIG_HOME", str(tmp_path))
    base.update(PY=sys.executable, HOLDER=HOLDER, DIR=str(run_dir), HOLD_MIB=str(hold_mib or ""),
                HOLD_GROUP=str(hold_group or ""))
    prefix = ns_prefix()
    if not prefix and hold_mib:
        raise RuntimeError("a holder needs the pid namespace (root)")
    out = subprocess.run([*prefix, "sh", "-c", SCRIPT, "sh", *args], env=base, capture_output=True, text=True,
                         timeout=300, stdin=subprocess.DEVNULL)
    assert out.returncode != 99, "the holder never became ready"
    assert "Traceback" not in out.stderr, out.stderr
    try:
        return out.returncode, json.loads(out.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON (exit {out.returncode}): {out.stdout[:300]!r} {out.stderr[-500:]!r}") from None
