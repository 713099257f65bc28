"""C functions called through ``_ctypes``, the C module under ``ctypes``,
without the ``ctypes`` package.

The probe needs four C types and a handful of functions (glibc's
``mallinfo2``, ``malloc_info``, ``open_memstream``, ``fclose``, ``free`` and
the interpreter's ``_PyObject_DebugMallocStats``). ``ctypes/__init__.py`` and
the ``struct`` module it loads cost a host that had neither about 0.2 MiB of
RSS for the rest of its life (``bench/bench_probe.py --only rss``), so the
probe defines the few types itself over the same C classes ``ctypes`` is built
on, as it speaks ``_socket`` and ``_json`` rather than ``socket`` and ``json``.
The types behave as ``ctypes``'s own: the test suite checks the figures read
through them against ``ctypes`` in the same process.
"""

from __future__ import annotations

import _ctypes

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any


class c_int(_ctypes._SimpleCData):
    """C ``int``."""

    _type_ = "i"


class c_size_t(_ctypes._SimpleCData):
    """C ``size_t``: ``unsigned long`` on every Linux ABI (LP64 and ILP32)."""

    _type_ = "L"


class c_void_p(_ctypes._SimpleCData):
    """C ``void *``; ``.value`` is the address, ``None`` for NULL."""

    _type_ = "P"


class c_char(_ctypes._SimpleCData):
    """C ``char``: arrays of it have ``.raw``."""

    _type_ = "c"


Structure = _ctypes.Structure
byref = _ctypes.byref


def string_at(address: int, size: int) -> bytes:
    """``size`` bytes copied from ``address`` (as ``ctypes.string_at``)."""
    if size <= 0:
        return b""
    array: Any = type("c_char_Array", (_ctypes.Array,), {"_type_": c_char, "_length_": size})
    return array.from_address(address).raw


class Library:
    """A shared library opened with ``dlopen`` (``None``: the process itself,
    where the interpreter's C API lives). ``python_api=True`` makes calls that
    keep the GIL and check for a Python error, as ``ctypes.PyDLL`` does (what
    calling the interpreter's own functions needs)."""

    def __init__(self, name: str | None, python_api: bool = False) -> None:
        # None is dlopen(NULL), the process itself (typeshed knows only paths).
        self._handle = _ctypes.dlopen(name, getattr(_ctypes, "RTLD_LOCAL", 0))  # type: ignore[arg-type]
        flags = _ctypes.FUNCFLAG_CDECL | (_ctypes.FUNCFLAG_PYTHONAPI if python_api else 0)
        self._function_type = type("CFunction", (_ctypes.CFuncPtr,), {"_flags_": flags, "_restype_": c_int})

    def function(self, name: str, restype: Any, argtypes: list[Any] | None = None) -> Any:
        """The C function ``name``; ``AttributeError`` when the library has none."""
        fn = self._function_type((name, self))
        fn.restype = restype
        if argtypes is not None:
            fn.argtypes = argtypes
        return fn
