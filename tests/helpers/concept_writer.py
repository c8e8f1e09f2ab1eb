"""A deterministic ConceptMix item writer: what a text model answers to skillmix's writing
prompts (protocol/prompts/conceptmix_*.txt), so tests know every written item in advance.

- binding: the plan with each relation joining objects 1 and 2 (1 and 1 when there is one
  object), in a fenced JSON block after a sentence; asked for the JSON alone, the JSON alone.
- caption: "WRONG ..." when a statement holds :data:`TURN_DOWN` (a heart shape); otherwise
  the statements joined into one sentence.
- verify: the caption it was shown, unchanged.
- questions: "Is it true that <statement>?" per statement, numbered "1. ", "2. ", ...

The wire servers answer an OpenAI chat request for the model :data:`MODEL` with
:func:`reply`. Standard library only, like wire_servers.py.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

MODEL: Final = "concept-writer"
TURN_DOWN: Final = "heart"  # a draw whose statements hold it is turned down at the caption
STEPS: Final = (  # a phrase of each prompt template, and its step
    ('Some fields still hold "?"', "binding"),
    ("completed JSON alone", "binding_json"),
    ("Write the kind of caption", "caption"),
    ("Read your caption once more", "verify"),
    ("one yes-or-no question per property", "questions"),
)
PLAN = re.compile(r"\{.*\}", re.DOTALL)


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def step_of(text: str) -> str | None:
    return next((step for phrase, step in STEPS if phrase in text), None)


def filled_plan(text: str) -> str:
    """The plan in a binding prompt, each relation's "?" ends set."""
    found = PLAN.search(text)
    if found is None:
        raise ValueError("no plan in the binding prompt")
    plan = json.loads(found.group(0))
    second = 2 if len(plan["objects"]) > 1 else 1
    for relation in plan.get("relation", []):
        relation["ObjectA_id"], relation["ObjectB_id"] = 1, second
    return json.dumps(plan)


def statements(text: str) -> list[str]:
    """The "* statement" lines of a caption prompt."""
    return [line[2:].strip() for line in text.splitlines() if line.startswith("* ")]


def caption_for(listed: list[str]) -> str:
    if any(TURN_DOWN in statement for statement in listed):
        return f"WRONG: a {TURN_DOWN} shape does not fit this picture."
    return "A picture where " + "; ".join(listed) + "."


def reply(messages: list[dict[str, Any]]) -> str:
    users = [_text(m) for m in messages if m.get("role") == "user"]
    last = users[-1]
    step = step_of(last)
    if step == "binding":
        return f"Here is the completed plan.\n```json\n{filled_plan(last)}\n```"
    if step == "binding_json":
        return filled_plan(users[0])
    listed = statements(users[0])
    if step == "caption":
        return caption_for(listed)
    if step == "verify":
        assistants = [_text(m) for m in messages if m.get("role") == "assistant"]
        return assistants[-1]
    if step == "questions":
        return "\n".join(f"{n}. Is it true that {s}?" for n, s in enumerate(listed, 1))
    return "I cannot tell which step this is."
