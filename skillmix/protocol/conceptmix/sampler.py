"""Seeded concept draws: the official `load_configs_new` draw, replayable.

1 + Binomial(k, object_prob) distinct objects; the other k + 1 - objects concepts are drawn
uniformly, with replacement, from the non-object categories (sorted by name, where the official
code takes os.listdir's order), redrawn while a category occurs more often than there are
objects. The official code means to allow one style only, but its check misspells the file name,
so a draw may hold several styles: `style_cap=True` applies the intended cap. Attributes go to a
random object lacking that category; styles are image-wide; relations wait for the binding step.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass

from skillmix.catalog.concepts import ConceptCatalog
from skillmix.records import Concept

OBJECT, STYLE, SPATIAL = "object", "style", "spatial"


@dataclass(frozen=True)
class Relation:
    """A spatial relation; a and b index ConceptDraw.objects once the binding step picks them."""

    value: str
    a: int | None = None
    b: int | None = None


@dataclass(frozen=True)
class ConceptDraw:
    k: int
    objects: tuple[str, ...]
    attributes: tuple[tuple[Concept, ...], ...]  # per object, in draw order
    styles: tuple[str, ...]
    relations: tuple[Relation, ...]
    drawn: tuple[Concept, ...]  # every non-object concept, in draw order
    owners: tuple[int | None, ...]  # aligned with drawn: the object an attribute went to

    def concepts(self) -> tuple[Concept, ...]:
        """The k+1 concepts in the official order: the objects, the drawn concepts, and the
        relations last (the official code adds them after the binding step)."""
        objects = tuple(Concept(category=OBJECT, value=o) for o in self.objects)
        placed = tuple(c for c in self.drawn if c.category != SPATIAL)
        relations = tuple(Concept(category=SPATIAL, value=r.value) for r in self.relations)
        return objects + placed + relations


def draw_rng(seed: int, k: int, index: int, attempt: int = 0) -> random.Random:
    """The generator of one draw: depends only on (seed, k, index) and, for the redraws after
    a writer turned a draw down, the attempt."""
    text = f"conceptmix-draw|{seed}|{k}|{index}" + (f"|{attempt}" if attempt else "")
    digest = hashlib.sha256(text.encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def check_draw(catalog: ConceptCatalog, k: int, object_prob: float) -> None:
    """ValueError when no concept set of k can be drawn from the catalog."""
    if k < 0:
        raise ValueError(f"k must be 0 or more, not {k}")
    if not 0.0 <= object_prob <= 1.0:
        raise ValueError(f"object_prob must lie in [0, 1], not {object_prob}")
    categories = len(catalog.non_object_categories)
    if k > categories:  # one object and k concepts, each category at most once
        raise ValueError(f"k={k} is more than the {categories} non-object categories allow")
    if k + 1 > len(catalog.objects):
        raise ValueError(f"k={k} may need {k + 1} distinct objects; the catalog has fewer")


def _attempt(
    rng: random.Random, categories: tuple[str, ...], limits: dict[str, int], count: int
) -> list[str] | None:
    """count slots drawn uniformly with replacement; None as soon as one exceeds its limit."""
    slots: list[str] = []
    left, draw, size = dict(limits), rng.random, len(categories)
    for _ in range(count):
        category = categories[int(draw() * size)]  # as random.choices draws
        left[category] -= 1
        if left[category] < 0:
            return None
        slots.append(category)
    return slots


def _slots(
    rng: random.Random, catalog: ConceptCatalog, count: int, num_objects: int, cap: bool
) -> list[str]:
    """The official redraw-until-valid loop. Giving up on an attempt at its first excess draws
    from the same distribution (uniform over the valid sequences), with fewer draws."""
    categories = catalog.non_object_categories
    limits = {c: 1 if cap and c == STYLE else num_objects for c in categories}
    slots = _attempt(rng, categories, limits, count)
    while slots is None:
        slots = _attempt(rng, categories, limits, count)
    return slots


def _objects(rng: random.Random, catalog: ConceptCatalog, count: int) -> tuple[str, ...]:
    pool, chosen = catalog.objects, list[str]()
    for _ in range(count):
        value = rng.choice(pool)
        while value in chosen:
            value = rng.choice(pool)
        chosen.append(value)
    return tuple(chosen)


def draw_concepts(
    catalog: ConceptCatalog,
    k: int,
    rng: random.Random,
    *,
    object_prob: float = 0.25,
    style_cap: bool = False,
) -> ConceptDraw:
    """One concept set of k+1 concepts, drawn as the official code draws it."""
    check_draw(catalog, k, object_prob)
    num_objects = 1 + sum(rng.random() < object_prob for _ in range(k))
    slots = _slots(rng, catalog, k + 1 - num_objects, num_objects, style_cap)
    objects = _objects(rng, catalog, num_objects)
    held: list[list[Concept]] = [[] for _ in objects]
    styles, relations, drawn, owners = [], [], [], list[int | None]()
    for category in slots:
        concept = Concept(category=category, value=rng.choice(catalog.values(category)))
        owner = None
        if category == STYLE:
            styles.append(concept.value)
        elif category == SPATIAL:
            relations.append(Relation(concept.value))
        else:
            owner = rng.choice(range(num_objects))
            while any(c.category == category for c in held[owner]):
                owner = rng.choice(range(num_objects))
            held[owner].append(concept)
        drawn.append(concept)
        owners.append(owner)
    return ConceptDraw(
        k=k,
        objects=objects,
        attributes=tuple(tuple(h) for h in held),
        styles=tuple(styles),
        relations=tuple(relations),
        drawn=tuple(drawn),
        owners=tuple(owners),
    )


def draw_sets(
    catalog: ConceptCatalog,
    ks: Iterable[int],
    per_k: int,
    seed: int,
    *,
    object_prob: float = 0.25,
    style_cap: bool = False,
) -> dict[int, list[ConceptDraw]]:
    """per_k draws for each k; draw i of k is the same whatever else is drawn."""
    return {
        k: [
            draw_concepts(
                catalog, k, draw_rng(seed, k, i), object_prob=object_prob, style_cap=style_cap
            )
            for i in range(per_k)
        ]
        for k in ks
    }
