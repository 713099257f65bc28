"""The local poll's hold on NVML (fake libnvidia-ml.so.1 under the real pynvml):
initialised once however many refreshes, each GPU's chart fed, released on close."""

from __future__ import annotations

import pytest
from fakenvml_helpers import FakeNvml

from memdash.collector import LocalCollector
from memdash.config import Config
from memdash.history import History


@pytest.mark.gpu
def test_nvml_is_held_once_across_polls_and_released_on_close(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(count=2, total_mib=1000, used_mib=250)
    history = History()
    col = LocalCollector(Config(), history=history, gpu=True, services=False)
    try:
        snaps = [col.poll(limit=3) for _ in range(4)]
        assert all(s.gpus.available for s in snaps)
        assert fake_nvml.init_calls == 1 and fake_nvml.refcount == 1  # not a new NVML session per refresh
        devices = snaps[-1].gpus.devices
        assert len(devices) == 2
        for dev in devices:
            assert dev.percent == pytest.approx(25.0)
            series = history.peek(f"gpu.{dev.uuid or dev.index}.percent")
            assert series is not None and series.values == pytest.approx([25.0] * 4)
            assert series.times == [s.time for s in snaps]
    finally:
        col.close()
    assert fake_nvml.refcount == 0 and fake_nvml.shutdown_calls == 1


@pytest.mark.gpu
def test_no_gpu_polling_leaves_nvml_alone(fake_nvml: FakeNvml) -> None:
    col = LocalCollector(Config(), gpu=False, services=False)
    try:
        gpus = col.poll(limit=1).gpus
    finally:
        col.close()
    assert (gpus.available, gpus.reason) == (False, "GPU polling disabled")
    assert (fake_nvml.init_calls, fake_nvml.shutdown_calls) == (0, 0)
