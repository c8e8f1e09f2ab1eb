"""Reading a grader's reply back onto the rubric, by criterion name.

Rows are matched to rubric items by what they say, never by their position, so a
reordered, missing or extra row cannot shift the points of the others. Only the grader's own
words count: a JSON object is read only when it is the whole reply, and whatever the reply
quotes of the answer (a table, an object or a row a student planted there) is dropped first.
A label that negates a criterion ("Does not pertain", "Nonsense") matches none.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter

from skillmix.catalog import base_name
from skillmix.errors import UnparseableReply
from skillmix.protocol.rubric import Criterion, RubricItem

__all__ = ["UnparseableReply", "match_criterion", "parse_point", "parse_reply"]


def _normalize(text: str) -> str:
    text = re.sub(r"[*_`#]", "", text.lower())
    text = re.sub(r"\(\s*", "(", re.sub(r"\s*\)", ")", text))
    return " ".join(text.split()).strip(" :.-")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


GENERIC_HINTS = {
    Criterion.TOPIC: ("pertains to", "pertain", "on topic", "relevan", "topic"),
    Criterion.SENSE: ("makes sense", "make sense", "coheren", "sense"),
    Criterion.SENTENCES: ("at most", "sentence"),
}


NEGATION = re.compile(r"\b(not|no|never|doesn't|don't|isn't|fails?|lacks?|without)\b")
MIN_QUOTED_CHARS = 8  # shorter reply lines may occur in an answer by chance


def match_criterion(label: str, rubric: list[RubricItem]) -> RubricItem | None:
    """The rubric item a row label names, or None for a total row or an unrelated row."""
    norm = _normalize(label)
    if not norm or "total" in norm:
        return None
    for item in rubric:
        if norm in (_normalize(item.text), _normalize(item.skill or "")):
            return item
    words = set(_words(norm))
    named = [i for i in rubric if i.skill and set(_words(base_name(i.skill))) <= words]
    if named:
        return max(named, key=lambda i: len(base_name(i.skill or "")))
    if NEGATION.search(norm):
        return None  # "does not pertain to ...": not the criterion it negates
    for kind, hints in GENERIC_HINTS.items():
        if any(re.search(rf"\b{re.escape(hint)}", norm) for hint in hints):
            return next(i for i in rubric if i.kind is kind)
    texts = [_normalize(i.text) for i in rubric]
    close = difflib.get_close_matches(norm, texts, n=1, cutoff=0.75)
    return rubric[texts.index(close[0])] if close else None


def parse_point(cell: str) -> int | None:
    """0 or 1 from a points cell: '1', '**1**', '1.0', '1/1', '0 points'. None if no number."""
    match = re.search(r"(-?\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?))?", cell)
    if match is None:
        return None
    value = float(match.group(1))
    if value < 0:
        raise UnparseableReply(f"point value {cell.strip()!r} is negative")
    if match.group(2) is not None and float(match.group(2)) > 0:
        value /= float(match.group(2))
    if value > 1:
        raise UnparseableReply(f"point value {cell.strip()!r} is more than 1")
    return 1 if value >= 1 else 0


def _table_rows(reply: str) -> list[tuple[str, str]]:
    rows = []
    for line in reply.splitlines():
        if "|" not in line:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        cells = [c for c in cells if c]
        if len(cells) >= 2 and not set("".join(cells)) <= set("-: "):
            rows.append((cells[0], cells[-1]))
    return rows


POINT_EARNED = re.compile(
    r"points?\s+earned(?:\s+for\s+(?P<label>[^:\n]+))?\s*:\s*(?P<value>[^\n]*)", re.I
)


def _point_earned_rows(reply: str, rubric: list[RubricItem]) -> list[tuple[str, str]]:
    """'Point earned: 1' style: the label is 'for X' or the text since the previous point."""
    rows, start = [], 0
    for match in POINT_EARNED.finditer(reply):
        label = match.group("label") or _first_named(reply[start : match.start()], rubric)
        rows.append((label, match.group("value")))
        start = match.end()
    return rows


def _first_named(segment: str, rubric: list[RubricItem]) -> str:
    """The rubric wording mentioned earliest in a free-text segment (its heading, usually)."""
    lowered = _normalize(segment)
    found = []
    for item in rubric:
        for phrase in (base_name(item.skill) if item.skill else None, _normalize(item.text)):
            if phrase and (pos := lowered.find(_normalize(phrase))) >= 0:
                found.append((pos, item.text))
    if not found:
        lines = [line for line in segment.splitlines() if line.strip()]
        return lines[-1] if lines else ""
    return min(found)[1]


FENCED = re.compile(r"```(?:json)?\s*(?P<body>.*?)\s*```", re.S)


def _json_rows(reply: str) -> list[tuple[str, str]] | None:
    """The rows of a reply that is one JSON object (a structured reply), fenced or not."""
    text = reply.strip()
    if (fenced := FENCED.fullmatch(text)) is not None:
        text = fenced["body"]
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    return [(str(key), str(int(v)) if isinstance(v, bool) else str(v)) for key, v in data.items()]


def _squash(text: str) -> str:
    return " ".join(text.lower().split())


def _bare(line: str) -> str:
    return _squash(line).strip(" >\"'*_`")


def without_quotes(reply: str, answer: str) -> str:
    """The reply less what it quotes of the answer: the answer where it is quoted whole, else
    each line the answer holds, as many times as the answer holds it (so a grader's own row
    that happens to equal a row the student planted is kept)."""
    if not answer.strip():
        return reply
    if answer in reply:
        return reply.replace(answer, "\n")
    planted = Counter(_bare(line) for line in answer.splitlines())
    kept = []
    for line in reply.splitlines():
        bare = _bare(line)
        if len(bare) >= MIN_QUOTED_CHARS and planted[bare] > 0:
            planted[bare] -= 1
            continue
        kept.append(line)
    return "\n".join(kept)


def parse_reply(reply: str, rubric: list[RubricItem], answer: str = "") -> dict[str, int]:
    """Points per rubric key, read from the grader's own words (see the module doc); raises
    UnparseableReply when a criterion cannot be read.

    The sentence criterion may be missing: its point is recomputed from the answer anyway.
    """
    rows = _json_rows(reply)
    if rows is None:
        own = without_quotes(reply, answer)
        rows = _table_rows(own) or _point_earned_rows(own, rubric)
    points: dict[str, int] = {}
    for label, cell in rows:
        item = match_criterion(label, rubric)
        value = parse_point(cell) if item else None
        if item is None or value is None:
            continue
        if points.get(item.key, value) != value:
            raise UnparseableReply(f"conflicting points for '{item.text}'")
        points[item.key] = value
    missing = [i.text for i in rubric if i.key not in points and i.kind is not Criterion.SENTENCES]
    if missing:
        raise UnparseableReply(f"no points found for: {'; '.join(missing)}")
    return points
