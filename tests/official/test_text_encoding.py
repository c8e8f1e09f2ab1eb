"""The official skills.csv and topics.txt: UTF-8 text (with or without a byte order mark) only."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillmix.catalog.official_files import read_official_skills, read_official_topics
from skillmix.errors import SkillmixError

HEADER = "category,skill,definition,example,comments,status,added by\n"
ROW = "literary,métaphore,One thing as another.,The room was a zoo.,,keep,\n"


def test_utf8_with_a_byte_order_mark_reads(tmp_path: Path) -> None:
    csv_path, txt_path = tmp_path / "skills.csv", tmp_path / "topics.txt"
    csv_path.write_bytes(b"\xef\xbb\xbf" + (HEADER + ROW).encode())
    txt_path.write_bytes(b"\xef\xbb\xbfCaf\xc3\xa9s\nKnots\n")
    assert [s.name for s in read_official_skills(csv_path)] == ["métaphore"]
    assert [t.name for t in read_official_topics(txt_path)] == ["Cafés", "Knots"]


@pytest.mark.parametrize("name", ["skills.csv", "topics.txt"])
def test_latin1_is_one_error_with_the_offset(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes((HEADER + ROW).encode("latin-1"))
    read = read_official_skills if name == "skills.csv" else read_official_topics
    offset = len(HEADER) + len("literary,m")
    with pytest.raises(SkillmixError) as error:
        read(path)
    assert str(error.value) == f"{path}: not UTF-8 text (byte 0xe9 at offset {offset})"
