"""The one way to put text from outside into a widget.

Textual parses a plain ``str`` given to ``Static``, ``Label``, ``update()``,
``notify()`` or a ``DataTable`` cell as markup: ``[/]`` raises, and
``[@click=app.quit]x`` becomes a live action on a click. Strings memdash does
not control (process names, cache names, JSON keys, metric labels, errors,
receipts, theme names) reach widgets only through this module, which builds
``rich.text.Text`` from parts (never markup) and passes every ``str`` part
through :func:`memdash.textsafe.printable` (no control bytes, one line).

- :func:`text`: one line from parts; ``str`` parts are data, ``(str, style)``
  pairs are styled data, ``Text`` parts are kept as they are.
- :func:`lines`: several such lines under each other.
- :func:`notify`: a toast whose message is data.

``tests/tui/test_text_guard.py`` fails on a new ``update(f"...")``-style call
that bypasses this module.
"""

from __future__ import annotations

from typing import Any, Iterable, Union

from rich.style import StyleType
from rich.text import Text

from memdash.textsafe import printable

Part = Union[str, Text, "tuple[object, StyleType]", None]


def text(*parts: Part, style: StyleType = "", max_len: int | None = None) -> Text:
    """One line built from ``parts`` (see the module docstring); ``max_len``
    cuts each ``str`` part to that many characters."""
    out = Text(style=style, end="")
    for part in parts:
        if part is None:
            continue
        if isinstance(part, Text):
            out.append_text(part)
        elif isinstance(part, tuple):
            value, part_style = part
            out.append(printable(value, max_len), style=part_style)
        else:
            out.append(printable(part, max_len))
    return out


def lines(*rows: Part | Iterable[Part], style: StyleType = "") -> Text:
    """``rows`` one under the other; each row is a part or a sequence of parts
    (as for :func:`text`). A newline inside a ``str`` part is shown as ``\\n``:
    only the joins between rows break lines."""
    built = []
    for row in rows:
        if isinstance(row, (str, Text, tuple)) or row is None:
            built.append(text(row))
        else:
            built.append(text(*row))
    return Text("\n", style=style, end="").join(built)


def notify(app: Any, message: object, *, title: object = "", **kwargs: Any) -> None:
    """``app.notify`` with ``message`` (and ``title``) as data: each line is
    escaped and markup is off. Our own multi-line messages keep their breaks."""
    body = "\n".join(printable(line) for line in str(message).split("\n"))
    app.notify(body, title=printable(title), markup=False, **kwargs)
