"""NVIDIA GPUs through NVML: devices, their memory and the processes using them.

:class:`GpuSource` reads NVML with ``pynvml``, the module that the
``nvidia-ml-py`` package provides (never the deprecated ``pynvml`` package).
``pynvml`` is imported on the first poll, not here, so importing this module
costs nothing on boxes without a GPU.

What a poll returns (:class:`~memdash.model.GpuStatus`):

- NVML is initialised once, on the first poll, and shut down by :meth:`GpuSource.close`
  (also registered with :mod:`atexit`). When it cannot start, the failure is
  remembered and returned as ``available=False`` with a reason a person
  understands; it is retried at most every ``retry_seconds`` (60 s).
- A driver that answers with no GPUs gives ``available=False``,
  ``reason="no NVIDIA GPU found"`` and the driver version: there is nothing to
  show, and the reason says why.
- Every per-device figure that NVML refuses (``NOT_SUPPORTED``, ``GPU_IS_LOST``,
  ``NO_PERMISSION``, a function missing from an old driver...) becomes ``None``
  for that field; the rest of the poll goes on.
- Processes are the compute and graphics lists merged by pid.
- NVML runs in a thread of its own, and a poll waits for it at most
  ``deadline_seconds`` (2 s): a wedged driver (an ``nvmlInit`` that never
  returns) gives ``available=False``, ``reason="NVML did not answer in 2 s"``,
  and the caller goes on. While that call is still stuck, later polls answer
  the same at once instead of queueing behind it; once it returns, NVML is
  polled again as usual. The thread is a daemon: it never holds up an exit.
- A GPU in MIG mode is listed with its whole memory and no processes, followed
  by one :class:`~memdash.model.GpuDevice` per MIG instance (same ``index`` as
  the parent, ``uuid`` starting ``MIG-``) that carries the instance's memory and
  processes. So no process is counted twice.

Sizes are bytes, percents 0-100, temperatures Celsius.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import ctypes
import queue
import struct
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, TypeVar

from memdash.levels import Thresholds
from memdash.model import GpuDevice, GpuProcess, GpuStatus

if TYPE_CHECKING:  # pragma: no cover - typing only; pynvml is imported lazily
    from types import ModuleType

__all__ = ["GpuSource", "gpu_bytes_by_pid", "status_to_json", "RETRY_SECONDS"]

#: Seconds between attempts to start NVML after a failure. Retrying is cheap
#: (~0.1 ms) but pointless every refresh: a driver rarely appears at runtime.
RETRY_SECONDS = 60.0
#: Seconds a poll waits for NVML before reporting it as not answering.
DEADLINE_SECONDS = 2.0

# NVML return codes (nvml.h), so reasons can be chosen without importing pynvml.
_SUCCESS = 0
_UNINITIALIZED = 1
_NO_PERMISSION = 4
_INSUFFICIENT_SIZE = 7
_DRIVER_NOT_LOADED = 9
_LIBRARY_NOT_FOUND = 12
_FUNCTION_NOT_FOUND = 13
_LIB_RM_VERSION_MISMATCH = 18
_ARGUMENT_VERSION_MISMATCH = 25

#: nvmlProcessInfo_t (v2 and v3): uint pid, 4 pad bytes, ull usedGpuMemory,
#: uint gpuInstanceId, uint computeInstanceId: 24 bytes.
_PROCESS_INFO = struct.Struct("=I4xQII")
#: usedGpuMemory when NVML cannot say (NVML_VALUE_NOT_AVAILABLE): 2**64 - 1.
_NOT_AVAILABLE = 2**64 - 1

_MIG_ENABLED = 1
_TEMPERATURE_GPU = 0

_INIT_REASONS: dict[int, str] = {
    _LIBRARY_NOT_FOUND: "no NVIDIA driver found (libnvidia-ml.so.1 not loadable)",
    _DRIVER_NOT_LOADED: "NVIDIA driver not loaded",
    _NO_PERMISSION: "no permission to query the NVIDIA driver",
    _LIB_RM_VERSION_MISMATCH: (
        "NVIDIA driver and libnvidia-ml.so.1 versions differ (reload the driver or reboot)"
    ),
    _FUNCTION_NOT_FOUND: "NVIDIA driver too old for nvidia-ml-py",
}

NO_GPU_REASON = "no NVIDIA GPU found"


def hung_reason(seconds: float) -> str:
    """The reason given while NVML does not answer: ``"NVML did not answer in 2 s"``."""
    return f"NVML did not answer in {seconds:g} s"

NOT_INSTALLED_REASON = "nvidia-ml-py is not installed (pip install nvidia-ml-py)"

_T = TypeVar("_T")


def init_failure_reason(code: int | None, text: str) -> str:
    """Words for an NVML start-up failure with return code ``code`` (``text``: NVML's)."""
    if code is not None and code in _INIT_REASONS:
        return _INIT_REASONS[code]
    return f"NVML failed to start: {text}"


class _NvmlThread:
    """One daemon thread that makes every NVML call, one job at a time.

    A job that never returns (a wedged driver) stalls only this thread; callers
    wait on its future with a deadline and go on without it.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, fn: Callable[[], _T]) -> concurrent.futures.Future[_T]:
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="memdash-nvml", daemon=True)
                self._thread.start()
        self._jobs.put((fn, future))
        return future

    def _run(self) -> None:
        while True:
            fn, future = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, not lost in this thread
                future.set_exception(exc)


class GpuSource:
    """Polls NVML. One instance per app; :meth:`poll` may run in a worker thread.

    ``retry_seconds``: how long a failed start is remembered before NVML is tried
    again. ``deadline_seconds``: how long a poll waits for NVML to answer.
    ``clock`` (seconds, monotonic) is there for tests.
    """

    #: Read process lists with :func:`_read_processes` (fast) rather than pynvml's
    #: wrappers; tests turn it off to check that both agree.
    fast_processes: bool = True
    #: Seconds the atexit hook waits for a poll in progress before giving up.
    exit_timeout_seconds: float = 2.0

    def __init__(
        self,
        thresholds: Thresholds = Thresholds(),
        *,
        retry_seconds: float = RETRY_SECONDS,
        deadline_seconds: float = DEADLINE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.thresholds = thresholds
        self.retry_seconds = retry_seconds
        self.deadline_seconds = deadline_seconds
        self._clock = clock
        # Every NVML call runs on this thread; the lock lets one caller at a
        # time hand it a job and wait (poll() from a worker, close() from atexit).
        self._nvml_thread = _NvmlThread()
        self._lock = threading.Lock()
        self._in_flight: concurrent.futures.Future[Any] | None = None
        self._nvml: ModuleType | None = None
        self._errors: tuple[type[BaseException], ...] = ()
        self._initialized = False
        self._atexit_registered = False
        self._driver: str | None = None
        self._failure: GpuStatus | None = None
        self._failed_at = 0.0
        # Legacy nvmlDeviceGetTemperature where the driver lacks the versioned
        # call; decided once, so a poll does not raise and catch every time.
        self._legacy_temperature = False

    # -- lifecycle ---------------------------------------------------------

    @property
    def initialized(self) -> bool:
        """True while NVML is initialised by this source."""
        return self._initialized

    def poll(self) -> GpuStatus:
        """Read every GPU now. Blocks at most about ``deadline_seconds`` (twice
        that when another thread's poll is waiting too); never raises for NVML
        errors (they become ``available=False`` or ``None`` fields).

        Against the fake NVML: ~0.07 ms for 1 GPU with 8 processes, ~1.8 ms for
        8 GPUs x 64 (``bench/bench_gpu.py``); a real driver adds its own time per
        call. ~1 us while a start-up failure is remembered."""
        status = self._call(self._poll_now, self.deadline_seconds)
        if status is None:
            return GpuStatus(available=False, reason=hung_reason(self.deadline_seconds), driver=self._driver)
        return status

    @property
    def hung(self) -> bool:
        """True while an NVML call has outlived its deadline and not yet returned."""
        job = self._in_flight
        return job is not None and not job.done()

    def _call(self, fn: Callable[[], _T], timeout: float) -> _T | None:
        """``fn()`` on the NVML thread; ``None`` if it did not finish within ``timeout``
        (or an earlier call is still stuck there)."""
        if not self._lock.acquire(timeout=max(timeout, 0.0)):
            return None
        try:
            if self.hung:
                return None  # never queue behind a call that has not come back
            job = self._nvml_thread.submit(fn)
            self._in_flight = job
            try:
                return job.result(timeout=timeout)
            except concurrent.futures.TimeoutError:
                return None
        finally:
            self._lock.release()

    def _poll_now(self) -> GpuStatus:
        """One poll, on the NVML thread."""
        if not self._initialized:
            failure = self._start()
            if failure is not None:
                return failure
        nvml = self._nvml
        assert nvml is not None
        try:
            return self._read(nvml)
        except self._errors as e:  # an error outside any one field
            return GpuStatus(
                available=False, reason=f"NVML query failed: {e}", driver=self._driver
            )

    def close(self) -> None:
        """Shut NVML down if this source started it. Idempotent; a later
        :meth:`poll` starts NVML again."""
        self._close(unregister=True)

    def _close_at_exit(self) -> None:
        # Not unregistering from inside atexit's own loop (unsafe before 3.10.2).
        # A poll stuck in a hung driver must not hang the exit: give up waiting
        # after exit_timeout_seconds; the driver frees a dead process's state.
        self._close(unregister=False, timeout=self.exit_timeout_seconds)

    def _close(self, *, unregister: bool, timeout: float | None = None) -> None:
        # nvmlShutdown runs on the NVML thread too; against a wedged driver it
        # is given up after the deadline (the driver frees a dead process's state).
        self._call(self._shutdown_now, self.deadline_seconds if timeout is None else timeout)
        if unregister and self._atexit_registered:
            atexit.unregister(self._close_at_exit)
            self._atexit_registered = False

    def _shutdown_now(self) -> None:
        if self._initialized and self._nvml is not None:
            self._initialized = False
            try:
                self._nvml.nvmlShutdown()
            except self._errors:
                pass  # already shut down elsewhere: nothing left to release
        self._failure = None

    def _start(self) -> GpuStatus | None:
        """Initialise NVML; the remembered failure status while one is fresh."""
        now = self._clock()
        if self._failure is not None and now - self._failed_at < self.retry_seconds:
            return self._failure
        failure = self._try_start()
        if failure is not None:
            self._failure, self._failed_at = failure, now
        return failure

    def _try_start(self) -> GpuStatus | None:
        if self._nvml is None:
            try:
                import pynvml
            except ImportError:
                return GpuStatus(available=False, reason=NOT_INSTALLED_REASON)
            self._nvml = pynvml
            # NVMLLibraryMismatchError is what pynvml's unversioned wrappers raise
            # for a missing symbol; it is not an NVMLError.
            self._errors = (pynvml.NVMLError, pynvml.NVMLLibraryMismatchError)
        nvml = self._nvml
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as e:
            code = getattr(e, "value", None)
            return GpuStatus(available=False, reason=init_failure_reason(code, str(e)))
        except OSError as e:  # pynvml maps dlopen errors, but be sure
            return GpuStatus(available=False, reason=init_failure_reason(None, str(e)))
        self._initialized = True
        self._failure = None
        self._driver = self._field(nvml.nvmlSystemGetDriverVersion)
        if not self._atexit_registered:
            atexit.register(self._close_at_exit)
            self._atexit_registered = True
        return None

    # -- reading -----------------------------------------------------------

    def _field(self, fn: Callable[..., _T], *args: Any) -> _T | None:
        """``fn(*args)``, or ``None`` when NVML refuses: one field, not the poll."""
        try:
            return fn(*args)
        except self._errors:
            return None

    def _read(self, nvml: Any) -> GpuStatus:
        try:
            count = nvml.nvmlDeviceGetCount()
        except nvml.NVMLError as e:
            if getattr(e, "value", None) == _UNINITIALIZED:
                # Someone shut NVML down under us: start again next poll.
                self._initialized = False
            return GpuStatus(
                available=False, reason=f"could not count NVIDIA GPUs: {e}", driver=self._driver
            )
        if count == 0:
            return GpuStatus(available=False, reason=NO_GPU_REASON, driver=self._driver)
        devices: list[GpuDevice] = []
        for index in range(count):
            devices.extend(self._read_device(nvml, index))
        return GpuStatus(available=True, driver=self._driver, devices=tuple(devices))

    def _read_device(self, nvml: Any, index: int) -> list[GpuDevice]:
        """The device at ``index``, then its MIG instances if it has any."""
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
        except self._errors as e:
            # Still listed, so a lost GPU shows up instead of silently vanishing.
            return [
                GpuDevice(
                    index=index, name=f"GPU {index} ({e})", uuid=None, total_bytes=None,
                    used_bytes=None, free_bytes=None, percent=None, utilization=None,
                    temperature=None,
                )
            ]
        migs = self._mig_handles(nvml, handle)
        parent = self._device(nvml, index, handle, with_processes=not migs)
        return [parent, *(self._device(nvml, index, h, with_processes=True) for h in migs)]

    def _device(self, nvml: Any, index: int, handle: Any, *, with_processes: bool) -> GpuDevice:
        name = self._field(nvml.nvmlDeviceGetName, handle)
        memory = self._field(nvml.nvmlDeviceGetMemoryInfo, handle)
        total = used = free = None
        percent: float | None = None
        if memory is not None:
            total, used, free = int(memory.total), int(memory.used), int(memory.free)
            percent = 100.0 * used / total if total > 0 else None
        rates = self._field(nvml.nvmlDeviceGetUtilizationRates, handle)
        return GpuDevice(
            index=index,
            name=name if name else f"GPU {index}",
            uuid=self._field(nvml.nvmlDeviceGetUUID, handle) or None,
            total_bytes=total,
            used_bytes=used,
            free_bytes=free,
            percent=percent,
            utilization=float(rates.gpu) if rates is not None else None,
            temperature=self._temperature(nvml, handle),
            processes=self._processes(nvml, handle) if with_processes else (),
            level=self.thresholds.classify(percent),
        )

    def _temperature(self, nvml: Any, handle: Any) -> float | None:
        """GPU core temperature in Celsius, ``None`` where unsupported."""
        versioned = getattr(nvml, "nvmlDeviceGetTemperatureV", None)
        if versioned is not None and not self._legacy_temperature:
            try:
                return float(versioned(handle, _TEMPERATURE_GPU))
            except nvml.NVMLError as e:
                if getattr(e, "value", None) not in (
                    _FUNCTION_NOT_FOUND,
                    _ARGUMENT_VERSION_MISMATCH,
                ):
                    return None
                self._legacy_temperature = True  # older driver: use the old call
        value = self._field(nvml.nvmlDeviceGetTemperature, handle, _TEMPERATURE_GPU)
        return float(value) if value is not None else None

    def _mig_handles(self, nvml: Any, handle: Any) -> list[Any]:
        """Handles of the MIG instances on a GPU in MIG mode; ``[]`` otherwise,
        including where MIG queries answer ``NOT_SUPPORTED`` (most GPUs)."""
        mode = self._field(nvml.nvmlDeviceGetMigMode, handle)
        if not mode or mode[0] != _MIG_ENABLED:
            return []
        slots = self._field(nvml.nvmlDeviceGetMaxMigDeviceCount, handle) or 0
        handles = []
        for slot in range(slots):
            # Slots without an instance answer NOT_FOUND; skip them (and any other
            # refusal) rather than stop, since instances need not be contiguous.
            mig = self._field(nvml.nvmlDeviceGetMigDeviceHandleByIndex, handle, slot)
            if mig is not None:
                handles.append(mig)
        return handles

    def _process_list(self, nvml: Any, handle: Any, kind: str) -> list[tuple[int, int | None]]:
        """One NVML process list (``kind``: Compute or Graphics) as (pid, bytes)
        pairs; ``[]`` where NVML refuses.

        Calls the ``_v3`` entry point, falling back to ``_v2`` for drivers older
        than 510 (same struct layout)."""
        for suffix in ("_v3", "_v2"):
            symbol = f"nvmlDeviceGet{kind}RunningProcesses{suffix}"
            try:
                if self.fast_processes and hasattr(nvml, "_nvmlGetFunctionPointer"):
                    return _read_processes(nvml, handle, symbol)
                fn = getattr(nvml, symbol, None)
                if fn is None:
                    continue
                return [(int(p.pid), p.usedGpuMemory) for p in fn(handle)]
            except nvml.NVMLError as e:
                if getattr(e, "value", None) != _FUNCTION_NOT_FOUND:
                    return []
        return []

    def _processes(self, nvml: Any, handle: Any) -> tuple[GpuProcess, ...]:
        compute = _sum_by_pid(self._process_list(nvml, handle, "Compute"))
        graphics = _sum_by_pid(self._process_list(nvml, handle, "Graphics"))
        return _merge(compute, graphics)


def _read_processes(nvml: Any, handle: Any, symbol: str) -> list[tuple[int, int | None]]:
    """NVML's two-call process-list protocol, done here instead of in pynvml.

    pynvml's wrapper builds a Python object per process through its
    ``_PrintableStructure`` (~7 us each: 3.5 ms for 8 GPUs x 64 processes); this
    unpacks the same C array with :mod:`struct` (~0.3 us each). The library is
    still pynvml's (its loader and function-pointer cache), so the same fake
    or driver answers. Unlike the wrapper, a list that grew between the two calls
    is asked for again instead of failing.
    """
    fn = nvml._nvmlGetFunctionPointer(symbol)  # NVMLError(FUNCTION_NOT_FOUND) if absent
    count = ctypes.c_uint(0)
    ret = fn(handle, ctypes.byref(count), None)
    for _ in range(3):
        if ret == _SUCCESS:
            return []  # (count=0, NULL) answering SUCCESS: no processes
        if ret != _INSUFFICIENT_SIZE:
            raise nvml.NVMLError(ret)
        capacity = count.value * 2 + 5  # room for processes starting meanwhile
        buf = ctypes.create_string_buffer(capacity * _PROCESS_INFO.size)
        count.value = capacity
        ret = fn(handle, ctypes.byref(count), buf)
        if ret == _SUCCESS:
            raw = ctypes.string_at(buf, min(count.value, capacity) * _PROCESS_INFO.size)
            return [
                (pid, None if used == _NOT_AVAILABLE else used)
                for pid, used, _gi, _ci in _PROCESS_INFO.iter_unpack(raw)
            ]
    raise nvml.NVMLError(ret)


def _sum_by_pid(procs: Iterable[tuple[int, int | None]]) -> dict[int, int | None]:
    """pid -> bytes within one list. A pid listed twice (one process in two MIG
    instances, on an aggregate query) holds both allocations, so they add up;
    ``None`` (NVML: not available) only when no entry has a figure."""
    out: dict[int, int | None] = {}
    for pid, used in procs:
        if pid in out:
            prev = out[pid]
            out[pid] = used if prev is None else prev if used is None else prev + used
        else:
            out[pid] = used
    return out


def _merge(compute: dict[int, int | None], graphics: dict[int, int | None]) -> tuple[GpuProcess, ...]:
    """Compute and graphics lists as one process each. NVML reports a process's
    usage on the device in each list it appears in, so the two are not added:
    the larger known figure is kept, and ``kind`` is ``"compute+graphics"``."""
    merged: list[GpuProcess] = []
    for pid, used in compute.items():
        if pid in graphics:
            other = graphics[pid]
            if used is None or (other is not None and other > used):
                used = other
            merged.append(GpuProcess(pid=pid, used_bytes=used, kind="compute+graphics"))
        else:
            merged.append(GpuProcess(pid=pid, used_bytes=used, kind="compute"))
    merged.extend(
        GpuProcess(pid=pid, used_bytes=used, kind="graphics")
        for pid, used in graphics.items()
        if pid not in compute
    )
    return tuple(merged)


def gpu_bytes_by_pid(status: GpuStatus) -> dict[int, int]:
    """pid -> GPU memory in bytes, summed over every device (and MIG instance).

    For joining to the process table. A process whose usage NVML cannot report
    (``used_bytes is None``) is left out. NVML reports pids as the host sees them:
    inside a container with its own pid namespace they will not match.
    """
    out: dict[int, int] = {}
    for device in status.devices:
        for proc in device.processes:
            if proc.used_bytes is not None:
                out[proc.pid] = out.get(proc.pid, 0) + proc.used_bytes
    return out


def status_to_json(status: GpuStatus) -> dict[str, Any]:
    """``status`` as the ``gpus`` object of ``memdash snapshot --json``.

    The one definition of that JSON lives with the rest of the snapshot
    document, in :func:`memdash.report.gpus_json`.
    """
    from memdash.report import gpus_json

    return gpus_json(status)
