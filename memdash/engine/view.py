"""What a screen needs from the next polls.

Screens never let the engine read their widgets: they tell it, through
:meth:`Engine.set_view <memdash.engine.Engine.set_view>`, which rows they show
and which history they chart, and the engine reads just that much.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class View:
    """What the next frames must carry.

    Attributes:
        detail_pids: pids whose USS/PSS/swap to read (``smaps_rollup`` costs
            milliseconds for a big process, so only rows on screen get them).
            Empty: the top ``top`` rows get them.
        need_all: keep every process in frames (a filter, a sort other than by
            RSS, or "show all" may show any row); otherwise the top ``top`` by
            RSS, plus ``detail_pids`` and GPU users.
        top: how many rows the screen shows at most.
        keep_rss_bytes: beyond the top ``top``, also keep every process at or
            above this RSS (``None``: none); the recorder's size floor.
        keep_limited: beyond the top ``top``, also keep every process in a
            memory cgroup with its own limit (a service); the recorder's rows.
            With these two a caller gets the rows it keeps without ``need_all``
            building a row for every process on the box.
        series: history series to copy into each frame, beyond the system's and
            the GPUs' (``target.<name>.rss`` for an open target view).
    """

    detail_pids: tuple[int, ...] = ()
    need_all: bool = False
    top: int = 25
    keep_rss_bytes: int | None = None
    keep_limited: bool = False
    series: tuple[str, ...] = ()
