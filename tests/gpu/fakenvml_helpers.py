"""Helpers shared by the GPU tests and their conftest (a module of its own:
``conftest`` is not importable by name when several test folders have one)."""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FAKE_SOURCE = Path(__file__).resolve().parent.parent / "nvml" / "fake_nvml.c"
GCC_FLAGS = ["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-Wl,-soname,libnvidia-ml.so.1"]
MIB = 1048576


@dataclass
class FakeNvml:
    """The loaded fake: its ctypes handle (test hooks) and a way to script it."""

    lib: ctypes.CDLL
    path: Path
    monkeypatch: pytest.MonkeyPatch
    sources: list[object] = field(default_factory=list)

    def script(self, **env: object) -> None:
        """Set ``FAKE_NVML_<KEY>`` for each keyword (``count=2`` -> FAKE_NVML_COUNT=2)."""
        for key, value in env.items():
            self.monkeypatch.setenv(f"FAKE_NVML_{key.upper()}", str(value))

    @property
    def init_calls(self) -> int:
        return int(self.lib.fake_nvml_init_calls())

    @property
    def shutdown_calls(self) -> int:
        return int(self.lib.fake_nvml_shutdown_calls())

    @property
    def refcount(self) -> int:
        return int(self.lib.fake_nvml_refcount())

    def source(self, *args: object, **kwargs: object):  # -> GpuSource
        """A GpuSource closed when the test ends."""
        from memdash.sources.gpu import GpuSource

        src = GpuSource(*args, **kwargs)  # type: ignore[arg-type]
        self.sources.append(src)
        return src


def clean_env() -> dict[str, str]:
    """os.environ without FAKE_NVML_* (for child processes)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FAKE_NVML_")}
