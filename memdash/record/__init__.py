"""Record, replay and the OOM post-mortem.

``memdash record`` appends one frame per refresh (the ``memdash snapshot --json``
document, plus the recorder's cgroup readings) and the events it saw (OOM kills,
services appearing and vanishing, level changes, cleanups) to a store of
time-sharded SQLite files (:mod:`memdash.record.store`). ``memdash replay``,
``memdash incidents`` and ``memdash report`` read that store back.

Nothing here imports Textual.
"""
