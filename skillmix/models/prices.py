"""Prices per model (the shipped table and a run's overrides): tokens turned into dollars."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field

from skillmix.records import Usage

FREE_BACKENDS = ("llamacpp/", "hf/", "vllm/", "diffusers/")


class Price(BaseModel):
    """US dollars per million tokens, and for models billed per image (dall-e) per image by
    "<quality> <size>" (e.g. "hd 1024x1792"; "standard" where the model has one quality)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    per_image: dict[str, Annotated[float, Field(ge=0)]] = {}

    def cost(self, usage: Usage, images: int = 0, unit: str | None = None) -> float | None:
        """The tokens' price plus, billed per image, `images` at the unit's price (None when
        the unit has no price)."""
        tokens = (usage.input_tokens * self.input + usage.output_tokens * self.output) / 1e6
        if not self.per_image or not images:
            return tokens
        each = self.per_image.get(unit or "")
        return None if each is None else tokens + images * each


FREE = Price(input=0, output=0)
BATCH_PRICE_SHARE = 0.5  # OpenAI's Batch API and Anthropic's Message Batches: half price
# the tiers a reply may say served it at batch prices: Anthropic's batches ("batch"), OpenAI's
# flex processing ("flex", "priced at Batch API rates")
BATCH_PRICED_TIERS = frozenset({"batch", "flex"})


def price_share(batched: bool, service_tier: str | None) -> float:
    """The share of the realtime price a reply was billed at."""
    return BATCH_PRICE_SHARE if batched or service_tier in BATCH_PRICED_TIERS else 1.0


def shipped_prices() -> dict[str, Price]:
    text = resources.files("skillmix.models").joinpath("prices.yaml").read_text(encoding="utf-8")
    return {model: Price.model_validate(price) for model, price in yaml.safe_load(text).items()}


@dataclass(frozen=True)
class PriceTable:
    prices: dict[str, Price]

    @classmethod
    def with_overrides(cls, overrides: dict[str, Price]) -> PriceTable:
        return cls({**shipped_prices(), **overrides})

    def price(self, model: str) -> Price | None:
        """Exact model string, else the longest listed prefix (dated snapshots), else None."""
        if model in self.prices:
            return self.prices[model]
        if model.startswith(FREE_BACKENDS):
            return FREE
        prefixes = [key for key in self.prices if model.startswith(key)]
        return self.prices[max(prefixes, key=len)] if prefixes else None

    def cost(
        self, model: str, usage: Usage, images: int = 0, unit: str | None = None
    ) -> float | None:
        price = self.price(model)
        return None if price is None else price.cost(usage, images, unit)
