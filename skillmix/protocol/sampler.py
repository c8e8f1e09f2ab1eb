"""Seeded, frozen items: k distinct skills and one topic.

Each item's draw depends only on (seed, k, item index) and the catalog, so growing
items_per_k, adding k values, students or generations never changes an existing item.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from enum import StrEnum
from math import comb

from skillmix.catalog import Catalog, Skill
from skillmix.records import Item


class CommonSkills(StrEnum):
    """Where skills flagged `common` are excluded."""

    SAMPLING = "sampling"  # never drawn
    SCORING = "scoring"  # drawn, but items holding one are left out of the metrics (the paper)
    KEEP = "keep"  # treated like any other skill


def item_rng(seed: int, k: int, index: int) -> random.Random:
    digest = hashlib.sha256(f"skillmix-item|{seed}|{k}|{index}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def skill_pool(catalog: Catalog, common: CommonSkills) -> list[Skill]:
    pool = [s for s in catalog.skills if not (common is CommonSkills.SAMPLING and s.common)]
    return sorted(pool, key=lambda s: s.name)


def draw_item(catalog: Catalog, *, seed: int, k: int, index: int, common: CommonSkills) -> Item:
    pool = skill_pool(catalog, common)
    if k > len(pool):
        raise ValueError(f"k={k} is larger than the {len(pool)} skills available")
    rng = item_rng(seed, k, index)
    chosen = sorted(rng.sample(pool, k), key=lambda s: s.name)
    rng.shuffle(chosen)  # the order the skills appear in the prompt
    topic = rng.choice(sorted(t.name for t in catalog.topics))
    return Item(
        item_id=f"k{k}-{index:05d}",
        k=k,
        index=index,
        skills=tuple(s.name for s in chosen),
        topic=topic,
        has_common_skill=any(s.common for s in chosen),
    )


def sample_items(
    catalog: Catalog, *, seed: int, ks: Iterable[int], items_per_k: int, common: CommonSkills
) -> list[Item]:
    return [
        draw_item(catalog, seed=seed, k=k, index=index, common=common)
        for k in ks
        for index in range(items_per_k)
    ]


def possible_items(n_skills: int, n_topics: int, k: int) -> int:
    """C(N, k) * T distinct (skill set, topic) items: the paper's argument against memorisation."""
    return comb(n_skills, k) * n_topics
