"""``python -m memdash``: the same as the ``memdash`` command."""

from memdash.cli import main

raise SystemExit(main())
