"""Importing a run of the official Skill-Mix code into a run store, and reporting it like ours."""

from __future__ import annotations

import asyncio
import csv
import json
import math
import shutil
from contextlib import closing
from pathlib import Path

import pytest

from skillmix.config import RunConfig
from skillmix.errors import SkillmixError
from skillmix.models import BackendSettings, GenerationParams, ModelRequest, create_backend
from skillmix.official.run_import import ImportSummary, import_official_run
from skillmix.protocol.item_files import split_skills
from skillmix.protocol.rubric import build_rubric
from skillmix.results.build import load_results
from skillmix.run.store import RunStore
from tests.helpers.official import read_records
from tests.helpers.paths import FIXTURES

OFFICIAL_RUN = FIXTURES / "official_run"
Table = dict[tuple[str, int, str], tuple[float, int]]  # (model, k, metric) -> (value, n)


def results(run_dir: Path) -> Table:
    store = RunStore.open_for_reading(run_dir)
    try:
        rows = load_results(store).rows
    finally:
        store.close()
    return {(r.student, r.k, r.metric): (r.value, r.n) for r in rows}


def test_the_skills_cell_is_split_and_its_names_kept_exact() -> None:
    assert split_skills("metaphor, \nloaded question (hidden premise )") == (
        "metaphor",
        "loaded question (hidden premise )",  # as the official prompts named it
    )
    assert split_skills("red herring,  \nmodus ponens") == ("red herring", "modus ponens")
    assert split_skills("red herring, modus ponens") == ("red herring", "modus ponens")


