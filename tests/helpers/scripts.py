"""Handlers for the scripted backend (skillmix/models/scripted.py): a student that answers a
fixed text, graders that read the rubric off the request and reply as JSON or as a table."""

from __future__ import annotations

import json
from collections.abc import Callable

from skillmix.models import ModelRequest
from skillmix.records import message_text

Points = dict[str, int]


def is_turn2(request: ModelRequest) -> bool:
    return any(message["role"] == "assistant" for message in request.messages)


def answering(answer: str) -> Callable[[ModelRequest], str]:
    """A student whose second turn answers `answer`."""

    def student(request: ModelRequest) -> str:
        return f"Answer: {answer}" if is_turn2(request) else "A first draft."

    return student


def criteria(request: ModelRequest) -> list[str]:
    """The rubric's criteria: the schema's properties, else the prompt's `- ` list."""
    if request.json_schema is not None:
        return list(request.json_schema["properties"])
    listed = message_text(request.messages[-1]).split("Each of the following criteria", 1)[1]
    return [line[2:] for line in listed.splitlines() if line.startswith("- ")]


def graded_answer(request: ModelRequest) -> str:
    """The answer a grader request carries (between our template's answer markers)."""
    prompt = message_text(request.messages[-1])
    tag = prompt.split("<answer-", 1)[1].split(">", 1)[0]
    block = prompt.split(f"<answer-{tag}>\n", 1)[1]
    return block.split(f"\n</answer-{tag}>", 1)[0]


def reply_of(request: ModelRequest, points: Points) -> str:
    """The grader's reply: a JSON object when asked for one, else a table."""
    if request.json_schema is not None:
        return json.dumps(points)
    rows = "\n".join(f"| {name} | {point} |" for name, point in points.items())
    return f"Here is the grading table:\n| Criteria | Points Earned |\n|---|---|\n{rows}\n"


def awarding(judge: Callable[[str, str], int]) -> Callable[[ModelRequest], str]:
    """A grader giving judge(criterion, answer) to each criterion."""

    def grader(request: ModelRequest) -> str:
        answer = graded_answer(request)
        return reply_of(request, {name: judge(name, answer) for name in criteria(request)})

    return grader
