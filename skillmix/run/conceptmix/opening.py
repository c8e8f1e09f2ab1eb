"""Opening a ConceptMix plan's run directory: its lock and store, with what the run is
(configuration, question template, items) recorded before any call; a store holding another
run is refused, or with `new_run` set aside, as for Skill-Mix runs."""

from __future__ import annotations

import hashlib
from typing import Any

from skillmix.config.conceptmix import ConceptMixConfig, stored_conceptmix_config
from skillmix.run.conceptmix.plan import ConceptPlan
from skillmix.run.conceptmix.store import ConceptStore, is_conceptmix
from skillmix.run.identity import entry_identity
from skillmix.run.opening import open_store
from skillmix.run.store import RunStore

TEMPLATE_HASH = "question_template_hash"


def open_conceptmix_run(plan: ConceptPlan, *, new_run: bool = False) -> ConceptStore:
    store = open_store(plan.config.output_dir, lambda found: another_run(found, plan), new_run)
    try:
        concepts = ConceptStore(store)
        record_run(concepts, plan)
    except BaseException:
        store.close()
        raise
    return concepts


def template_hash(plan: ConceptPlan) -> str:
    return hashlib.sha256(plan.template.text.encode()).hexdigest()[:16]


def identity(config: ConceptMixConfig, template: str) -> dict[str, Any]:
    """What must stay the same for a ConceptMix run to go on (more k values, items, images
    per prompt or models are growth, not change)."""
    generate = config.items.generate
    found: dict[str, Any] = {
        "seed": config.seed,
        "items.generate": None
        if generate is None
        else {
            **generate.model_dump(mode="json", exclude={"writer"}),
            "writer": entry_identity(generate.writer),
        },
        "grading.template": template,
        "grading.rule": config.grading.rule,
        "grading.logprobs": config.grading.logprobs,
        "grader": entry_identity(config.grader),
    }
    for entry in config.models:
        found[f"models ({entry.label})"] = entry_identity(entry)
    return found


def another_run(store: RunStore, plan: ConceptPlan) -> str | None:
    stored = store.get_meta("config")
    if stored is None:
        return None
    if not is_conceptmix(store):
        return "holds a Skill-Mix run: give the ConceptMix run its own output_dir"
    before = identity(
        stored_conceptmix_config(stored, store.path), store.get_meta(TEMPLATE_HASH) or ""
    )
    wanted = identity(plan.config, template_hash(plan))
    differ = [key for key in wanted if key in before and before[key] != wanted[key]]
    known = {item.item_id: item for item in ConceptStore(store).items()}
    moved = [i.item_id for i in plan.items if i.item_id in known and known[i.item_id] != i]
    if not differ and not moved:
        return None
    what = ", ".join(differ) if differ else f"the items ({', '.join(moved[:3])})"
    return (
        f"holds another run: this config changes its {what}; use a new output_dir, or "
        "`skillmix eval --new-run` to set the stored run aside and start afresh"
    )


def record_run(concepts: ConceptStore, plan: ConceptPlan) -> None:
    concepts.create_tables()
    concepts.store.set_meta("config", plan.config.model_dump_json())
    concepts.store.set_meta(TEMPLATE_HASH, template_hash(plan))
    concepts.put_items(plan.items)
