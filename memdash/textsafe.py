"""Other people's text, made safe to print on one line.

memdash shows strings it does not control: process names and command lines,
remote cache names, JSON keys, metric labels, HTTP reasons, error bodies. A
terminal obeys control bytes in them (``ESC ] 2 ; title BEL`` retitles the
window, ``ESC [ 2 J`` clears it, OSC 52 writes the clipboard), a newline
breaks a table row, and a bidi override reorders what follows it. So every
such string goes through :func:`printable` before it reaches a terminal, in
the TUI, in ``memdash snapshot`` and ``memdash cleanup`` and in log lines.

What :func:`printable` does, like htop:

- ESC shows as ``\\e``, newline as ``\\n``, carriage return as ``\\r``, a tab as
  one space; any other C0 control, DEL or C1 control as ``\\xNN``;
- bidi overrides, embeddings and isolates (U+202A-U+202E, U+2066-U+2069),
  other format characters (zero-width space, BOM...), line and paragraph
  separators, private-use and unassigned code points as ``\\uNNNN``;
- non-ASCII spaces as a plain space; invalid UTF-8 (bytes in, or the lone
  surrogates of ``surrogateescape``) as U+FFFD;
- with ``max_len``, the result is cut to at most that many characters, ending
  in ``…``; the cut falls between escapes, never inside one.

Clean text (``str.isprintable()``, checked in C) is returned as it is, so the
common case costs one scan. This module is stdlib-only: the CLI, the report
and the TUI all use it, and importing it loads nothing.
"""

from __future__ import annotations

import logging
import unicodedata

__all__ = ["ELLIPSIS", "NO_CONTROLS", "printable", "command_line", "SafeFormatter", "escape_log_output"]

ELLIPSIS = "…"

_NAMED: dict[str, str] = {
    "\x1b": "\\e",
    "\n": "\\n",
    "\r": "\\r",
    "\t": " ",
    "\x00": "\\0",
}
# Format characters harmless on a terminal and common in real text: the
# zero-width joiner of emoji sequences.
_KEEP = frozenset("\u200d")
_REPLACEMENT = "\ufffd"

#: A regular expression that matches text holding nothing a terminal would
#: obey (for ``Input(restrict=...)``: a paste with control bytes is refused).
NO_CONTROLS = r"[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]*"


class _Escapes(dict):
    """A ``str.translate`` table: code point -> what to show. Filled on first
    sight of each code point, so translating runs in C after the first few."""

    def __missing__(self, o: int) -> str:
        ch = chr(o)
        if ch in _NAMED:
            out = _NAMED[ch]
        elif o < 0x20 or 0x7F <= o <= 0x9F:
            out = f"\\x{o:02x}"
        elif 0xD800 <= o <= 0xDFFF:
            out = _REPLACEMENT  # a lone surrogate: invalid UTF-8 decoded with surrogateescape
        elif ch in _KEEP or ch.isprintable():
            out = ch
        elif unicodedata.category(ch) == "Zs":
            out = " "
        elif o <= 0xFFFF:
            out = f"\\u{o:04x}"
        else:
            out = f"\\U{o:08x}"
        if len(self) < 65536:  # bounded: a flood of distinct code points is not kept
            self[o] = out
        return out


_TABLE = _Escapes()


def printable(text: object, max_len: int | None = None) -> str:
    """``text`` as one line of printable characters (see the module docstring).

    ``text`` may be ``str``, ``bytes`` (decoded as UTF-8 with replacement
    characters), ``None`` (``""``) or anything else (its ``str()``).
    ``max_len`` counts characters, the ``…`` included; ``None`` means no cut.
    """
    if not isinstance(text, str):
        if text is None:
            return ""
        if isinstance(text, (bytes, bytearray, memoryview)):
            text = bytes(text).decode("utf-8", "replace")
        else:
            text = str(text)
    if max_len is None:
        return text if text.isprintable() else text.translate(_TABLE)
    if max_len <= 0:
        return ""
    # Every input character gives at least one output character, so the first
    # max_len + 1 decide the result: a 100 KB argument costs what a short one does.
    if len(text) > max_len:
        text = text[: max_len + 1]
        if text.isprintable():
            return text[: max_len - 1] + ELLIPSIS
    elif text.isprintable():
        return text
    return _cut(text.translate(_TABLE), max_len)


# Length of each escape printable() writes, by the letter after the backslash.
_ESCAPE_LEN = {"e": 2, "n": 2, "r": 2, "0": 2, "x": 4, "u": 6, "U": 10}


def _cut(line: str, max_len: int) -> str:
    """Cut printable() output to ``max_len`` characters ending in ``…``, moving
    the cut before any escape it would split (a literal backslash that looks
    like one is treated as one: it may cut a little early, never half way)."""
    if len(line) <= max_len:
        return line
    if max_len <= 0:
        return ""
    end = max_len - 1
    pos = line.find("\\", max(0, end - 9), end)
    while pos != -1:
        n = _ESCAPE_LEN.get(line[pos + 1 : pos + 2])
        if n is not None and pos + n > end:
            end = pos
            break
        pos = line.find("\\", pos + 1, end)
    return line[:end] + ELLIPSIS


def command_line(text: object, max_len: int | None = None, *, max_arg: int = 120) -> str:
    """A command line for one table row: :func:`printable`, with each
    space-separated word longer than ``max_arg`` characters (once escaped) cut
    to ``max_arg`` ending in ``…``, so a long ``-c`` script does not hide the
    arguments after it; then cut to ``max_len``. Only the words that can show
    are escaped: a 64 KB command line costs what its first ``max_len``
    characters do."""
    if not isinstance(text, str):
        text = printable(text)
    if max_len is not None and max_len <= 0:
        return ""
    if (max_len is None or len(text) <= max_len) and len(text) <= max_arg and text.isprintable():
        return text
    words: list[str] = []
    size = -1
    pos = 0
    while pos >= 0:
        end = text.find(" ", pos)
        # The word, at most max_arg + 1 characters of it: printable() needs no more to cut it.
        word = text[pos : end if end >= 0 and end - pos <= max_arg + 1 else pos + max_arg + 1]
        shown = printable(word, max_arg)
        words.append(shown)
        size += len(shown) + 1
        if max_len is not None and size > max_len:
            break
        pos = end + 1 if end >= 0 else -1
    line = " ".join(words)
    return line if max_len is None else _cut(line, max_len)


class SafeFormatter(logging.Formatter):
    """A log formatter whose every line is :func:`printable`: a message that
    carries a remote error body cannot write terminal bytes to stderr, nor
    forge a second line. A traceback keeps its line breaks; each of its lines
    is escaped."""

    def format(self, record: logging.LogRecord) -> str:
        safe = logging.makeLogRecord(record.__dict__)
        safe.msg, safe.args = printable(record.getMessage()), None  # a newline in it cannot forge a line
        return "\n".join(printable(line) for line in super().format(safe).split("\n"))


def escape_log_output(fmt: str = "memdash: %(levelname)s: %(message)s") -> None:
    """Make the log lines Python prints when nothing configured logging (the
    ``lastResort`` handler, WARNING and above, on stderr) go through
    :class:`SafeFormatter`. Called by the ``memdash`` command, not on import:
    a service embedding the probe keeps its own logging."""
    handler = logging.lastResort
    if handler is not None:
        handler.setFormatter(SafeFormatter(fmt))
