"""What a run will cost before it starts: calls, tokens and dollars (for --dry-run)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from skillmix.config import ModelEntry
from skillmix.models import ChatMessage, ModelRequest, Usage
from skillmix.models.prices import BATCH_PRICE_SHARE, PriceTable
from skillmix.protocol.rubric import sentence_limit
from skillmix.protocol.student import turn1_messages, turn2_messages
from skillmix.records import message_text
from skillmix.run.plan import RunPlan

CHARS_PER_TOKEN = 4  # a rough rule for English text
DEFAULT_OUTPUT_TOKENS = 512  # assumed when max_tokens is not set
TOKENS_PER_SENTENCE = 30  # a graded answer's length, per allowed sentence
IMAGE_TOKENS = 1600  # an input image, at most (about w*h/750 for 1024 px a side)


@dataclass(frozen=True)
class Estimate:
    label: str
    role: str  # "student", "grader" or (ConceptMix) "images"
    calls: int
    input_tokens: int
    output_tokens: int  # an upper bound: every reply at max_tokens
    cost_usd: float | None  # what the run pays: at batch prices in batch mode
    realtime_usd: float | None = None  # the same calls at realtime prices (batch mode only)


def priced(entry: ModelEntry, role: str, calls: int, usage: Usage, prices: PriceTable) -> Estimate:
    """A row at the entry's prices: batch prices in batch mode, with the realtime ones beside."""
    tokens = (usage.input_tokens, usage.output_tokens)
    cost = prices.cost(entry.model, usage)
    if entry.batch is None or cost is None:
        return Estimate(entry.label, role, calls, *tokens, cost)
    batch = cost * BATCH_PRICE_SHARE
    return Estimate(entry.label, f"{role} (batch)", calls, *tokens, batch, cost)


def total_cost(rows: list[Estimate]) -> float | None:
    """The rows' dollars added up; None when any row's price is unknown."""
    costs = [row.cost_usd for row in rows]
    return None if None in costs else sum(c for c in costs if c is not None)


def _tokens(messages: list[ChatMessage]) -> int:
    text = sum(len(message_text(m)) for m in messages) // CHARS_PER_TOKEN
    images = sum(
        part["type"] == "image"
        for m in messages
        if not isinstance(m["content"], str)
        for part in m["content"]
    )
    return text + images * IMAGE_TOKENS


def usage_bound(request: ModelRequest, output_bound: int | None = None) -> Usage:
    """A request's tokens as the estimate counts them: its prompt, and a reply at max_tokens
    (or at the backend's own bound, for image models)."""
    output = output_bound or request.params.max_tokens or DEFAULT_OUTPUT_TOKENS
    return Usage(_tokens(request.messages), output)


def _max_output(entry: ModelEntry) -> int:
    return entry.params.max_tokens or DEFAULT_OUTPUT_TOKENS


def estimate_run(plan: RunPlan) -> list[Estimate]:
    config, prices = plan.config, PriceTable.with_overrides(plan.config.prices)
    repeats = config.generations
    rows = []
    grader_in = 0
    for entry in config.students:
        reply = "x" * (_max_output(entry) * CHARS_PER_TOKEN)
        tokens_in = 0
        for item in plan.items:
            first = turn1_messages(item, plan.catalog, plan.prompts, entry.system_prompt)
            second = turn2_messages(first, reply, item, plan.catalog, plan.prompts)
            tokens_in += (_tokens(first) + _tokens(second)) * repeats
        calls = 2 * len(plan.items) * repeats
        usage = Usage(tokens_in, calls * _max_output(entry))
        rows.append(priced(entry, "student", calls, usage, prices))
    for item in plan.items:
        answer = "x" * (TOKENS_PER_SENTENCE * sentence_limit(item.k) * CHARS_PER_TOKEN)
        rubric = plan.rubric(item)
        messages = plan.grader_messages(item, answer, rubric, structured=False)
        grader_in += _tokens(messages)
    grader_calls = len(config.students) * len(plan.items) * repeats * config.gradings
    grader_in *= len(config.students) * repeats * config.gradings
    usage = Usage(grader_in, grader_calls * _max_output(config.grader))
    rows.append(priced(config.grader, "grader", grader_calls, usage, prices))
    return rows


def realtime_cost(rows: list[Estimate]) -> float | None:
    """The rows' dollars at realtime prices (what batch mode saves is the difference)."""
    return total_cost([replace(r, cost_usd=r.realtime_usd or r.cost_usd) for r in rows])
