"""Items are frozen by (seed, k, index): growing a run never changes an existing item."""

from __future__ import annotations

from skillmix.catalog import load_catalog
from skillmix.protocol.sampler import CommonSkills, draw_item, sample_items
from tests.helpers.paths import ROOT

CATALOG = load_catalog(ROOT / "data" / "skills.yaml", ROOT / "data" / "topics.yaml")


def test_items_depend_only_on_seed_k_and_index() -> None:
    small = sample_items(CATALOG, seed=3, ks=[2, 3], items_per_k=4, common=CommonSkills.SCORING)
    grown = sample_items(
        CATALOG, seed=3, ks=[1, 2, 3, 4], items_per_k=10, common=CommonSkills.SCORING
    )
    by_id = {item.item_id: item for item in grown}
    assert all(by_id[item.item_id] == item for item in small)


def test_seed_changes_items_and_skills_are_distinct() -> None:
    a = sample_items(CATALOG, seed=0, ks=[5], items_per_k=20, common=CommonSkills.SCORING)
    b = sample_items(CATALOG, seed=1, ks=[5], items_per_k=20, common=CommonSkills.SCORING)
    assert [i.skills for i in a] != [i.skills for i in b]
    for item in a:
        assert len(set(item.skills)) == 5 == item.k
        assert item.topic in {t.name for t in CATALOG.topics}


def test_prompt_order_is_shuffled_not_sorted() -> None:
    items = sample_items(CATALOG, seed=0, ks=[4], items_per_k=30, common=CommonSkills.SCORING)
    assert any(list(i.skills) != sorted(i.skills) for i in items)


def test_common_skills_excluded_at_sampling_or_flagged_for_scoring() -> None:
    common = {s.name for s in CATALOG.skills if s.common}
    assert common
    kept = sample_items(CATALOG, seed=0, ks=[4], items_per_k=50, common=CommonSkills.SAMPLING)
    assert not any(set(i.skills) & common for i in kept)
    assert not any(i.has_common_skill for i in kept)
    flagged = sample_items(CATALOG, seed=0, ks=[4], items_per_k=50, common=CommonSkills.SCORING)
    assert any(i.has_common_skill for i in flagged)
    assert all(i.has_common_skill == bool(set(i.skills) & common) for i in flagged)


def test_draw_is_uniform_enough_over_skills() -> None:
    counts: dict[str, int] = {}
    for index in range(2000):
        for skill in draw_item(CATALOG, seed=0, k=1, index=index, common=CommonSkills.KEEP).skills:
            counts[skill] = counts.get(skill, 0) + 1
    assert len(counts) == len(CATALOG.skills)  # every skill drawn at least once
    assert max(counts.values()) < 3 * 2000 / len(CATALOG.skills)
