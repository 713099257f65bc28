"""Figures read from answers: exact values on both sides of the plain-int shortcut.

``count``/``size``/``number`` take a plain ``int`` up to 2**53 without the float
round trip (it is exact there); past it they must still give what the round trip
gives, and a bool, an int subclass, NaN or a negative stays what it was.
"""

from __future__ import annotations

import math

import pytest

from memdash.sources.numbers import MAX_BYTES, MAX_COUNT, count, integer, limit, number, percent, seconds, size

EXACT = 2**53


class Counter(int):
    """An int subclass, as a decoder with ``parse_int`` may hand over."""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (1, 1),
        (700, 700),
        (EXACT - 1, EXACT - 1),
        (EXACT, EXACT),
        (EXACT + 1, EXACT),  # past 2**53 the float round trip rounds: kept as it was
        (2**60 + 1, 2**60),
        (MAX_COUNT, MAX_COUNT),
        (MAX_COUNT + 1, MAX_COUNT),  # float(2**63 + 1) is 2**63
        (2**64, None),
        (-1, None),
        (True, None),
        (False, None),
        (Counter(5), 5),
        (3.9, 3),
        (float("nan"), None),
        ("5", None),
    ],
)
def test_count_exact(value: object, expected: int | None) -> None:
    got = count(value)
    assert got == expected
    assert got is None or type(got) is int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (209_715_200, 209_715_200),
        (EXACT, EXACT),
        (EXACT + 1, EXACT),
        (MAX_BYTES, MAX_BYTES),
        (MAX_BYTES + 1, MAX_BYTES),  # float(2**60 + 1) is 2**60: still within the cap
        (2**61, None),
        (-4096, None),
        (True, None),
        (1.5, 1),
    ],
)
def test_size_exact(value: object, expected: int | None) -> None:
    got = size(value)
    assert got == expected
    assert got is None or type(got) is int


def test_size_scaled_ints_still_scale() -> None:
    assert size(3, 1024) == 3072
    assert size(2, 0.5) == 1
    assert limit(512, 1024 * 1024) == 512 * 1024 * 1024
    assert limit(0) is None and limit(-1) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0.0),
        (-EXACT, float(-EXACT)),
        (EXACT + 1, float(EXACT)),
        (10**400, None),
        (-(10**400), None),
        (True, None),
        (-0.0, -0.0),
        (1e308, 1e308),
        (float("inf"), None),
        (float("-inf"), None),
        (None, None),
    ],
)
def test_number_exact(value: object, expected: float | None) -> None:
    got = number(value)
    assert got == expected
    assert got is None or type(got) is float


def test_the_other_readers_on_plain_ints() -> None:
    assert integer(7) == 7 and type(integer(7)) is int
    assert percent(12) == 12.0 and percent(-1) is None
    assert seconds(30) == 30.0 and seconds(10**10) is None
    assert math.copysign(1.0, number(-0.0) or -0.0) == -1.0
