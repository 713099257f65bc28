"""A lint, as a test: outside text reaches the screen only through
memdash.tui.safe (widgets) or memdash.textsafe (CLI and report).

It reads the source with ``ast`` and fails on a new way around them:

- in memdash/tui: ``Static(x)``, ``Label(x)``, ``Button(x)``, ``w.update(x)``,
  ``notify(x)`` or ``add_row(...)`` whose text is not a string literal nor
  built by ``safe.text``/``safe.lines``/``Text(...)``; any ``Content.from_markup``,
  ``Text.from_markup`` or ``markup=True``; ``app.notify`` outside ``safe.notify``;
- in memdash/cli.py and memdash/report.py: an f-string that prints a remote or
  per-process field (``.error``, ``.cmdline``, ``.name``...) or an exception
  without ``printable()``/``command_line()``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "memdash"
TUI_FILES = sorted(p for p in (ROOT / "tui").rglob("*.py") if p.name != "safe.py")
PRINT_FILES = [ROOT / "cli.py", ROOT / "report.py", ROOT / "record" / "cli.py", ROOT / "record" / "recorder.py"]

WIDGET_SINKS = {"Static", "Label", "Button"}
METHOD_SINKS = {"update", "notify", "add_row"}
SAFE_BUILDERS = {"text", "lines", "Text", "printable", "command_line"}
# Fields that hold other people's text, and the names exceptions go by.
EXTERNAL_ATTRS = {"error", "note", "target", "name", "cmdline", "host", "reason", "kind", "url", "user", "description"}
EXTERNAL_NAMES = {"exc", "e", "error"}
ESCAPERS = {"printable", "command_line"}


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        f = node.func
        if isinstance(f, ast.Name):
            return f.id
        if isinstance(f, ast.Attribute):
            return f.attr
    return None


def _safe_arg(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.IfExp):
        return _safe_arg(node.body) and _safe_arg(node.orelse)
    if isinstance(node, ast.Starred):
        return _safe_arg(node.value)
    if isinstance(node, ast.GeneratorExp):
        return _safe_arg(node.elt)
    name = _call_name(node)
    if name in SAFE_BUILDERS:
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "text":
        return True  # palette.text(our figure, level)
    return False


PRAGMA = "# text-guard: ok"


def tui_violations(source: str, filename: str = "<src>") -> list[str]:
    """Unsafe sinks in TUI code; a line ending in ``# text-guard: ok (why)`` is
    exempt (the helpers themselves)."""
    out = []
    exempt = {i for i, line in enumerate(source.splitlines(), 1) if PRAGMA in line}
    for node in ast.walk(ast.parse(source, filename)):
        if getattr(node, "lineno", None) in exempt:
            continue
        if isinstance(node, ast.keyword) and node.arg == "markup" and not (
            isinstance(node.value, ast.Constant) and node.value.value is False
        ):
            out.append(f"{filename}:{node.value.lineno}: markup= other than False")
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr == "from_markup":
            out.append(f"{filename}:{node.lineno}: from_markup")
            continue
        name = _call_name(node)
        if isinstance(f, ast.Attribute) and name == "notify":
            base = f.value
            if not (isinstance(base, ast.Name) and base.id == "safe"):
                out.append(f"{filename}:{node.lineno}: notify() outside safe.notify")
            continue
        if name in WIDGET_SINKS or (isinstance(f, ast.Attribute) and name in METHOD_SINKS):
            args = node.args if name == "add_row" else node.args[:1]
            for arg in args:
                if not _safe_arg(arg):
                    out.append(f"{filename}:{node.lineno}: {name}({ast.unparse(arg)[:60]}) is not built by memdash.tui.safe")
    return out


def _mentions_external(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if _call_name(sub) in ESCAPERS:
            return False
        if isinstance(sub, ast.Attribute) and sub.attr == "__name__":
            return False  # a class name: ours
        if isinstance(sub, ast.Attribute) and sub.attr in EXTERNAL_ATTRS:
            return True
        if isinstance(sub, ast.Name) and sub.id in EXTERNAL_NAMES:
            return True
    return False


PRINTERS = {"print", "input", "append", "write"}


def print_violations(source: str, filename: str = "<src>") -> list[str]:
    """f-strings handed to print()/input()/lines.append()/write(), or built
    into ``line``, that show outside text unescaped."""
    out = []
    printed: list[ast.AST] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call) and _call_name(node) in PRINTERS:
            printed.extend(node.args)
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "line" for t in targets):
                printed.append(node.value)
    for root in printed:
        for node in ast.walk(root):
            if isinstance(node, ast.JoinedStr):
                for value in node.values:
                    if isinstance(value, ast.FormattedValue) and _mentions_external(value.value):
                        out.append(f"{filename}:{node.lineno}: f-string shows {ast.unparse(value.value)[:60]} without printable()")
    return out


@pytest.mark.parametrize("path", TUI_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_tui_puts_outside_text_on_screen_only_through_safe(path: Path) -> None:
    assert tui_violations(path.read_text(encoding="utf-8"), str(path)) == []


@pytest.mark.parametrize("path", PRINT_FILES, ids=lambda p: p.name)
def test_cli_and_report_print_outside_text_only_escaped(path: Path) -> None:
    # UsageError/ConfigError messages are escaped where they are printed (main()).
    assert print_violations(path.read_text(encoding="utf-8"), str(path)) == []


BAD_TUI = '''
def f(self, t):
    self.query_one("#x", Static).update(f"Target {t.name}")
    yield Static(t.error)
    yield Label(f"Run {t.name}?")
    self.notify(t.error)
    table.add_row(c.name, Text("1"))
    Content.from_markup(x)
    self.notify("ok", markup=True)
'''

GOOD_TUI = '''
def f(self, t):
    self.query_one("#x", Static).update(safe.text("Target ", t.name))
    yield Static("literal")
    yield Label(safe.text("Run ", t.name, "?"))
    safe.notify(self, t.error)
    table.add_row(safe.text(c.name), Text(_n(c.hits), justify="right"), palette.text(x, level))
'''


def test_the_guard_catches_each_unsafe_form() -> None:
    found = tui_violations(BAD_TUI)
    assert len(found) == 8, found  # the last line twice: notify() and markup=True
    assert tui_violations(GOOD_TUI) == []
    assert len(print_violations('print(f"{r.target}: {r.error} {exc}")')) == 3
    assert len(print_violations('line = f"{r.target} done"\nlines.append(f"{p.cmdline[:9]}")')) == 2
    assert print_violations('print(f"{printable(r.target)}: {command_line(p.cmdline, 9)} {n}")') == []
