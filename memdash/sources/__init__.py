"""Sources: where samples come from. None of them imports Textual.

- :mod:`~memdash.sources.cgroup`: cgroup v1/v2 limits (the reader is :mod:`memdash.probe.cgroupfs`, shared with the probe)
- :mod:`~memdash.sources.system`: the box's memory
- :mod:`~memdash.sources.processes`: per-process memory
- :mod:`~memdash.sources.gpu`: NVML devices and processes
- :mod:`~memdash.sources.remote`: services over HTTP(S) or Unix sockets (the public
  face of :mod:`~memdash.sources.poller`, :mod:`~memdash.sources.kinds`,
  :mod:`~memdash.sources.cleanups`, :mod:`~memdash.sources.endpoint`,
  :mod:`~memdash.sources.transport`, :mod:`~memdash.sources.http11`,
  :mod:`~memdash.sources.errors` and :mod:`~memdash.sources.redact`)
- :mod:`~memdash.sources.numbers`: figures from other people's answers, made safe
"""
