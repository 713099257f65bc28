"""A probe document as the reader takes it: GC generations numbered as the
probe numbered them (an absurd number replaced by the position), glibc's malloc
figures as reported."""

from __future__ import annotations

import copy

import pytest

from memdash.probe import collect
from memdash.sources.probe_wire import sample_from_probe


@pytest.fixture(scope="module")
def document() -> dict:
    return collect()  # this process's real probe document


def _generations(doc: dict, numbers: list[object]) -> list[tuple[int, int | None]]:
    doc = copy.deepcopy(doc)
    gens = doc["gc"]["generations"][:1] * len(numbers)
    doc["gc"]["generations"] = [dict(g, generation=n, collections=10 + i) for i, (g, n) in enumerate(zip(gens, numbers))]
    s = sample_from_probe(doc, name="p", url="http://127.0.0.1:1/", now=1.0)
    assert s.gc is not None
    return [(g.generation, g.collections) for g in s.gc.generations]


def test_the_real_document_reads_generations_0_1_2(document: dict) -> None:
    s = sample_from_probe(document, name="p", url="http://127.0.0.1:1/", now=1.0)
    assert s.gc is not None
    assert [g.generation for g in s.gc.generations] == [g["generation"] for g in document["gc"]["generations"]]


@pytest.mark.parametrize("numbers,expected", [
    ([2, 1, 0], [2, 1, 0]),  # listed oldest first: each keeps its own number
    ([0, 99], [0, 99]),
    ([0, 100], [0, 1]),  # 100 generations is no interpreter: the position stands in
    ([0, 10 ** 400], [0, 1]),
    ([0, -1], [0, 1]),
    (["1", "x"], [0, 1]),  # the wire carries numbers as numbers: a string is no generation
])
def test_generation_numbers(document: dict, numbers: list[object], expected: list[int]) -> None:
    got = _generations(document, numbers)
    assert [g for g, _ in got] == expected
    assert [c for _, c in got] == [10 + i for i in range(len(numbers))]


def test_the_malloc_figures_of_the_real_document(document: dict) -> None:
    """glibc's arenas and their cap (M_ARENA_MAX) as this process's probe reports them."""
    s = sample_from_probe(document, name="p", url="http://127.0.0.1:1/", now=1.0)
    malloc = document["python_memory"]["malloc"]
    if not malloc.get("known"):
        pytest.skip("no glibc malloc statistics in this interpreter (not glibc)")
    pm = s.python_memory
    assert pm is not None
    assert (pm.malloc_allocator, pm.malloc_arenas, pm.malloc_arena_max) == (
        malloc["allocator"], malloc["arenas"], malloc["arena_max"])
    assert pm.malloc_arena_max >= pm.malloc_arenas >= 1
