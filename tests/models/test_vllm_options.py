"""The vLLM engine options that scale a model over GPUs and nodes reach `vllm.LLM` as keyword
arguments and the OpenAI server as flags, exactly when given (no vLLM needed here)."""

from __future__ import annotations

import pytest

from skillmix.errors import SkillmixError
from skillmix.models.base import parse_options
from skillmix.models.vllm_engine import VLLMOptions
from skillmix.models.vllm_server import ServerOptions, server_arguments

SCALED = {
    "tensor_parallel_size": 4,
    "pipeline_parallel_size": 2,
    "data_parallel_size": 2,
    "distributed_executor_backend": "ray",
}


def test_parallelism_goes_to_the_engine_as_given() -> None:
    options = parse_options(VLLMOptions, SCALED)
    assert options.engine_kwargs(cpu=False) == SCALED
    assert parse_options(VLLMOptions, {}).engine_kwargs(cpu=False) == {}


def test_parallelism_goes_to_the_server_as_flags() -> None:
    kwargs = parse_options(ServerOptions, SCALED).engine_kwargs(cpu=False)
    assert server_arguments(kwargs) == [
        "--tensor-parallel-size", "4", "--pipeline-parallel-size", "2",
        "--data-parallel-size", "2", "--distributed-executor-backend", "ray",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"distributed_executor_backend": "slurm"}, "distributed_executor_backend"),
        ({"pipeline_parallel_size": 0}, "pipeline_parallel_size"),
    ],
)
def test_bad_parallelism_names_its_option(options: dict[str, object], field: str) -> None:
    with pytest.raises(SkillmixError, match=field):
        parse_options(VLLMOptions, options)
