"""What making outside text safe costs per table row.

The process table escapes each row's command line when the row is drawn (the
escaped, argument-cut line is cached per pid; the cut to the column runs on
every redraw of a changed row). This measures, in the same run:

- ``printable(s, 120)``: the per-redraw call (cut to a column);
- ``printable(s)`` and ``command_line(s, 1024)``: once per new process;
- peers: ``s.isprintable()`` (the floor: one C scan), ``repr(s)`` (the
  stdlib's own escaping), and a regex escaper (``re.sub`` over control and
  bidi characters), the obvious alternative.

Inputs: a clean 60-character command line (most rows), a hostile one (OSC
title + CSI + newline + bidi), and a 64 KB argument (what /proc gives at most).

    .venv/bin/python bench/bench_textsafe.py
"""

from __future__ import annotations

import re
import timeit

from memdash.textsafe import command_line, printable

CLEAN = "/usr/bin/python3 -m gunicorn app:app --workers 3 --bind 0.0.0.0:8000"
HOSTILE = "python -c \x1b]2;PWNED\x07\x1b[2J\x1b[1;1H import os\nprint(1)\n\u202eevil [@click=app.quit]x"
LONG = "python -c " + "x = 1; " * 9360  # ~64 KB

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def regex_escape(s: str, max_len: int | None = None) -> str:
    out = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)
    return out if max_len is None or len(out) <= max_len else out[: max_len - 1] + "…"


def per_call_ns(fn, arg, *extra, number: int) -> float:
    best = min(timeit.repeat(lambda: fn(arg, *extra), number=number, repeat=5))
    return best / number * 1e9


def main() -> None:
    print(f"{'input':<8} {'call':<28} {'ns/call':>10}")
    for label, text, n in (("clean", CLEAN, 200_000), ("hostile", HOSTILE, 50_000), ("64KB", LONG, 200)):
        rows = [
            ("printable(s, 120)", printable, (120,)),
            ("printable(s)", printable, ()),
            ("command_line(s, 1024)", command_line, (1024,)),
            ("peer: s.isprintable()", str.isprintable, ()),
            ("peer: repr(s)", repr, ()),
            ("peer: regex escape(s, 120)", regex_escape, (120,)),
        ]
        for name, fn, extra in rows:
            print(f"{label:<8} {name:<28} {per_call_ns(fn, text, *extra, number=n):>10.0f}")
    # A refresh redraws the changed rows on screen: ~40 of them.
    rows40 = [CLEAN] * 36 + [HOSTILE] * 4
    n = 5000
    t = min(timeit.repeat(lambda: [printable(s, 120) for s in rows40], number=n, repeat=5)) / n
    print(f"40 rows (36 clean, 4 hostile) cut to 120 columns: {t * 1e6:.1f} us per refresh")


if __name__ == "__main__":
    main()
