"""GpuSource against the fake libnvidia-ml.so.1, through the real pynvml binding."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import types
from pathlib import Path

import psutil
import pytest

from fakenvml_helpers import MIB, FakeNvml
from memdash.levels import Level, Thresholds
from memdash.model import GpuProcess
from memdash.sources import gpu as gpu_mod
from memdash.sources.gpu import GpuSource, gpu_bytes_by_pid, status_to_json

pytestmark = pytest.mark.gpu


def procs_of(device) -> dict[int, int | None]:
    return {p.pid: p.used_bytes for p in device.processes}


# -- devices and processes ----------------------------------------------------


def test_devices_and_processes_in_bytes(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(
        count=2,
        name="NVIDIA H100 80GB HBM3 (fake);NVIDIA L4 (fake)",
        total_mib="81559;23034",
        procs="1234:512,999:2048;4321:100",
        util="37:12;5:1",
        temp="50;61",
        driver="550.54.15",
    )
    status = fake_nvml.source().poll()

    assert status.available and status.reason is None
    assert status.driver == "550.54.15"
    d0, d1 = status.devices
    assert (d0.index, d0.name, d1.index, d1.name) == (
        0, "NVIDIA H100 80GB HBM3 (fake)", 1, "NVIDIA L4 (fake)",
    )
    assert d0.uuid == "GPU-fa4e0000-0000-0000-0000-000000000000"
    assert d0.total_bytes == 81559 * MIB
    assert d0.used_bytes == 2560 * MIB  # the fake's default: sum of its processes
    assert d0.free_bytes == (81559 - 2560) * MIB
    assert d0.percent == pytest.approx(100 * 2560 / 81559)
    assert d0.level is Level.EXCELLENT
    assert (d0.utilization, d0.temperature) == (37.0, 50.0)
    assert (d1.utilization, d1.temperature) == (5.0, 61.0)
    assert procs_of(d0) == {1234: 512 * MIB, 999: 2048 * MIB}
    assert procs_of(d1) == {4321: 100 * MIB}
    assert all(p.kind == "compute" for p in d0.processes)
    assert gpu_bytes_by_pid(status) == {1234: 512 * MIB, 999: 2048 * MIB, 4321: 100 * MIB}


def test_level_uses_the_given_thresholds(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(count=3, total_mib=1000, used_mib="100;720;900")
    levels = [d.level for d in fake_nvml.source().poll().devices]
    assert levels == [Level.EXCELLENT, Level.GOOD, Level.CRITICAL]

    strict = fake_nvml.source(Thresholds(good=5, warning=8, critical=50))
    assert [d.level for d in strict.poll().devices] == [Level.WARNING, Level.CRITICAL, Level.CRITICAL]


def test_compute_and_graphics_merged_by_pid(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(procs="1:100,2:200", graphics_procs="2:50,3:30")
    (device,) = fake_nvml.source().poll().devices
    assert device.processes == (
        GpuProcess(pid=1, used_bytes=100 * MIB, kind="compute"),
        # one process in both lists: NVML gives its usage in each, not a share
        GpuProcess(pid=2, used_bytes=200 * MIB, kind="compute+graphics"),
        GpuProcess(pid=3, used_bytes=30 * MIB, kind="graphics"),
    )


def test_graphics_figure_used_where_compute_has_none(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(procs="2:NA", graphics_procs="2:50")
    (device,) = fake_nvml.source().poll().devices
    assert procs_of(device) == {2: 50 * MIB}


def test_same_pid_twice_in_one_list_adds_up(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(procs="5:100,5:50")
    (device,) = fake_nvml.source().poll().devices
    assert procs_of(device) == {5: 150 * MIB}


def test_unknown_process_memory_is_none(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(procs="7:NA,8:10")
    status = fake_nvml.source().poll()
    assert procs_of(status.devices[0]) == {7: None, 8: 10 * MIB}
    assert gpu_bytes_by_pid(status) == {8: 10 * MIB}  # unknown is not 0
    assert status_to_json(status)["devices"][0]["processes"][0] == {"pid": 7, "used_bytes": None}


def test_no_processes(fake_nvml: FakeNvml) -> None:
    (device,) = fake_nvml.source().poll().devices
    assert device.processes == () and device.used_bytes == 0


def test_eight_devices_sixty_four_processes_each(fake_nvml: FakeNvml) -> None:
    per_device = [",".join(f"{d * 1000 + i}:{i + 1}" for i in range(64)) for d in range(8)]
    fake_nvml.script(count=8, procs=";".join(per_device))
    status = fake_nvml.source().poll()
    assert len(status.devices) == 8
    assert [len(d.processes) for d in status.devices] == [64] * 8
    assert gpu_bytes_by_pid(status)[7063] == 64 * MIB


def test_fast_process_path_agrees_with_pynvml_wrappers(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(
        count=3, procs="1:100,2:NA,2:5;4:1;", graphics_procs="2:50,3:30;;9:9", mig="NA;off;on:2"
    )
    fast = fake_nvml.source().poll()
    slow_source = fake_nvml.source()
    slow_source.fast_processes = False
    assert slow_source.poll() == fast


# -- unsupported and failing queries -------------------------------------------


def test_utilization_not_supported_still_shows_memory(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(count=2, util="NA;40:3", procs="11:256;")
    d0, d1 = fake_nvml.source().poll().devices
    assert d0.utilization is None
    assert d0.total_bytes == 81559 * MIB and d0.used_bytes == 256 * MIB
    assert procs_of(d0) == {11: 256 * MIB}
    assert d1.utilization == 40.0


def test_temperature_not_supported_is_none(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(temp="NA")
    (device,) = fake_nvml.source().poll().devices
    assert device.temperature is None and device.total_bytes is not None


def test_temperature_falls_back_to_the_legacy_call(fake_nvml: FakeNvml) -> None:
    # An old driver without nvmlDeviceGetTemperatureV: FUNCTION_NOT_FOUND (13).
    fake_nvml.script(temp=66, fail="nvmlDeviceGetTemperatureV=13")
    source = fake_nvml.source()
    assert source.poll().devices[0].temperature == 66.0
    assert source.poll().devices[0].temperature == 66.0


def test_process_list_falls_back_to_v2(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(procs="3:30", fail="nvmlDeviceGetComputeRunningProcesses_v3=13")
    for fast in (True, False):
        source = fake_nvml.source()
        source.fast_processes = fast
        assert procs_of(source.poll().devices[0]) == {3: 30 * MIB}


def test_each_failing_field_degrades_alone(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(
        count=2,
        procs="1:10;2:20",
        graphics_procs="5:5;",
        fail=(
            "nvmlDeviceGetUUID=15,nvmlDeviceGetName@0=3,nvmlDeviceGetMemoryInfo@1=15,"
            "nvmlDeviceGetComputeRunningProcesses_v3@0=4,nvmlDeviceGetUtilizationRates@1=999,"
            "nvmlDeviceGetTemperatureV@0=15"
        ),
    )
    status = fake_nvml.source().poll()
    assert status.available
    d0, d1 = status.devices
    assert (d0.name, d0.uuid, d0.temperature) == ("GPU 0", None, None)
    assert procs_of(d0) == {5: 5 * MIB}  # compute refused (NO_PERMISSION), graphics kept
    assert d0.total_bytes == 81559 * MIB and d0.utilization == 0.0
    assert (d1.total_bytes, d1.used_bytes, d1.free_bytes, d1.percent) == (None,) * 4
    assert d1.level is Level.UNKNOWN
    assert d1.utilization is None and d1.temperature == 40.0
    assert procs_of(d1) == {2: 20 * MIB}


def test_a_lost_gpu_stays_listed(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(count=2, fail="nvmlDeviceGetHandleByIndex_v2@1=15")
    status = fake_nvml.source().poll()
    assert status.available
    lost = status.devices[1]
    assert lost.index == 1 and "GPU is lost" in lost.name
    assert (lost.total_bytes, lost.uuid, lost.level) == (None, None, Level.UNKNOWN)


def test_counting_fails(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(fail="nvmlDeviceGetCount_v2=15")
    status = fake_nvml.source().poll()
    assert not status.available
    assert status.reason == "could not count NVIDIA GPUs: GPU is lost"
    assert status.driver == "550.00.fake"


def test_no_gpus(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(count=0)
    status = fake_nvml.source().poll()
    assert (status.available, status.reason, status.devices) == (False, "no NVIDIA GPU found", ())
    assert status.driver == "550.00.fake"


# -- MIG ----------------------------------------------------------------------


@pytest.mark.parametrize("mig", ["NA", "off"])
def test_no_mig_rows_without_mig_mode(fake_nvml: FakeNvml, mig: str) -> None:
    fake_nvml.script(mig=mig, procs="1:1")
    (device,) = fake_nvml.source().poll().devices
    assert procs_of(device) == {1: MIB}


def test_mig_instances_listed_after_their_gpu(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(
        count=2, mig="on:2;NA", total_mib=40960, procs="7:100@0,8:200@1,9:50@1;3:3", util="30:1"
    )
    status = fake_nvml.source().poll()
    parent, mig0, mig1, other = status.devices
    assert [d.index for d in status.devices] == [0, 0, 0, 1]
    assert parent.total_bytes == 40960 * MIB and parent.used_bytes == 350 * MIB
    assert parent.processes == ()  # the instances carry them: nothing counted twice
    assert parent.uuid is not None and parent.uuid.startswith("GPU-")
    assert mig0.uuid is not None and mig0.uuid.startswith("MIG-")
    assert mig0.name.endswith("MIG 0") and mig0.total_bytes == 20480 * MIB
    assert procs_of(mig0) == {7: 100 * MIB}
    assert procs_of(mig1) == {8: 200 * MIB, 9: 50 * MIB}
    assert (mig0.utilization, mig0.temperature) == (None, None)  # NOT_SUPPORTED on instances
    assert mig1.percent == pytest.approx(100 * 250 / 20480)
    assert procs_of(other) == {3: 3 * MIB}
    assert gpu_bytes_by_pid(status) == {7: 100 * MIB, 8: 200 * MIB, 9: 50 * MIB, 3: 3 * MIB}


def test_mig_mode_without_instances_shows_the_gpu_processes(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(mig="on:0", procs="4:40")
    (device,) = fake_nvml.source().poll().devices
    assert procs_of(device) == {4: 40 * MIB}


def test_mig_queries_refused(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(mig="on:2", procs="4:40", fail="nvmlDeviceGetMaxMigDeviceCount=4")
    (device,) = fake_nvml.source().poll().devices
    assert procs_of(device) == {4: 40 * MIB}


# -- lifecycle ------------------------------------------------------------------


def test_nvml_initialised_once_across_polls(fake_nvml: FakeNvml, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    fake_nvml.script(trace=trace, count=2, procs="1:1;2:2")
    source = fake_nvml.source()
    for _ in range(25):
        assert source.poll().available
    assert fake_nvml.init_calls == 1
    calls = trace.read_text().split()
    assert calls.count("nvmlInitWithFlags") == 1
    assert calls.count("nvmlDeviceGetCount_v2") == 25
    assert calls.count("nvmlSystemGetDriverVersion") == 1  # read at start, not per poll


def test_nvml_initialised_once_across_threads(fake_nvml: FakeNvml) -> None:
    source = fake_nvml.source()
    results = []

    def work() -> None:
        results.extend(source.poll().available for _ in range(20))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 80
    assert fake_nvml.init_calls == 1


def test_import_does_not_load_pynvml() -> None:
    code = "import sys, memdash.sources.gpu; print('pynvml' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_close_shuts_nvml_down_once(fake_nvml: FakeNvml) -> None:
    source = fake_nvml.source()
    source.poll()
    assert source.initialized and fake_nvml.refcount == 1
    source.close()
    assert fake_nvml.shutdown_calls == 1 and fake_nvml.refcount == 0
    assert not source.initialized
    source.close()
    assert fake_nvml.shutdown_calls == 1  # idempotent


def test_close_before_any_poll_does_nothing(fake_nvml: FakeNvml) -> None:
    fake_nvml.source().close()
    assert (fake_nvml.init_calls, fake_nvml.shutdown_calls) == (0, 0)


def test_poll_after_close_starts_again(fake_nvml: FakeNvml) -> None:
    source = fake_nvml.source()
    source.poll()
    source.close()
    assert source.poll().available
    assert fake_nvml.init_calls == 2 and fake_nvml.refcount == 1


def test_close_registered_with_atexit(fake_nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch) -> None:
    registered: list[object] = []
    fake_atexit = types.SimpleNamespace(register=registered.append, unregister=registered.remove)
    monkeypatch.setattr(gpu_mod, "atexit", fake_atexit)
    source = fake_nvml.source()
    source.poll()
    source.poll()
    assert len(registered) == 1
    registered[0]()  # what the interpreter would do at exit
    assert fake_nvml.shutdown_calls == 1 and fake_nvml.refcount == 0
    source.close()
    assert registered == [] and fake_nvml.shutdown_calls == 1


def test_atexit_hook_does_not_wait_for_a_stuck_poll(
    fake_nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered: list[object] = []
    monkeypatch.setattr(
        gpu_mod, "atexit", types.SimpleNamespace(register=registered.append, unregister=registered.remove)
    )
    source = fake_nvml.source()
    source.poll()
    source.exit_timeout_seconds = 0.05
    with source._lock:  # a poll hung in the driver holds it
        registered[0]()
    assert fake_nvml.shutdown_calls == 0  # gave up instead of hanging the exit
    source.close()
    assert fake_nvml.shutdown_calls == 1


def test_atexit_not_registered_when_init_fails(
    fake_nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered: list[object] = []
    monkeypatch.setattr(
        gpu_mod, "atexit", types.SimpleNamespace(register=registered.append, unregister=registered.remove)
    )
    fake_nvml.script(init_result=9)
    fake_nvml.source().poll()
    assert registered == []


def test_nvml_shut_down_underneath_recovers(fake_nvml: FakeNvml) -> None:
    source = fake_nvml.source()
    assert source.poll().available
    fake_nvml.lib.nvmlShutdown()  # someone else in the process shut NVML down
    status = source.poll()
    assert not status.available and status.reason == "could not count NVIDIA GPUs: Uninitialized"
    assert source.poll().available
    assert fake_nvml.init_calls == 2


# -- start-up failures ----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (9, "NVIDIA driver not loaded"),
        (4, "no permission to query the NVIDIA driver"),
        (18, "NVIDIA driver and libnvidia-ml.so.1 versions differ (reload the driver or reboot)"),
        (999, "NVML failed to start: Unknown Error"),
    ],
)
def test_init_failure_reason(fake_nvml: FakeNvml, code: int, reason: str) -> None:
    fake_nvml.script(init_result=code)
    status = fake_nvml.source().poll()
    assert (status.available, status.reason, status.devices) == (False, reason, ())


def test_init_failure_remembered_then_retried(fake_nvml: FakeNvml) -> None:
    now = [1000.0]
    fake_nvml.script(init_result=9)
    source = fake_nvml.source(clock=lambda: now[0])
    for _ in range(10):
        assert source.poll().reason == "NVIDIA driver not loaded"
        now[0] += 5.0
    assert fake_nvml.init_calls == 1  # not every poll
    now[0] += 15.0  # 65 s after the failure
    source.poll()
    assert fake_nvml.init_calls == 2
    fake_nvml.monkeypatch.delenv("FAKE_NVML_INIT_RESULT")  # the driver is back
    now[0] += 61.0
    assert source.poll().available
    assert fake_nvml.init_calls == 3


def test_library_missing(fake_nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch) -> None:
    import pynvml

    def no_library(name: str, *args: object, **kwargs: object) -> object:
        raise OSError(f"{name}: cannot open shared object file: No such file or directory")

    monkeypatch.setattr(pynvml, "nvmlLib", None)
    monkeypatch.setattr(pynvml, "CDLL", no_library)
    status = fake_nvml.source().poll()
    assert not status.available
    assert status.reason == "no NVIDIA driver found (libnvidia-ml.so.1 not loadable)"
    assert fake_nvml.init_calls == 0


def test_pynvml_not_installed(fake_nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import raises ImportError
    status = fake_nvml.source().poll()
    assert status.reason == "nvidia-ml-py is not installed (pip install nvidia-ml-py)"


# -- joining to processes and JSON --------------------------------------------------


def test_real_child_process_joined_by_pid(fake_nvml: FakeNvml) -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        fake_nvml.script(count=2, procs=f"{child.pid}:1536;{child.pid}:512,1:1")
        by_pid = gpu_bytes_by_pid(fake_nvml.source().poll())
        assert by_pid[child.pid] == 2048 * MIB  # summed over both GPUs
        assert psutil.Process(child.pid).is_running()  # a pid the process table has
        assert child.pid in {p.pid for p in psutil.process_iter()}
    finally:
        child.kill()
        child.wait()


def test_status_to_json_shape(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(count=2, total_mib=1000, used_mib="900;100", procs="42:900;", util="NA;10:0")
    doc = status_to_json(fake_nvml.source().poll())
    assert json.loads(json.dumps(doc)) == doc
    assert list(doc) == ["available", "reason", "driver", "devices"]
    assert doc["devices"][0] == {
        "index": 0,
        "name": "NVIDIA Fake GPU",
        "total_bytes": 1000 * MIB,
        "used_bytes": 900 * MIB,
        "free_bytes": 100 * MIB,
        "percent": 90.0,
        "level": "critical",
        "utilization": None,
        "temperature": 40.0,
        "uuid": "GPU-fa4e0000-0000-0000-0000-000000000000",
        "processes": [{"pid": 42, "used_bytes": 900 * MIB}],
    }
    assert doc["devices"][1]["level"] == "excellent"


def test_status_to_json_unavailable(fake_nvml: FakeNvml) -> None:
    fake_nvml.script(init_result=9)
    assert status_to_json(fake_nvml.source().poll()) == {
        "available": False,
        "reason": "NVIDIA driver not loaded",
        "driver": None,
        "devices": [],
    }
