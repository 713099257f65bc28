"""The Python memory bar's legend: a row per part with its method, or on a short
terminal one row for all four (the charts and the GC table need the lines)."""

from __future__ import annotations

from memdash.tui.scene import _targets
from memdash.tui.widgets.python_memory import render


def test_the_compact_legend_is_one_row_with_every_part_and_no_method() -> None:
    pm = _targets()[0].python_memory
    assert pm is not None
    full = render(pm, 76).plain.splitlines()
    compact = render(pm, 76, compact=True).plain.splitlines()
    assert len(full) == 7 and len(compact) == 4  # title, bar, legend row(s), allocators
    legend = compact[2]
    for part in ("live Python objects (est.) 523M", "pymalloc free 41M", "glibc free 96M (T 71M trimmable)",
                 "native/other 160M"):
        assert part in legend, legend
    assert "mallinfo2" in "\n".join(full) and "mallinfo2" not in "\n".join(compact)  # methods: full legend only
    assert compact[1] == full[1] and len(compact[1]) == 76  # the same bar
    assert compact[3] == full[6]  # the same allocator line
