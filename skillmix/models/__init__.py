"""Backends by model-string prefix: `llamacpp/smollm2`, later `openai/...`, `vllm/...`.

A new backend is one new module here plus one line in BACKENDS.
"""

from __future__ import annotations

import importlib

from skillmix.errors import SkillmixError
from skillmix.models.base import (
    BackendOptions,
    BackendSettings,
    GeneratedImage,
    GenerationParams,
    ModelBackend,
    ModelOutput,
    ModelRequest,
    RetryAdvice,
)
from skillmix.records import ChatMessage, Usage

# the backends that reach their model over HTTP (base_url): the ones that can have replicas
SERVED = ("openai", "anthropic", "openai-images", "vllm-server")
BACKENDS = {
    "llamacpp": "skillmix.models.llamacpp:LlamaCppBackend",
    "openai": "skillmix.models.openai_api:OpenAIBackend",
    "anthropic": "skillmix.models.anthropic_api:AnthropicBackend",
    "imported": "skillmix.models.imported:ImportedBackend",
    "hf": "skillmix.models.hf:HFBackend",
    "vllm": "skillmix.models.vllm_engine:VLLMBackend",
    "vllm-server": "skillmix.models.vllm_server:VLLMServerBackend",
    "scripted": "skillmix.models.scripted:ScriptedBackend",
    "openai-images": "skillmix.models.openai_images:OpenAIImagesBackend",
    "diffusers": "skillmix.models.diffusion:DiffusionBackend",
}

__all__ = [
    "BACKENDS",
    "BackendOptions",
    "BackendSettings",
    "ChatMessage",
    "GeneratedImage",
    "GenerationParams",
    "ModelBackend",
    "ModelOutput",
    "ModelRequest",
    "RetryAdvice",
    "Usage",
    "create_backend",
    "split_model_string",
]


def split_model_string(model: str) -> tuple[str, str]:
    """'llamacpp/smollm2' -> ('llamacpp', 'smollm2'); unknown prefixes are bad input."""
    prefix, _, name = model.partition("/")
    if prefix not in BACKENDS or not name:
        known = ", ".join(f"{p}/..." for p in BACKENDS)
        raise ValueError(f"unknown model string {model!r} (known: {known})")
    return prefix, name


def backend_class(prefix: str) -> type[ModelBackend]:
    module_name, _, class_name = BACKENDS[prefix].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SkillmixError(
            f"backend '{prefix}' needs a package that is not installed: {exc.name}"
        ) from None
    cls: type[ModelBackend] = getattr(module, class_name)
    return cls


def create_backend(model: str, settings: BackendSettings) -> ModelBackend:
    prefix, name = split_model_string(model)
    if settings.replicas:
        from skillmix.models.replicas import ReplicaBackend

        if prefix not in SERVED:
            served = ", ".join(f"{p}/..." for p in SERVED)
            raise SkillmixError(
                f"lists replicas of a served model ({served}); {prefix}/ runs in process",
                field="base_url",
            )
        return ReplicaBackend(backend_class(prefix), name, settings)
    return backend_class(prefix).create(name, settings)
