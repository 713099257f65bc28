"""What lives outside Python's heap: glibc's ``malloc_trim`` and PyTorch's CUDA
caching allocator. Both are optional and guarded.

``malloc_trim(0)`` asks glibc to return free heap pages to the OS. It can only
return memory glibc holds: objects over 512 bytes, buffers, C extensions'
allocations, or everything under ``PYTHONMALLOC=malloc``. Small Python objects
live in pymalloc's 1 MiB arenas, which are released only when completely
empty; scattered survivors keep them resident and no trim helps (measured in
the team's tech notes, section 8). So receipts report the measured RSS change
and never promise one.

torch is never imported here: it is used only if the host already imported it
(``sys.modules``), and CUDA is queried only if the host already initialised it,
since initialising a CUDA context would itself cost hundreds of MiB.
"""

from __future__ import annotations

import os
import sys
from _thread import allocate_lock

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any, Callable

_trim_lock = allocate_lock()
_trim_fn: Callable[[int], int] | None = None
_trim_looked_up = False


def _lookup_malloc_trim() -> Callable[[int], int] | None:
    global _trim_fn, _trim_looked_up
    if _trim_looked_up:
        return _trim_fn
    with _trim_lock:
        if _trim_looked_up:
            return _trim_fn
        fn = None
        if sys.platform.startswith("linux"):
            try:
                import ctypes  # imported here: only hosts that use trim pay for it

                libc = ctypes.CDLL("libc.so.6", use_errno=True)
                candidate = libc.malloc_trim  # AttributeError on musl
                candidate.argtypes = [ctypes.c_size_t]
                candidate.restype = ctypes.c_int
                fn = candidate
            except (OSError, AttributeError, ImportError):
                fn = None
        _trim_fn = fn
        _trim_looked_up = True
    return _trim_fn


def _glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError, AttributeError):  # musl, macOS
        return False


_IS_GLIBC = sys.platform.startswith("linux") and _glibc()


def trim_available() -> bool:
    """Whether glibc's ``malloc_trim`` can be called in this process.

    Answered from ``confstr`` (is this glibc?) until the first trim, so a
    snapshot does not load ctypes; the first trim confirms it.
    """
    if _trim_looked_up:
        return _trim_fn is not None
    return _IS_GLIBC


def malloc_trim() -> bool | None:
    """Call ``malloc_trim(0)``; True if glibc released memory, None if unavailable."""
    fn = _lookup_malloc_trim()
    if fn is None:
        return None
    return bool(fn(0))


def _torch() -> Any | None:
    return sys.modules.get("torch")


def cuda_ready() -> bool:
    """torch imported by the host, CUDA available and already initialised."""
    torch = _torch()
    if torch is None:
        return False
    try:
        return bool(torch.cuda.is_available() and torch.cuda.is_initialized())
    except Exception:
        return False


def torch_figures() -> dict[str, Any] | None:
    """The ``torch`` block of a snapshot, ``None`` when the host has no torch."""
    torch = _torch()
    if torch is None:
        return None
    out: dict[str, Any] = {"version": getattr(torch, "__version__", None), "cuda_available": False,
                           "cuda_initialized": False, "devices": []}
    try:
        cuda = torch.cuda
        out["cuda_available"] = bool(cuda.is_available())
        out["cuda_initialized"] = bool(out["cuda_available"] and cuda.is_initialized())
        if out["cuda_initialized"]:
            for i in range(cuda.device_count()):
                out["devices"].append({
                    "device": i,
                    "name": _device_name(cuda, i),
                    "allocated_bytes": int(cuda.memory_allocated(i)),
                    "reserved_bytes": int(cuda.memory_reserved(i)),
                    "max_allocated_bytes": int(cuda.max_memory_allocated(i)),
                })
    except Exception as exc:  # a broken driver must not break the snapshot
        out["error"] = f"{type(exc).__name__} reading torch.cuda"
    return out


_names: dict[int, str | None] = {}


def _device_name(cuda: Any, index: int) -> str | None:
    if index not in _names:  # constant for the process's life; the call is not free
        try:
            _names[index] = str(cuda.get_device_name(index))
        except Exception:
            _names[index] = None
    return _names[index]


def gpu_reserved_bytes() -> int | None:
    """Bytes reserved by torch's caching allocator over all devices, or None."""
    if not cuda_ready():
        return None
    torch = _torch()
    try:
        cuda: Any = torch.cuda  # type: ignore[union-attr]  # cuda_ready() said torch is there
        return sum([int(cuda.memory_reserved(i)) for i in range(cuda.device_count())])
    except Exception:
        return None


def cuda_empty_cache() -> None:
    """``torch.cuda.empty_cache()``: give unused reserved blocks back to the driver."""
    torch = _torch()
    if torch is None:
        raise RuntimeError("torch is not imported in this process")
    torch.cuda.empty_cache()
