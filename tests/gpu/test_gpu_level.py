"""A GPU alone decides the snapshot's level (fake NVML in the real CLI)."""

from __future__ import annotations

import os
from pathlib import Path

import isolated
import pytest


def _snapshot(env: dict[str, str], tmp_path: Path, *args: str) -> tuple[int, dict]:
    return isolated.snapshot(tmp_path, *args, env=env)  # only our processes, where possible


@pytest.mark.gpu
@pytest.mark.parametrize("used_mib,expected", [(995, ("critical", 2)), (10, ("excellent", 0))])
def test_a_full_gpu_alone_makes_the_snapshot_critical(fake_nvml_lib: Path, tmp_path: Path, used_mib: int,
                                                       expected: tuple[str, int]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMDASH_", "FAKE_NVML_"))}
    env.update(XDG_CONFIG_HOME=str(tmp_path), LD_LIBRARY_PATH=str(fake_nvml_lib.parent),
               FAKE_NVML_COUNT="1", FAKE_NVML_TOTAL_MIB="1000", FAKE_NVML_USED_MIB=str(used_mib))
    _, doc = _snapshot(env, tmp_path, "--no-gpu")
    local = max([doc["system"]["percent"]] + [p["percent"] for p in doc["processes"]])
    if local > 97:
        pytest.skip(f"this machine is at {local:.1f} %: no room for a threshold below the GPU")
    t = round((local + 99.5) / 2, 2)
    (tmp_path / "memdash.toml").write_text(f"[thresholds]\ngood = {t}\nwarning = {t}\ncritical = {t}\n")
    code, doc = _snapshot(env, tmp_path, "--config", str(tmp_path / "memdash.toml"))
    (device,) = doc["gpus"]["devices"]
    assert device["percent"] == pytest.approx(used_mib / 10)
    assert device["level"] == expected[0]
    assert doc["system"]["level"] == "excellent"
    assert {p["level"] for p in doc["processes"]} == {"excellent"}
    assert (doc["level"], code) == expected
