"""The seeded ConceptMix concept draw: the official distribution and constraints, replayable."""

from __future__ import annotations

from collections import Counter
from math import comb

import pytest
from scipy.stats import chisquare

from skillmix.catalog.concepts import ConceptCatalog, load_concepts
from skillmix.protocol.conceptmix.sampler import ConceptDraw, draw_concepts, draw_rng, draw_sets
from tests.helpers.paths import ROOT

KS = (1, 3, 5, 7)
PER_K = 10_000
ATTRIBUTES = {"color", "number", "shape", "size", "texture"}


@pytest.fixture(scope="module")
def catalog() -> ConceptCatalog:
    return load_concepts(ROOT / "data" / "concepts.yaml")


@pytest.fixture(scope="module")
def draws(catalog: ConceptCatalog) -> dict[int, list[ConceptDraw]]:
    return draw_sets(catalog, KS, PER_K, seed=2024)


def _binomial_bins(k: int, p: float, total: int) -> list[float]:
    """Expected counts of 1..k+1 objects: 1 + Binomial(k, p)."""
    return [total * comb(k, n) * p**n * (1 - p) ** (k - n) for n in range(k + 1)]


def _merge_tail(observed: list[int], expected: list[float]) -> tuple[list[int], list[float]]:
    """Sparse upper bins folded into one so every expected count is at least 5."""
    while len(expected) > 2 and expected[-1] < 5:
        tail_expected, tail_observed = expected.pop(), observed.pop()
        expected[-1] += tail_expected
        observed[-1] += tail_observed
    return observed, expected


@pytest.mark.parametrize("k", KS)
def test_objects_follow_one_plus_binomial(draws: dict[int, list[ConceptDraw]], k: int) -> None:
    counts = Counter(len(d.objects) for d in draws[k])
    observed = [counts[n] for n in range(1, k + 2)]
    assert sum(observed) == PER_K  # never fewer than 1 nor more than k+1 objects
    expected = _binomial_bins(k, 0.25, PER_K)
    print(f"\nk={k} objects 1..{k + 1}: observed {observed}")
    print(f"k={k} objects 1..{k + 1}: expected {[round(e, 1) for e in expected]}")
    observed, expected = _merge_tail(observed, expected)
    result = chisquare(observed, expected)
    print(f"k={k} chi-square {result.statistic:.2f}, p = {result.pvalue:.3f}")
    assert result.pvalue > 1e-4


@pytest.mark.parametrize("k", KS)
def test_every_draw_keeps_the_official_constraints(
    draws: dict[int, list[ConceptDraw]], k: int
) -> None:
    for draw in draws[k]:
        concepts = draw.concepts()
        assert len(concepts) == k + 1 and draw.k == k
        assert len(set(draw.objects)) == len(draw.objects)
        per_category = Counter(c.category for c in draw.drawn)
        assert max(per_category.values(), default=0) <= len(draw.objects)
        assert len(draw.attributes) == len(draw.objects)
        for held in draw.attributes:
            categories = [c.category for c in held]
            assert len(set(categories)) == len(categories) and set(categories) <= ATTRIBUTES
        placed = sum(len(held) for held in draw.attributes)
        assert placed == sum(per_category[c] for c in ATTRIBUTES)
        assert len(draw.styles) == per_category["style"]
        assert len(draw.relations) == per_category["spatial"]
        assert all(r.a is None and r.b is None for r in draw.relations)


def test_concepts_come_in_the_official_order(draws: dict[int, list[ConceptDraw]]) -> None:
    """Objects, then the drawn concepts in draw order, the relations last."""
    draw = next(d for d in draws[7] if d.relations and d.styles and len(d.objects) == 2)
    concepts = draw.concepts()
    assert [c.value for c in concepts[:2]] == list(draw.objects)
    rest = [c for c in draw.drawn if c.category != "spatial"]
    assert list(concepts[2 : 2 + len(rest)]) == rest
    assert [c.value for c in concepts[2 + len(rest) :]] == [r.value for r in draw.relations]
    assert {c.category for c in concepts[2 + len(rest) :]} == {"spatial"}


def test_every_category_is_drawn(draws: dict[int, list[ConceptDraw]]) -> None:
    drawn = Counter(c.category for d in draws[3] for c in d.drawn)
    assert set(drawn) == {"color", "number", "shape", "size", "texture", "style", "spatial"}


def test_draws_are_replayable_and_independent(catalog: ConceptCatalog) -> None:
    first = draw_sets(catalog, [3, 5], 40, seed=7)
    assert first == draw_sets(catalog, [3, 5], 40, seed=7)
    assert draw_sets(catalog, [3], 15, seed=7)[3] == first[3][:15]  # not tied to other draws
    assert first[3] != draw_sets(catalog, [3], 40, seed=8)[3]
    assert draw_concepts(catalog, 5, draw_rng(7, 5, 2)) == first[5][2]


def test_faithful_default_lets_two_styles_through(draws: dict[int, list[ConceptDraw]]) -> None:
    styles = Counter(len(d.styles) for d in draws[5])
    print(f"\nk=5 styles per draw (faithful default): {dict(sorted(styles.items()))}")
    assert styles[2] > 0


def test_style_cap_allows_one_style(catalog: ConceptCatalog) -> None:
    capped = draw_sets(catalog, [5], 1000, seed=2024, style_cap=True)[5]
    styles = Counter(len(d.styles) for d in capped)
    print(f"\nk=5 styles per draw (style_cap): {dict(sorted(styles.items()))}")
    assert max(styles) == 1 and styles[1] > 0


@pytest.mark.parametrize(("prob", "objects"), [(0.0, 1), (1.0, 4)])
def test_object_prob_is_honoured(catalog: ConceptCatalog, prob: float, objects: int) -> None:
    sets = draw_sets(catalog, [3], 50, seed=1, object_prob=prob)[3]
    assert {len(d.objects) for d in sets} == {objects}


@pytest.mark.parametrize(
    ("k", "prob", "message"),
    [(8, 0.25, "non-object categories"), (-1, 0.25, "0 or more"), (2, 1.5, "object_prob")],
)
def test_impossible_draws_are_refused(
    catalog: ConceptCatalog, k: int, prob: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        draw_concepts(catalog, k, draw_rng(0, k, 0), object_prob=prob)
