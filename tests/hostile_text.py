"""A corpus of hostile text, as another user or a remote service could send it.

Each entry is text memdash does not control and must show as data: Textual
markup (which would crash the app or run an action on a click), terminal
escapes (which would retitle the window, clear the screen, write the
clipboard), bidi overrides, line breaks, a 100 KB string and invalid UTF-8.

``CORPUS`` maps an id to the text. ``ARGV`` is the same as command-line
arguments (bytes where the text is not valid UTF-8). ``visible()`` is what a
person should read on the screen for an entry.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from typing import Iterator

from memdash.textsafe import printable

#: What a click on ``screenshot`` text would write, if markup were live (tests
#: put it in their tmp_path to check it never appears).
SCREENSHOT_NAME = "victim.conf"

MARKUP = {
    "close-tag": "[/]",
    "open-style": "[bold red]x",
    "click-quit": "[@click=app.quit]x",
    "click-screenshot": f"[@click=app.screenshot('{SCREENSHOT_NAME}','/tmp')]x",
    "link": "[link=file:///etc/passwd]x",
    "unclosed": "[/",
    "nested-close": "[b][/i]",
}

ESCAPES = {
    "csi-clear": "\x1b[2J\x1b[1;1H",
    "osc-title": "\x1b]2;PWNED\x07",
    "osc-title-st": "\x1b]0;PWNED2\x1b\\",
    "osc52-clipboard": "\x1b]52;c;aGk=\x07",
    "dcs": "\x1bP+q544e\x1b\\",
    "c1-csi": "\x9b2J",
    "bell-del-nul-ish": "a\x07b\x7fc\x01d",
    "bidi-override": "\u202eevil.exe\u202c",
    "bidi-isolate": "\u2066x\u2069",
    "zero-width": "a\u200bb\ufeffc",
    "line-sep": "a\u2028b",
}

LAYOUT = {
    "newline": "import os\nprint(1)\nprint(2)",
    "crlf": "a\r\nb",
    "tab": "a\tb",
    "long-100k": "L" * 100_000,
}

#: Text that reached us as bytes that are not UTF-8 (decoded with replacement
#: or surrogateescape on the way in).
INVALID_UTF8 = {
    "invalid-utf8": b"bad\xff\xfe\xc3(utf8",
}

CORPUS: dict[str, str] = {
    **MARKUP,
    **ESCAPES,
    **LAYOUT,
    **{k: v.decode("utf-8", "surrogateescape") for k, v in INVALID_UTF8.items()},
}

#: The same, as argv entries for a child process (argv cannot hold NUL).
ARGV: dict[str, str | bytes] = {**MARKUP, **ESCAPES, **LAYOUT, **INVALID_UTF8}

#: Entries short enough to show whole in a table cell of ~60 columns.
SHORT = {k: v for k, v in CORPUS.items() if len(printable(v)) <= 40}

# Anything a terminal would act on: C0 (but not the newline a caller joins
# lines with, checked separately), DEL, C1, bidi controls, separators.
_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")


def unsafe_chars(text: str) -> list[str]:
    """The characters in ``text`` a terminal would obey (newlines excepted)."""
    return _UNSAFE.findall(text)


def visible(text: str, max_len: int | None = None) -> str:
    """What memdash shows for ``text``."""
    return printable(text, max_len)


@contextlib.contextmanager
def hostile_processes(marker: str, extra: dict[str, str] | None = None) -> Iterator[dict[str, int]]:
    """Real processes, one per ``ARGV`` entry (and ``extra``), each with the
    entry as argv[0] (``exec -a`` style: ``sh -c 'read x' ARG0 MARKER``) and
    waiting on stdin; one more, a Python, renames its comm with prctl to
    markup plus an OSC title. Yields {id: pid}; all are killed afterwards."""
    procs: dict[str, subprocess.Popen] = {}
    try:
        for key, arg0 in {**ARGV, **(extra or {})}.items():
            if key == "long-100k":  # /proc shows the first 64 KB: the marker goes first
                arg0 = marker + str(arg0)
            procs[key] = subprocess.Popen([arg0, "-c", "read x", marker], executable="/bin/sh", stdin=subprocess.PIPE)
        script = (
            "import ctypes, sys; ctypes.CDLL(None).prctl(15, b'[/]\\x1b]2;PW\\x07', 0, 0, 0);"
            "print('ok', flush=True); sys.stdin.read()"
        )
        comm = subprocess.Popen([sys.executable, "-c", script, marker], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        procs["comm"] = comm
        assert comm.stdout is not None and comm.stdout.readline().strip() == b"ok"
        yield {k: p.pid for k, p in procs.items()}
    finally:
        for p in procs.values():
            p.kill()
            p.wait()
            for f in (p.stdin, p.stdout):
                if f is not None:
                    f.close()


#: The comm the prctl child sets, as memdash shows it.
HOSTILE_COMM_SHOWN = "[/]\\e]2;PW\\x07"
