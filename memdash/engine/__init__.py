"""memdash's headless engine: schedules, discovery, History, cleanups, frames.

Everything between the sources (:mod:`memdash.sources`, :mod:`memdash.collector`)
and whatever shows the figures (the dashboard, ``memdash snapshot``, a recorder).
It never imports Textual.

- :class:`Engine`: start, subscribe, set the view, pause, clean up, close.
- :class:`Frame`: one immutable published moment; :func:`frame_json` serialises it.
- :class:`Event`: what happened between two frames (a cleanup's receipt...).
- :class:`View`: what the screen needs read (rows on screen, series to chart).
"""

from __future__ import annotations

from memdash.engine.core import Engine, target_runtime_keys, target_series_keys
from memdash.engine.frame import Event, Frame, SeriesView, event_json, frame_json
from memdash.engine.view import View, process_smaps_keys

__all__ = ["Engine", "Event", "Frame", "SeriesView", "View", "event_json", "frame_json", "process_smaps_keys", "target_runtime_keys", "target_series_keys"]
