"""The binding and writing steps of ConceptMix item writing, one function at a time: the plan a
draw becomes, the completed plan read back (and refused when unusable), the concepts and
statements of a bound draw under each quirk, and the reading of captions and questions."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from skillmix.catalog.concepts import ConceptCatalog, load_concepts
from skillmix.protocol.conceptmix.binding import (
    BadBinding,
    Binding,
    BoundRelation,
    initial_plan,
    read_binding,
)
from skillmix.protocol.conceptmix.sampler import ConceptDraw, Relation
from skillmix.protocol.conceptmix.writing import (
    draft,
    read_questions,
    turned_down,
    writing_prompts,
)
from skillmix.records import Concept
from tests.helpers.paths import ROOT

OFFICIAL_PHRASES = (  # sentences of the official prompts, which ours must not copy
    "human-annotated description",
    "elementry school",
    "Could you respond only the JSON",
    "A student just draw a picture",
    "verify if it makes sense in a very loose sense",
)


@pytest.fixture(scope="module")
def catalog() -> ConceptCatalog:
    return load_concepts(ROOT / "data" / "concepts.yaml")


def c(category: str, value: str) -> Concept:
    return Concept(category=category, value=value)


# two objects: a red cat and a dog; cubism then cartoon styles; one "left" relation
DRAW = ConceptDraw(
    k=4,
    objects=("cat", "dog"),
    attributes=((c("color", "red"),), ()),
    styles=("cubism", "cartoon"),
    relations=(Relation("left"),),
    drawn=(c("style", "cubism"), c("color", "red"), c("spatial", "left"), c("style", "cartoon")),
    owners=(None, 0, None, None),
)


def completed(**changes: object) -> dict[str, object]:
    plan = {
        "objects": [{"id": 1, "item": "cat", "color": "red"}, {"id": 2, "item": "dog"}],
        "style": "cartoon",
        "relation": [{"name": "left", "description": "...", "ObjectA_id": 2, "ObjectB_id": 1}],
    }
    return plan | changes


def test_a_draw_becomes_a_plan_with_its_relations_open(catalog: ConceptCatalog) -> None:
    plan = initial_plan(DRAW, catalog)
    assert plan["objects"] == [{"id": 1, "item": "cat", "color": "red"}, {"id": 2, "item": "dog"}]
    assert plan["style"] == "cartoon"  # the last style, as the official plan holds it
    (relation,) = plan["relation"]
    assert (relation["name"], relation["ObjectA_id"], relation["ObjectB_id"]) == ("left", "?", "?")
    assert "ObjectA" in relation["description"] and "ObjectB" in relation["description"]


def test_a_completed_plan_is_read_from_a_fenced_reply(catalog: ConceptCatalog) -> None:
    reply = f"Sure, here it is:\n```json\n{json.dumps(completed())}\n```\nDone."
    binding = read_binding(reply, DRAW, catalog)
    assert binding.objects == ("cat", "dog")
    assert binding.relations == (BoundRelation("left", 1, 0),)


def test_an_object_the_writer_adds_is_kept_after_the_drawn_ones(catalog: ConceptCatalog) -> None:
    objects = [*completed()["objects"], {"id": 3, "item": "table"}]  # type: ignore[misc]
    plan = completed(
        objects=objects, relation=[{"name": "left", "ObjectA_id": "3", "ObjectB_id": 1}]
    )
    binding = read_binding(json.dumps(plan), DRAW, catalog)
    assert binding.objects == ("cat", "dog", "table")
    assert binding.relations == (BoundRelation("left", 2, 0),)


def related(a: object, b: object, name: str = "left") -> str:
    """The completed plan with one relation, as JSON."""
    return json.dumps(completed(relation=[{"name": name, "ObjectA_id": a, "ObjectB_id": b}]))


def with_objects(*names: str) -> str:
    objects = [{"id": number, "item": name} for number, name in enumerate(names, 1)]
    return json.dumps(completed(objects=objects))


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("I would rather not.", "no JSON object"),
        (with_objects("dog", "cat"), "drawn ones"),
        (json.dumps(completed(objects=[{"id": 2, "item": "cat"}])), '"id" 1'),
        (related("?", 1), "two of the 2"),
        (related(3, 1), "two of the 2"),
        (related(1, 2, "near"), "'near'"),
        (json.dumps(completed(relation={"name": "left"})), "not a list"),
        (with_objects(), "non-empty list"),
    ],
)
def test_an_unusable_plan_is_refused_with_its_reason(
    catalog: ConceptCatalog, reply: str, reason: str
) -> None:
    with pytest.raises(BadBinding, match=re.escape(reason)):
        read_binding(reply, DRAW, catalog)


def bound(catalog: ConceptCatalog, *, grade_added: bool, added: bool = True) -> tuple[Concept, ...]:
    objects = ("cat", "dog", "table") if added else ("cat", "dog")
    binding = Binding(objects, (BoundRelation("left", 0, 1),), completed())
    return draft(DRAW, binding, catalog, grade_added=grade_added).concepts


def test_faithfully_an_added_object_gets_no_concept(catalog: ConceptCatalog) -> None:
    faithful = bound(catalog, grade_added=False)
    assert faithful == (
        c("object", "cat"), c("object", "dog"), c("style", "cubism"), c("color", "red"),
        c("style", "cartoon"), c("spatial", "left"),
    )  # fmt: skip
    fixed = bound(catalog, grade_added=True)
    assert fixed == (*faithful[:2], c("object", "table"), *faithful[2:])


def test_statements_name_each_concept_s_objects(catalog: ConceptCatalog) -> None:
    binding = Binding(("cat", "dog"), (BoundRelation("left", 0, 0),), completed())
    found = draft(DRAW, binding, catalog, grade_added=False)
    assert len(found.statements) == len(found.concepts)
    red = found.statements[found.concepts.index(c("color", "red"))]
    assert red == catalog.statement(c("color", "red"), ("cat",))
    assert "another cat" in found.statements[-1]  # a relation of an object with itself


def test_an_object_outside_the_catalog_takes_the_category_wording(
    catalog: ConceptCatalog,
) -> None:
    binding = Binding(("cat", "dog", "vase"), (), completed())
    found = draft(DRAW, binding, catalog, grade_added=True)
    assert "vase" in found.statements[2]


def test_replies_are_read_as_the_official_code_reads_them() -> None:
    assert turned_down("  WRONG: a cat cannot be square.")
    assert not turned_down("A cat that is not WRONG at all.")
    reply = "1. Is there a cat?\n\n2) Is the cat red?\n- Is it cartoon?\n  \nIs it cubism?"
    assert read_questions(reply) == [
        "Is there a cat?",
        "Is the cat red?",
        "Is it cartoon?",
        "Is it cubism?",
    ]


def test_our_writing_prompts_render_and_copy_no_official_sentence() -> None:
    prompts = writing_prompts()
    rendered = [
        prompts.binding.format(plan_json="{}"),
        prompts.binding_json,
        prompts.caption.format(statements="* x", plan_json="{}"),
        prompts.verify,
        prompts.questions.format(first_statement="x", first_object="cat", count=3),
    ]
    folder = resources.files("skillmix.protocol") / "prompts"
    for text in rendered:
        assert "{" not in text.replace("{}", "")  # every placeholder filled
    for name in ("binding", "binding_json", "caption", "verify", "questions"):
        text = (folder / f"conceptmix_{name}.txt").read_text(encoding="utf-8")
        assert not [p for p in OFFICIAL_PHRASES if p.lower() in text.lower()], name
