"""Fixtures that put the fake libnvidia-ml.so.1 (tests/nvml/fake_nvml.c) under
the real pynvml binding.

- ``fake_nvml_lib`` (session): builds the fake with gcc into a temp dir; skips
  every GPU test, with the reason, where gcc is missing or the build fails.
- ``fake_nvml`` (function): points ``pynvml.nvmlLib`` at the fake, clears every
  ``FAKE_NVML_*`` variable, zeroes the fake's counters, and afterwards shuts
  NVML down: the fake cannot be unloaded and its init refcount is
  process-global, so a test that leaves NVML initialised would leak into the next.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from fakenvml_helpers import FAKE_SOURCE, GCC_FLAGS, FakeNvml


@pytest.fixture(scope="session")
def fake_nvml_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the built fake ``libnvidia-ml.so.1`` (its directory suits LD_LIBRARY_PATH)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not found: cannot build the fake libnvidia-ml.so.1 for the GPU tests")
    out = tmp_path_factory.mktemp("fake_nvml") / "libnvidia-ml.so.1"
    proc = subprocess.run(
        [gcc, *GCC_FLAGS, "-o", str(out), str(FAKE_SOURCE)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.fail(f"building the fake NVML failed:\n{proc.stderr}")
    return out


@pytest.fixture
def fake_nvml(fake_nvml_lib: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNvml]:
    """pynvml bound to the fake, with a clean script; NVML shut down afterwards."""
    import pynvml

    for key in list(os.environ):
        if key.startswith("FAKE_NVML_"):
            monkeypatch.delenv(key)
    lib = ctypes.CDLL(str(fake_nvml_lib))
    monkeypatch.setattr(pynvml, "nvmlLib", lib)
    monkeypatch.setattr(pynvml, "_nvmlGetFunctionPointer_cache", {})
    monkeypatch.setattr(pynvml, "_nvmlLib_refcount", 0)
    while lib.fake_nvml_refcount() > 0:  # left over by a test that failed hard
        lib.nvmlShutdown()
    lib.fake_nvml_reset_counters()
    fake = FakeNvml(lib=lib, path=fake_nvml_lib, monkeypatch=monkeypatch)
    try:
        yield fake
    finally:
        for src in fake.sources:
            src.close()  # type: ignore[attr-defined]
        while lib.fake_nvml_refcount() > 0:
            lib.nvmlShutdown()
