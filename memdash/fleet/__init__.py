"""The fleet view: which container, service or host runs out of memory next,
read from a Prometheus (or compatible) server that already scrapes the fleet.

Modules: :mod:`~memdash.fleet.promapi` (the HTTP API client),
:mod:`~memdash.fleet.queries` (families and PromQL), :mod:`~memdash.fleet.ranking`
(joins, levels, time to OOM), :mod:`~memdash.fleet.source` (one refresh, the
drill-down), :mod:`~memdash.fleet.rules` (``memdash rules``) and
:mod:`~memdash.fleet.cli`. Nothing here imports Textual; the screen is
:mod:`memdash.tui.screens.fleet`. See ``docs/fleet.md``.
"""
