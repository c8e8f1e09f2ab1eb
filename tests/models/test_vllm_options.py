"""The vLLM engine options that scale a model over GPUs and nodes reach `vllm.LLM` as keyword
arguments and the OpenAI server as flags, exactly when given (no vLLM needed here)."""

from __future__ import annotations

import pytest

from skillmix.errors import SkillmixError
from skillmix.models import BackendSettings, create_backend
from skillmix.models.base import parse_options
from skillmix.models.vllm_engine import VLLMOptions
from skillmix.models.vllm_server import ServerOptions, group_environment, server_arguments

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


# -- one server per device group (vllm-server's gpu_groups) ------------------------------------


def test_each_group_s_server_is_tensor_parallel_over_its_gpus_unless_told() -> None:
    options = parse_options(ServerOptions, {"gpu_groups": [[0, 1], [2, 3]]})
    assert options.group_kwargs([0, 1], cpu=False)["tensor_parallel_size"] == 2
    assert "tensor_parallel_size" not in options.group_kwargs([0, 1], cpu=True)  # cores
    assert "tensor_parallel_size" not in options.group_kwargs(None, cpu=False)  # no groups
    told = parse_options(ServerOptions, {"gpu_groups": [[0, 1]], "pipeline_parallel_size": 2})
    kwargs = told.group_kwargs([0, 1], cpu=False)
    assert kwargs["pipeline_parallel_size"] == 2 and "tensor_parallel_size" not in kwargs


def test_a_group_s_server_sees_only_its_devices() -> None:
    assert group_environment([2, 3], cpu=False) == {"CUDA_VISIBLE_DEVICES": "2,3"}
    assert group_environment([0, 1], cpu=True) == {"VLLM_CPU_OMP_THREADS_BIND": "0,1"}
    assert group_environment(None, cpu=False) == {}


@pytest.mark.parametrize(
    ("groups", "extra", "message"),
    [
        ([], {}, "one or more groups"),
        ([[0], []], {}, "one or more devices"),
        ([[0, 1], [1, 2]], {}, "a device is in two groups"),
        ([[0, 0]], {}, "a device is in two groups"),
        ([[0, 1], [2, 3]], {"tensor_parallel_size": 4}, "4 devices per server"),
        ([[0, 1, 2, 3]], {"tensor_parallel_size": 2, "pipeline_parallel_size": 1}, "2 devices"),
        ([[-1]], {}, "gpu_groups"),
    ],
)
def test_groups_that_do_not_fit_are_refused_naming_gpu_groups(
    groups: list[list[int]], extra: dict[str, object], message: str
) -> None:
    with pytest.raises(SkillmixError, match="gpu_groups") as caught:
        parse_options(ServerOptions, {"gpu_groups": groups, **extra})
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_groups_with_a_base_url_are_refused() -> None:
    settings = BackendSettings(options={"gpu_groups": [[0], [1]]}, base_url="http://127.0.0.1:1/v1")
    with pytest.raises(SkillmixError, match="gpu_groups starts servers; base_url attaches"):
        create_backend("vllm-server/some-model", settings)