def test_the_fixture_run_imports_to_the_hand_computed_table(tmp_path: Path) -> None:
    """The fixture: k=2 (rubric: 2 skills, topic, sense, at most one sentence), 3 items,
    rounds r1 and r2, gradings 1 and 2; majority of two gradings = both award the point.

    tiny-student (open-model columns [INST]_1 / [/INST]_1), per item: round -> majority points
    (skills | topic sense sentences) -> (full_marks, all_skills, skill_fraction):
      item 0 (metaphor, red herring; Lighthouses)
        r1: grading 1 is a table with its rows reordered, all 1; grading 2 gives red herring 0
            -> 1 0 | 1 1 1 -> (0, 0, 0.5)
        r2: both tables all 1 -> 1 1 | 1 1 1 -> (1, 1, 1)
        max over rounds -> (1, 1, 1)
      item 1 (spatial reasoning, loaded question (... premise ); Cheese making)
        r1: empty answer: every point 0 whatever the grader said -> (0, 0, 0)
        r2: grading 2 gives sense 0 -> 1 1 | 1 0 1, others = 2 -> (0, 1, 0)
        max -> (0, 1, 0)
      item 2 (hyperbole, modus ponens; Kite flying)
        r1: grading 1 'Point earned:' style, all 1 but sentences; grading 2 unreadable prose,
            scored from points_0 = 1,1,1,0,1; the answer has two sentences, so the sentence
            point is 0 in both -> 1 1 | 1 0 0, others = 1 -> (0, 0, 0)
        r2: both all 1, but the answer says "hyperbole": naming penalty -> 0 1 | 1 1 1
            -> (0, 0, 0.5)
        max -> (0, 0, 0.5)
      mean over the 3 items: full_marks 1/3, all_skills 2/3, skill_fraction 1.5/3 = 0.5

    tiny-chat (chat columns user_1 / assistant_1), round r1 only; its grading 2 has 2 rows:
      item 0: both all 1 -> (1, 1, 1)
      item 1: neither reply readable, points_0 empty / only 2 values -> unscored; round 2 is
              absent, so the item has no scored generation and counts as pending
      item 2: only grading 1: topic 0 -> 1 1 | 0 1 1, others = 2 -> (0, 1, 0)
      mean over the 2 scored items: full_marks 0.5, all_skills 1.0, skill_fraction 0.5
    """
    out = tmp_path / "imported"
    summary = import_official_run([OFFICIAL_RUN], out)
    assert summary == ImportSummary(
        run_dir=out,
        students=["imported/tiny-chat", "imported/tiny-student"],
        ks=[2],
        items=3,
        generations=6 + 3,
        gradings=6 * 2 + 3 + 2,
        unscored=2,
        fallbacks=1,
        notes=[
            "tiny-chat: no round 2 for k=2",
            f"{OFFICIAL_RUN}/k2_s7_vdefault_r1/tiny-chat/graded/by_gpt-4_on_text_1_2_gpt/"
            "records.csv: 2 of 3 rows graded",
        ],
    )
    table = results(out)
    expected = {
        ("imported/tiny-student", "full_marks"): (1 / 3, 3),
        ("imported/tiny-student", "all_skills"): (2 / 3, 3),
        ("imported/tiny-student", "skill_fraction"): (0.5, 3),
        ("imported/tiny-chat", "full_marks"): (0.5, 2),
        ("imported/tiny-chat", "all_skills"): (1.0, 2),
        ("imported/tiny-chat", "skill_fraction"): (0.5, 2),
    }
    for (model, metric), (value, n) in expected.items():
        got, got_n = table[(model, 2, metric)]
        assert got == pytest.approx(value) and got_n == n, (model, metric, got, got_n)

    store = RunStore.open_for_reading(out)
    try:
        config = RunConfig.model_validate_json(store.get_meta("config") or "")
        assert (config.seed, config.k, config.items_per_k) == (7, [2], 3)
        assert (config.generations, config.gradings) == (2, 2)
        assert config.grader.model == "imported/gpt-4"
        assert config.common_skills.value == "keep"
        assert json.loads(store.get_meta("source") or "") == [str(OFFICIAL_RUN)]
        assert store.get_meta("prompt_hash") == "official:default"
        assert len(store.get_meta("catalog_hash") or "") == 16
        items = store.items()
        assert [i.item_id for i in items] == ["k2-00000", "k2-00001", "k2-00002"]
        assert items[1].skills == (
            "spatial reasoning",
            "loaded question (question with a hidden premise )",
        )
        assert items[1].topic == "Cheese making"
        generations = {(g.student, g.item_id, g.gen): g for g in store.generations()}
        assert generations[("imported/tiny-student", "k2-00001", 0)].status == "empty"
        # The text the grader saw, with the '**' the official extraction leaves behind
        chat = generations[("imported/tiny-chat", "k2-00000", 0)].answer or ""
        assert chat.startswith("** A lighthouse") and chat.endswith("**")
        gradings = {(g.student, g.item_id, g.gen, g.grading): g for g in store.gradings()}
        fallback = gradings[("imported/tiny-student", "k2-00002", 0, 1)]
        assert fallback.status == "scored" and "points_0" in (fallback.reason or "")
        assert fallback.grader_points == {
            "skill:hyperbole": 1,
            "skill:modus ponens": 1,
            "topic": 1,
            "sense": 0,
            "sentences": 1,
        }
        assert fallback.points is not None and fallback.points["sentences"] == 0
        unscored = gradings[("imported/tiny-chat", "k2-00001", 0, 0)]
        assert unscored.status == "unscored" and unscored.reply and unscored.response_key is None
    finally:
        store.close()


def test_an_imported_model_cannot_be_called() -> None:
    backend = create_backend("imported/gpt-4", BackendSettings())
    assert backend.resolved_model == "gpt-4"
    request = ModelRequest([{"role": "user", "content": "hi"}], GenerationParams(), 0)
    with pytest.raises(SkillmixError, match="imported/gpt-4 is an imported run"):
        asyncio.run(backend.generate(request))


# bad input


def copy_run(tmp_path: Path) -> Path:
    return Path(shutil.copytree(OFFICIAL_RUN, tmp_path / "official"))


def test_a_student_folder_without_records_is_refused(tmp_path: Path) -> None:
    source = copy_run(tmp_path)
    folder = source / "k2_s7_vdefault_r2" / "tiny-student"
    (folder / "records.csv").unlink()
    with pytest.raises(SkillmixError, match=r"no records\.csv") as error:
        import_official_run([source], tmp_path / "out")
    assert str(folder) in str(error.value)
    assert not (tmp_path / "out").exists()


