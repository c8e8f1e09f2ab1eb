"""What the OpenAI and Anthropic backends share: both official SDKs have the same shape of
client, errors and keys, so key lookup, failure classification and closing live here."""

from __future__ import annotations

import json
import os
from types import ModuleType
from typing import Any

from skillmix.errors import SkillmixError
from skillmix.models.base import BackendSettings, ModelBackend, RetryAdvice
from skillmix.models.retry import advise_status


class SdkBackend(ModelBackend):
    sdk: ModuleType  # the `openai` or `anthropic` module
    key_variable: str  # the usual environment variable of the provider
    client: Any

    def __init__(self, name: str, settings: BackendSettings):
        super().__init__(name, settings)
        self.failure_types = (self.sdk.APIError, json.JSONDecodeError)

    def api_key(self, *, optional: bool = False) -> str | None:
        """The key from the environment: `api_key_env` if given, else the provider's variable."""
        variable = self.settings.api_key_env or self.key_variable
        key = os.environ.get(variable)
        if not key and not optional:
            raise SkillmixError(f"{self.prefix}/{self.name} needs an API key in ${variable}")
        return key or None

    @property
    def resolved_model(self) -> str:
        return self.name  # the served snapshot is known only from the reply (stored with it)

    def advise(self, error: Exception) -> RetryAdvice:
        if isinstance(error, self.sdk.APIStatusError):
            return advise_status(error.status_code, error.response.headers)
        transient = (
            self.sdk.APIConnectionError,
            self.sdk.APIResponseValidationError,
            json.JSONDecodeError,
        )  # timeouts, resets, truncated bodies
        return RetryAdvice(retry=isinstance(error, transient))

    async def aclose(self) -> None:
        await self.client.close()
