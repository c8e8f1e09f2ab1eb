"""`imported/<name>`: a model whose answers came from another harness's run (never called).

A run imported from the official Skill-Mix code records its students and grader under this
prefix, so the stored configuration validates; asking one of them for a reply is an error.
"""

from __future__ import annotations

from skillmix.errors import SkillmixError
from skillmix.models.base import ModelBackend, ModelOutput, ModelRequest


class ImportedBackend(ModelBackend):
    prefix = "imported"

    @property
    def resolved_model(self) -> str:
        return self.name

    async def generate(self, request: ModelRequest) -> ModelOutput:
        raise SkillmixError(
            f"imported/{self.name} is an imported run: it cannot be called; "
            "evaluate a real model instead"
        )