def test_a_grading_folder_without_records_is_refused(tmp_path: Path) -> None:
    source = copy_run(tmp_path)
    folder = source / "k2_s7_vdefault_r1" / "tiny-chat" / "graded" / "by_gpt-4_on_text_1_1_gpt"
    (folder / "records.csv").unlink()
    with pytest.raises(SkillmixError, match=r"no records\.csv") as error:
        import_official_run([source], tmp_path / "out")
    assert str(folder) in str(error.value)


def test_a_grading_row_for_another_item_is_refused(tmp_path: Path) -> None:
    source = copy_run(tmp_path)
    path = source / "k2_s7_vdefault_r2/tiny-student/graded/by_gpt-4_on_text_1_2_gpt/records.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(",Kite flying,", ",Kite surfing,"), encoding="utf-8")
    with pytest.raises(SkillmixError, match="row 3 is") as error:
        import_official_run([source], tmp_path / "out")
    assert str(path) in str(error.value) and "Kite surfing" in str(error.value)


def test_an_unreadable_csv_is_refused(tmp_path: Path) -> None:
    source = copy_run(tmp_path)
    path = source / "k2_s7_vdefault_r1" / "tiny-student" / "records.csv"
    path.write_bytes(b"k,skills,topic\n2,\xff\xfe,Knots\n")
    with pytest.raises(SkillmixError, match="unreadable CSV") as error:
        import_official_run([source], tmp_path / "out")
    assert str(path) in str(error.value)


def test_a_cell_over_csvs_limit_is_read_and_the_limit_left_as_it_was(tmp_path: Path) -> None:
    source = copy_run(tmp_path)
    path = source / "k2_s7_vdefault_r1/tiny-student/graded/by_gpt-4_on_text_1_1_gpt/records.csv"
    rows = read_records(path)
    padding = "\nAnd another thing: " + "the lamp turns. " * 20_000  # over csv's 128 KiB default
    rows[0]["assistant_0"] += padding
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    previous = csv.field_size_limit(131_072)
    try:
        import_official_run([source], tmp_path / "out")
        assert csv.field_size_limit() == 131_072
    finally:
        csv.field_size_limit(previous)
    with closing(RunStore.open_for_reading(tmp_path / "out")) as store:
        assert sum(padding in (g.reply or "") for g in store.gradings()) == 1


def test_mixed_seeds_are_refused(tmp_path: Path) -> None:
    source = copy_run(tmp_path)
    (source / "k2_s7_vdefault_r2").rename(source / "k2_s8_vdefault_r2")
    with pytest.raises(SkillmixError, match="seed 8") as error:
        import_official_run([source], tmp_path / "out")
    assert "k2_s8_vdefault_r2" in str(error.value)


def test_an_existing_run_store_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    import_official_run([OFFICIAL_RUN], out)
    with pytest.raises(SkillmixError, match=r"run\.sqlite") as error:
        import_official_run([OFFICIAL_RUN], out)
    assert str(out) in str(error.value)


def test_round_folders_can_be_given_one_by_one(tmp_path: Path) -> None:
    rounds = sorted(OFFICIAL_RUN.glob("k2_s7_vdefault_r*"))
    summary = import_official_run(rounds, tmp_path / "out")
    assert (summary.items, summary.generations, summary.gradings) == (3, 9, 17)


# the official reference folders


def agreement(run_dir: Path, rounds: list[Path]) -> tuple[float, float, int]:
    """Share of rubric points where our final (and our raw) points equal official points_0.

    Only gradings whose points_0 holds all k+3 values are compared, by position.
    """
    store = RunStore.open_for_reading(run_dir)
    try:
        gradings = {(g.student, g.item_id, g.gen, g.grading): g for g in store.gradings()}
    finally:
        store.close()
    final = raw = total = 0
    for round_dir in rounds:
        for path in sorted(round_dir.glob("*/graded/by_*_on_text_1_*/records.csv")):
            student_dir = path.parents[2]
            k, round_ = student_dir.parent.name.split("_")[0], student_dir.parent.name
            n = int(path.parent.name.split("_")[-2])
            for index, row in enumerate(read_records(path)):
                official = [int(float(v)) for v in row["points_0"].split(",") if v.strip()]
                rubric = build_rubric(split_skills(row["skills"]), row["topic"])
                if len(official) != len(rubric):
                    continue
                key = (
                    f"imported/{student_dir.name}",
                    f"{k}-{index:05d}",
                    int(round_.rsplit("_r", 1)[1]) - 1,
                    n - 1,
                )
                record = gradings[key]
                assert record.points is not None
                for item, want in zip(rubric, official, strict=True):
                    total += 1
                    final += record.points[item.key] == want
                    raw += (record.grader_points or record.points)[item.key] == want
    return final / total, raw / total, total


