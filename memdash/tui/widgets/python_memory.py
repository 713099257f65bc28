"""A Python service's RSS as one stacked bar: live objects, pymalloc free,
glibc free (the trimmable part marked) and native/other, each with its method
(docs/python-memory.md). Renders a :class:`~memdash.model.PythonMemory`; knows
nothing of where it came from."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from memdash.model import PythonMemory
from memdash.tui import safe
from memdash.units import human_bytes

#: (figure, label, bar character, style): the bar's parts, left to right.
PARTS = (
    ("live_python_bytes", "live Python objects (est.)", "█", "green"),
    ("pymalloc_free_bytes", "pymalloc free", "▓", "yellow"),
    ("malloc_free_bytes", "glibc free", "▒", "cyan"),
    ("native_other_bytes", "native/other", "░", "magenta"),
)
TRIM_CHAR = "T"


def bar_cells(pm: PythonMemory, width: int) -> list[tuple[str, int]]:
    """``(figure, cells)`` for each part with a value, summing to at most ``width``
    (largest remainders get the spare cells); the trimmable part of glibc free
    is its own entry, ``"trimmable_bytes"``, taken out of ``malloc_free_bytes``."""
    values = [(key, getattr(pm, key) or 0) for key, *_ in PARTS]
    total = sum(v for _, v in values)
    if total <= 0 or width <= 0:
        return []
    exact = [(key, v * width / total) for key, v in values]
    cells = {key: int(x) for key, x in exact}
    spare = width - sum(cells.values())
    for key, x in sorted(exact, key=lambda kx: kx[1] - int(kx[1]), reverse=True)[:spare]:
        cells[key] += 1
    out = []
    for key, _ in values:
        if key == "malloc_free_bytes" and pm.malloc_free_bytes:
            trim = min(cells[key], round(cells[key] * min(1.0, (pm.trimmable_bytes or 0) / pm.malloc_free_bytes)))
            out.append(("trimmable_bytes", trim))
            out.append((key, cells[key] - trim))
        else:
            out.append((key, cells[key]))
    return out


def render(pm: PythonMemory | None, width: int = 60, *, compact: bool = False) -> Text:
    """The bar, its legend and the allocators, as one Text."""
    return safe.lines(*rows(pm, width, compact=compact))  # type: ignore[arg-type]


def rows(pm: PythonMemory | None, width: int = 60, *, compact: bool = False) -> list[object]:
    """The bar, its legend (one line per part, with the method) and the allocators,
    as rows for :func:`memdash.tui.safe.lines`. ``compact`` (a short terminal):
    the legend in one row, without the methods (docs/python-memory.md has them)."""
    if pm is None:
        return ["no Python memory breakdown from this target (memdash.probe only)"]
    rows: list[object] = [safe.text(("Where RSS is", "bold"), f"  RSS {human_bytes(pm.rss_bytes)}")]
    bar = Text()
    styles = {key: (char, style) for key, _, char, style in PARTS}
    for key, n in bar_cells(pm, width):
        char, style = (TRIM_CHAR, "bold cyan") if key == "trimmable_bytes" else styles[key]
        bar.append(char * n, style=style)
    rows.append(bar)
    if compact:
        legend: list[object] = []
        for key, label, char, style in PARTS:
            extra = ""
            if key == "malloc_free_bytes" and pm.trimmable_bytes is not None:
                extra = f" ({TRIM_CHAR} {human_bytes(pm.trimmable_bytes)} trimmable)"
            legend += [(char, style), f" {label} {human_bytes(getattr(pm, key))}{extra}  "]
        rows.append(legend)
    for key, label, char, style in () if compact else PARTS:
        value = getattr(pm, key)
        extra = ""
        if key == "malloc_free_bytes" and pm.trimmable_bytes is not None:
            extra = f", {human_bytes(pm.trimmable_bytes)} trimmable ({TRIM_CHAR})"
        rows.append([(char, style), f" {label} {human_bytes(value)}{extra}  ",
                     (pm.methods.get(key, ""), "dim")])  # the method comes from the probe: data
    rows.append(["python allocator: ", pm.allocator or "-", "  gc: ", pm.gc_flavour or "-",
                 "  malloc: ", pm.malloc_allocator or "-",
                 f"  arenas {pm.malloc_arenas}/{pm.malloc_arena_max}" if pm.malloc_arenas is not None else None])
    return rows


class PythonMemoryBar(Static):
    """The stacked bar for one target; :meth:`show` with each new sample."""

    DEFAULT_CSS = "PythonMemoryBar { height: auto; padding: 0 1; }"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._pm: PythonMemory | None = None
        self._drawn: tuple[PythonMemory | None, int, bool] | None = None

    def show(self, pm: PythonMemory | None) -> None:
        self._pm = pm
        self._draw()
        self.display = pm is not None

    def on_resize(self) -> None:
        # The bar is as wide as the widget: when the width settles after the
        # sample was shown (the screen's scrollbar came or went), draw it again,
        # or the picture depends on which came first.
        self._draw()

    def _draw(self) -> None:
        width = max(10, (self.size.width or 62) - 2)
        # On a short terminal (the app's "-short", 24 lines) the legend takes
        # one row, not five: the charts and the GC table need the lines.
        compact = self.app.has_class("-short")
        if self._drawn == (self._pm, width, compact):
            return
        self._drawn = (self._pm, width, compact)
        self.update(safe.lines(*rows(self._pm, width, compact=compact)))  # type: ignore[arg-type]
