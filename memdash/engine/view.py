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
            the GPUs' (``target.<name>.rss`` for an open target view). Asking
            for a process's ``process.<pid>.pss``/``.uss``/``.swap``
            (:func:`process_smaps_keys`) also makes the engine read that pid's
            ``smaps_rollup`` at the usual cadence and keep those series while
            they are asked for (dropped once no view names them).
    """

    detail_pids: tuple[int, ...] = ()
    need_all: bool = False
    top: int = 25
    keep_rss_bytes: int | None = None
    keep_limited: bool = False
    series: tuple[str, ...] = ()


#: What a process's smaps series hold, by the row's field: ``process.<pid>.<kind>``.
SMAPS_SERIES = (("pss", "pss_bytes"), ("uss", "uss_bytes"), ("swap", "swap_bytes"))


def process_smaps_keys(pid: int) -> tuple[str, str, str]:
    """History keys of process ``pid``'s PSS, USS and swap (bytes), a point each
    time its ``smaps_rollup`` was really read."""
    return f"process.{pid}.pss", f"process.{pid}.uss", f"process.{pid}.swap"


def smaps_series_pids(series: tuple[str, ...]) -> dict[int, tuple[str, ...]]:
    """The pids whose smaps series ``series`` names, each with the keys named."""
    kinds = {kind for kind, _ in SMAPS_SERIES}
    out: dict[int, tuple[str, ...]] = {}
    for key in series:
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "process" and parts[1].isdigit() and parts[2] in kinds:
            pid = int(parts[1])
            out[pid] = (*out.get(pid, ()), key)
    return out
