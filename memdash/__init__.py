"""memdash: see which processes and services hold memory, and free it measurably.

Importing :mod:`memdash` loads nothing heavy; the dashboard, the sources and the
probe are imported where they are used.
"""

__version__ = "0.1.0"
