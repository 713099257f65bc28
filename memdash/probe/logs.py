"""The probe's logger, and how text from outside appears in its log lines.

Paths, header values, action and cache names in a log line may come from a
client or from another user: :func:`shown` makes their control characters
visible (``\\x1b`` rather than an escape the terminal would run), so reading a
log with ``tail`` or ``journalctl`` cannot move the cursor, retitle the
terminal or reorder text with bidi overrides. Standard library only; the probe
imports nothing from memdash outside itself.
"""

from __future__ import annotations

#: Bidi controls: they reorder what follows on screen, so a log line could lie.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def logger():  # logging is imported on first use, not with the probe
    """The ``memdash.probe`` logger."""
    import logging

    return logging.getLogger("memdash.probe")


def shown(value: object) -> str:
    """``value`` as text with C0/C1 controls, DEL and bidi controls escaped.

    >>> shown("a\\x1b]2;x\\x07b\\n")
    'a\\\\x1b]2;x\\\\x07b\\\\n'
    """
    text = value if isinstance(value, str) else str(value)
    if text.isascii() and text.isprintable():
        return text  # the common case
    out = []
    for ch in text:
        n = ord(ch)
        if n < 0x20 or 0x7F <= n <= 0x9F:
            out.append(_NAMED.get(ch) or f"\\x{n:02x}")
        elif ch in _BIDI or 0xD800 <= n <= 0xDFFF:  # bidi, lone surrogates (undecodable bytes)
            out.append(f"\\u{n:04x}")
        else:
            out.append(ch)
    return "".join(out)
