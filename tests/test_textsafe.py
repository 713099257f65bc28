"""memdash.textsafe: outside text as one printable line, and strict JSON."""

from __future__ import annotations

import json
import logging
import math

import pytest
from hostile_text import CORPUS, unsafe_chars
from hypothesis import given, settings
from hypothesis import strategies as st

from memdash.report import dumps
from memdash.textsafe import ELLIPSIS, SafeFormatter, command_line, printable


@pytest.mark.parametrize("key", sorted(CORPUS))
def test_corpus_entry_is_one_safe_line(key: str) -> None:
    out = printable(CORPUS[key])
    assert unsafe_chars(out) == [] and "\n" not in out
    assert printable(out) == out  # escaping twice changes nothing


def test_what_a_person_sees() -> None:
    assert printable("\x1b]2;PWNED\x07") == "\\e]2;PWNED\\x07"
    assert printable("\x1b[2J\x1b[1;1H") == "\\e[2J\\e[1;1H"
    assert printable("a\nb\tc\rd") == "a\\nb c\\rd"
    assert printable("\x9b2J") == "\\x9b2J"
    assert printable("\u202eevil") == "\\u202eevil"
    assert printable("[@click=app.quit]x") == "[@click=app.quit]x"  # markup is not our business here: kept literally
    assert printable(b"bad\xff(") == "bad\ufffd("
    assert printable("bad\udcff(") == "bad\ufffd("  # surrogateescape'd /proc bytes
    assert printable("caf\u00e9 \u65e5\u672c \U0001f468\u200d\U0001f469") == "caf\u00e9 \u65e5\u672c \U0001f468\u200d\U0001f469"
    assert printable(None) == ""


def test_cut_after_escaping_never_splits_an_escape() -> None:
    text = "abc\x1bdef"
    assert printable(text, 4) == "abc" + ELLIPSIS  # "\e" would not fit whole
    assert printable(text, 5) == "abc" + ELLIPSIS  # "\\e" fits, but then the ellipsis would not
    assert printable(text, 6) == "abc\\e" + ELLIPSIS
    assert printable("x" * 100_000, 10) == "x" * 9 + ELLIPSIS
    assert printable("\x01" * 10, 9) == "\\x01\\x01" + ELLIPSIS


def test_command_line_keeps_every_argument_in_sight() -> None:
    script = "import os\n" * 200
    line = command_line(f"python -c {script} --port 8000", max_arg=40)
    assert "\n" not in line and "\\n" in line
    assert line.endswith("--port 8000")
    assert max(len(w) for w in line.split(" ")) <= 40
    assert len(command_line("x" * 5000 + "\x1b" * 10, 100)) == 100


@settings(max_examples=400, deadline=None)
@given(st.text(), st.one_of(st.none(), st.integers(min_value=0, max_value=60)))
def test_any_text_gives_one_safe_line_within_its_length(text: str, max_len: int | None) -> None:
    out = printable(text, max_len)
    assert unsafe_chars(out) == [] and "\n" not in out
    assert out.isprintable() or all(c == "\u200d" or c.isprintable() for c in out)
    if max_len is not None:
        assert len(out) <= max_len
        assert printable(out, max_len) == out
    else:
        assert printable(out) == out
        if text.isprintable():
            assert out == text  # clean text is untouched


@settings(max_examples=200, deadline=None)
@given(st.binary())
def test_any_bytes_give_one_safe_line(data: bytes) -> None:
    out = printable(data)
    assert unsafe_chars(out) == [] and "\n" not in out


@settings(max_examples=200, deadline=None)
@given(st.text(), st.integers(min_value=1, max_value=80), st.integers(min_value=2, max_value=40))
def test_command_line_any_text(text: str, max_len: int, max_arg: int) -> None:
    out = command_line(text, max_len, max_arg=max_arg)
    assert unsafe_chars(out) == [] and "\n" not in out and len(out) <= max_len


def _reject(constant: str) -> None:
    raise ValueError(f"not strict JSON: {constant}")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_dumps_is_always_strict_json(value: object) -> None:
    doc = json.loads(dumps(value), parse_constant=_reject)
    if isinstance(value, float) and not math.isfinite(value):
        assert doc is None


def test_dumps_writes_null_for_nan_and_infinity() -> None:
    doc = json.loads(dumps({"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5]}), parse_constant=_reject)
    assert doc == {"a": None, "b": [None, None, 1.5]}


def test_log_lines_are_escaped() -> None:
    record = logging.LogRecord("memdash.x", logging.WARNING, __file__, 1, "target %s: %s", ("t", "\x1b]2;PWNED\x07\nfake line"), None)
    out = SafeFormatter("%(message)s").format(record)
    assert out == "target t: \\e]2;PWNED\\x07\\nfake line"
