"""Deterministic sentence counting and the naming penalty applied to every grading."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache
from typing import Any

from skillmix.catalog import base_name


class SentenceSplitter(StrEnum):
    OFFICIAL = "official"  # the official repository's rule
    PYSBD = "pysbd"  # pySBD's rule-based segmenter


class NamingPenalty(StrEnum):
    SUBSTRING = "substring"  # official: the base name anywhere in the lower-cased answer
    WORD = "word"  # only as whole words
    OFF = "off"


ABBREVIATIONS = ("Mr.", "Mrs.", "Ms.", "Dr.", "Prof.")
QUOTES = "\"'“”‘’"
SENTENCE_BREAK = re.compile(rf"[.!?][{QUOTES}]*\s[{QUOTES}]*[A-Z]")


def count_sentences_official(text: str) -> int:
    """Abbreviations are joined to the next word; then each '. X' style break starts a sentence."""
    text = text.strip()
    if not text:
        return 0
    for abbreviation in ABBREVIATIONS:
        text = re.sub(rf"\b{re.escape(abbreviation)}\s+", abbreviation, text)
    return 1 + len(SENTENCE_BREAK.findall(text))


@cache
def _pysbd_segmenter() -> Any:
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def count_sentences(text: str, splitter: SentenceSplitter = SentenceSplitter.OFFICIAL) -> int:
    if splitter is SentenceSplitter.OFFICIAL:
        return count_sentences_official(text)
    return len([s for s in _pysbd_segmenter().segment(text.strip()) if s.strip()])


def names_skill(answer: str, skill: str, rule: NamingPenalty = NamingPenalty.SUBSTRING) -> bool:
    """Whether the answer names the skill it should only illustrate."""
    name = base_name(skill)
    if rule is NamingPenalty.OFF or not name:
        return False
    if rule is NamingPenalty.SUBSTRING:
        return name in answer.lower()
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", answer.lower()) is not None
