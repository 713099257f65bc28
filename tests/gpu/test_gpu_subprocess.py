"""GPU support in a fresh interpreter: the fake found through LD_LIBRARY_PATH, as
a real driver is found, and a box with no NVIDIA library at all."""

from __future__ import annotations

import ctypes.util
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fakenvml_helpers import MIB, clean_env

pytestmark = pytest.mark.gpu

POLL = (
    "import json; from memdash.sources.gpu import GpuSource, status_to_json;"
    "s = GpuSource(); print(json.dumps(status_to_json(s.poll()))); s.close()"
)


def snapshot_cli_missing() -> bool:
    """True until the lead's ``memdash snapshot`` (cli + collector + report) exists."""
    return any(
        importlib.util.find_spec(name) is None
        for name in ("memdash.cli", "memdash.collector", "memdash.report")
    )


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )


@pytest.mark.skipif(
    ctypes.util.find_library("nvidia-ml") is not None,
    reason="this box has a real libnvidia-ml: the library is not missing here",
)
def test_library_missing_in_a_fresh_process() -> None:
    env = clean_env()
    env["LD_LIBRARY_PATH"] = ""
    out = run_python(POLL, env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "available": False,
        "reason": "no NVIDIA driver found (libnvidia-ml.so.1 not loadable)",
        "driver": None,
        "devices": [],
    }


def test_fake_found_through_ld_library_path(fake_nvml_lib: Path) -> None:
    env = clean_env()
    env.update(
        LD_LIBRARY_PATH=str(fake_nvml_lib.parent),
        FAKE_NVML_COUNT="2",
        FAKE_NVML_PROCS="10:1;20:2",
        FAKE_NVML_UTIL="NA;1:1",
    )
    out = run_python(POLL, env)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["available"] and doc["driver"] == "550.00.fake"
    assert [d["processes"] for d in doc["devices"]] == [
        [{"pid": 10, "used_bytes": MIB}],
        [{"pid": 20, "used_bytes": 2 * MIB}],
    ]


def test_driver_not_loaded_in_a_fresh_process(fake_nvml_lib: Path) -> None:
    env = clean_env()
    env.update(LD_LIBRARY_PATH=str(fake_nvml_lib.parent), FAKE_NVML_INIT_RESULT="9")
    out = run_python(POLL, env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["reason"] == "NVIDIA driver not loaded"


@pytest.mark.skipif(snapshot_cli_missing(), reason="memdash snapshot (memdash.cli) not written yet")
def test_snapshot_json_joins_gpu_memory_to_a_real_process(
    fake_nvml_lib: Path, tmp_path: Path
) -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        env = clean_env()
        env.pop("MEMDASH_CONFIG", None)
        env.update(
            LD_LIBRARY_PATH=str(fake_nvml_lib.parent),
            XDG_CONFIG_HOME=str(tmp_path),  # no user config file
            FAKE_NVML_COUNT="1",
            FAKE_NVML_NAME="NVIDIA H100 80GB HBM3 (fake)",
            FAKE_NVML_TOTAL_MIB="81559",
            FAKE_NVML_PROCS=f"{child.pid}:1536",
        )
        # --all: a `sleep` is far from the top 25 by RSS.
        out = subprocess.run(
            [sys.executable, "-W", "error", "-m", "memdash", "snapshot", "--json", "--all",
             "--no-discover"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )
        assert out.returncode in (0, 1, 2, 3), out.stderr  # exit status is the level
        doc = json.loads(out.stdout)
        gpus = doc["gpus"]
        assert gpus["available"] is True, gpus
        (device,) = gpus["devices"]
        assert device["name"] == "NVIDIA H100 80GB HBM3 (fake)"
        assert device["total_bytes"] == 81559 * MIB
        assert device["processes"] == [{"pid": child.pid, "used_bytes": 1536 * MIB}]
        rows = {p["pid"]: p for p in doc["processes"]}
        assert child.pid in rows, "the child is missing from the process table"
        assert rows[child.pid]["gpu_bytes"] == 1536 * MIB
    finally:
        child.kill()
        child.wait()