def report_k(table: Table, k: int, label: str) -> None:
    for model in sorted({m for m, kk, _ in table if kk == k}):
        cells = []
        for metric in ("full_marks", "all_skills", "skill_fraction"):
            value, n = table[(model, k, metric)]
            cells.append(f"{metric} {'-' if math.isnan(value) else f'{value:.3f}'} (n={n})")
        print(f"{label} k={k} {model}: {', '.join(cells)}")


def test_the_official_test_run_imports(reference_dir: Path, tmp_path: Path) -> None:
    source = reference_dir / "skill-mix-official" / "test"
    summary = import_official_run([source], tmp_path / "official")
    # gpt-4: rounds 2-3; llama2-7b-chat: rounds 1-3; mistral-7b-chat: round 1; 5 items each
    assert summary.students == [
        "imported/gpt-4",
        "imported/llama2-7b-chat",
        "imported/mistral-7b-chat",
    ]
    assert (summary.ks, summary.items, summary.generations) == ([3], 5, (2 + 3 + 1) * 5)
    # 3 gradings each, but mistral r1 and llama2 r3 were graded on 1 and 2 rows only
    assert summary.gradings == 3 * (5 + 5 + 5 + 5 + 2 + 1)
    store = RunStore.open_for_reading(tmp_path / "official")
    config = RunConfig.model_validate_json(store.get_meta("config") or "")
    store.close()
    assert (config.generations, config.gradings, config.seed) == (3, 3, 10)
    table = results(tmp_path / "official")
    report_k(table, 3, "skill-mix-official/test")
    # gpt-4's replies are all tables: every item is scored
    assert table[("imported/gpt-4", 3, "full_marks")][1] == 5
    final, raw, total = agreement(tmp_path / "official", sorted(source.glob("k*_r*")))
    print(
        f"skill-mix-official/test: agreement with points_0 on {total} points: "
        f"final {final:.4f}, raw {raw:.4f}; {summary.unscored} gradings unscored"
    )
    assert final >= 0.9 and raw >= 0.99


def test_the_fork_toy_runs_import_one_seed_at_a_time(reference_dir: Path, tmp_path: Path) -> None:
    source = reference_dir / "skill-mix-fork-toy" / "test"
    with pytest.raises(SkillmixError, match="import each seed"):
        import_official_run([source], tmp_path / "mixed")
    totals = [0, 0, 0]
    for seed, ks in (("10", [2, 3, 4, 5, 6]), ("42", [3])):
        rounds = sorted(source.glob(f"k*_s{seed}_v*_r*"))
        out = tmp_path / f"s{seed}"
        summary = import_official_run(rounds, out)
        assert summary.students == ["imported/gpt-3.5-turbo", "imported/gpt-4"]
        assert (summary.ks, summary.items) == (ks, 5 * len(ks))
        assert summary.generations == 2 * 3 * 5 * len(ks)  # students x rounds x items
        assert summary.gradings == 3 * summary.generations and summary.notes == []
        table = results(out)
        report_k(table, 3, f"skill-mix-fork-toy s{seed}")
        for model in summary.students:
            assert table[(model, 3, "full_marks")][1] == 5
        final, raw, total = agreement(out, rounds)
        print(
            f"skill-mix-fork-toy s{seed}: agreement with points_0 on {total} points: "
            f"final {final:.4f}, raw {raw:.4f}"
        )
        assert final >= 0.9 and raw >= 0.99
        totals = [
            totals[0] + round(final * total),
            totals[1] + round(raw * total),
            totals[2] + total,
        ]
    print(
        f"skill-mix-fork-toy: final agreement {totals[0]}/{totals[2]}, raw {totals[1]}/{totals[2]}"
    )
