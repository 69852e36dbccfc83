"""The seam between Switchyard and vLLM: engine options, engine start-up, sampling, errors.

vLLM is imported inside the functions here, never at module import, so that the rest of Switchyard
(and `deployments.local` itself) imports without the `local-cpu`/`gpu` extra installed.

Why vLLM's `AsyncLLM` in the replica rather than Ray Serve LLM's `build_openai_app`: on a CPU the
latter forces vLLM's multiprocess executor and batches stream output every 50 ms, and measured
0.47x bare vLLM's throughput (../shared/environment.md). `AsyncLLM` is what vLLM's own OpenAI
server runs: the frontend (templating, tokenising, detokenising) in this process, the engine core
in one child process it spawns. The replica is then the API server, minus HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from deployments.canonical import ChatRequest
from deployments.errors import (
    CallerError,
    ContextLengthExceeded,
    ProviderServerError,
    ProviderUnavailable,
    SwitchyardError,
)

if TYPE_CHECKING:
    from vllm import SamplingParams
    from vllm.v1.engine.async_llm import AsyncLLM

ModelKind = Literal["chat", "embedding"]

# VLLMValidationError.parameter values that mean "the prompt does not fit the window".
_PROMPT_LENGTH_PARAMETERS = frozenset({"input_text", "input_tokens"})


class EngineOptions(BaseModel):
    """vLLM engine settings for one local model. `extra` passes other AsyncEngineArgs through."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dtype: str = "auto"  # on a CPU "auto" becomes float32: bfloat16 kernels die with SIGILL here
    max_model_len: int | None = Field(default=None, gt=0)
    tensor_parallel_size: int = Field(default=1, ge=1)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    # KV cache size; on a CPU the VLLM_CPU_KVCACHE_SPACE environment variable overrides it.
    kv_cache_gib: float | None = Field(default=None, gt=0)
    max_num_seqs: int | None = Field(default=None, ge=1)
    # Skips torch.compile: engine start-up on a CPU drops from ~30-50 s to ~1 s for the tiny model.
    enforce_eager: bool = False
    enable_prefix_caching: bool | None = None
    seed: int = 0
    extra: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, value: EngineOptions | Mapping[str, Any] | None) -> EngineOptions:
        if value is None:
            return cls()
        if isinstance(value, EngineOptions):
            return value
        return cls.model_validate(dict(value))


def start_engine(
    weights: str, kind: ModelKind, options: EngineOptions, *, served_name: str
) -> AsyncLLM:
    """Build vLLM's async engine in this process (its engine core in a child process)."""
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.platforms import current_platform
    from vllm.v1.engine.async_llm import AsyncLLM

    on_cpu = current_platform.is_cpu()
    dtype = "float32" if on_cpu and options.dtype == "auto" else options.dtype
    args: dict[str, Any] = {
        "model": weights,
        "served_model_name": served_name,
        "dtype": dtype,
        "max_model_len": options.max_model_len,
        "tensor_parallel_size": options.tensor_parallel_size,
        "gpu_memory_utilization": options.gpu_memory_utilization,
        "max_num_seqs": options.max_num_seqs,
        "enforce_eager": options.enforce_eager,
        "enable_prefix_caching": options.enable_prefix_caching,
        "seed": options.seed,
        "disable_log_stats": True,
    }
    if options.kv_cache_gib is not None:
        args["kv_cache_memory_bytes"] = int(options.kv_cache_gib * 2**30)
    if kind == "embedding":
        args["runner"] = "pooling"
    placement_group = _current_placement_group() if options.tensor_parallel_size > 1 else None
    if placement_group is not None:
        # Tensor-parallel shards run as Ray actors in the bundles the Serve builder reserved
        # for this replica (options.local_deployment_options), not wherever Ray puts them.
        args["distributed_executor_backend"] = "ray"
    args.update(options.extra)
    engine_args = AsyncEngineArgs(**{k: v for k, v in args.items() if v is not None})
    if placement_group is None:
        return AsyncLLM.from_engine_args(engine_args)
    config = _engine_config_on_a_gpu(engine_args, placement_group)
    config.parallel_config.placement_group = placement_group
    return AsyncLLM.from_vllm_config(config, disable_log_stats=True)


def _current_placement_group() -> Any:
    """The placement group this replica runs in, if it runs in Ray at all."""
    import ray

    if not ray.is_initialized():  # not a Ray worker: no placement group to join
        return None
    from ray.util import get_current_placement_group

    return get_current_placement_group()


def _engine_config_on_a_gpu(engine_args: Any, placement_group: Any) -> Any:
    """vLLM's config, built by a task that sees a GPU (as Ray Serve LLM does).

    A tensor-parallel replica holds no GPU itself (its shards do), and vLLM inspects the device
    while it builds its config; so a tiny task in the replica's own placement group builds it.
    """
    import ray
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    def build(args: Any) -> Any:
        return args.create_engine_config()

    task = ray.remote(build).options(
        num_cpus=0,
        num_gpus=0.001,  # a sliver: the shards need the rest of the bundle's GPU
        scheduling_strategy=PlacementGroupSchedulingStrategy(placement_group=placement_group),
    )
    return ray.get(task.remote(engine_args))


def sampling_params(
    engine: AsyncLLM, req: ChatRequest, *, prompt_tokens: int, stream: bool
) -> SamplingParams:
    """vLLM sampling parameters for a request, as vLLM's own OpenAI server would build them.

    Defaults come from the model's generation_config.json (as in `vllm serve`); the request's
    own settings win. `max_tokens` is clamped to the room left in the context window.
    """
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

    room = engine.model_config.max_model_len - prompt_tokens
    settings: dict[str, Any] = dict(engine.model_config.get_diff_sampling_param())
    wanted = req.max_tokens or settings.get("max_tokens") or room
    settings["max_tokens"] = min(wanted, room)
    for name in ("temperature", "top_p", "seed"):
        value = getattr(req, name)
        if value is not None:
            settings[name] = value
    if req.stop:
        settings["stop"] = list(req.stop)
    if req.response_format is not None and req.response_format.type != "text":
        schema = req.response_format.json_schema
        settings["structured_outputs"] = (
            StructuredOutputsParams(json=schema.schema_)
            if schema is not None
            else StructuredOutputsParams(json_object=True)
        )
    # DELTA for streams, FINAL_ONLY otherwise: what vLLM's OpenAI server asks for.
    settings["output_kind"] = RequestOutputKind.DELTA if stream else RequestOutputKind.FINAL_ONLY
    return SamplingParams(**settings)


@contextmanager
def engine_errors(provider: str, model: str) -> Iterator[None]:
    """Map vLLM's exceptions onto Switchyard's, by class (and the validation error's parameter)."""
    from vllm.exceptions import VLLMClientError, VLLMValidationError
    from vllm.v1.engine.exceptions import EngineDeadError, EngineGenerateError

    try:
        yield
    except SwitchyardError:
        raise
    except VLLMValidationError as error:
        if error.parameter in _PROMPT_LENGTH_PARAMETERS:
            raise ContextLengthExceeded(str(error), provider=provider, model=model) from error
        raise CallerError(str(error), provider=provider, model=model, status=400) from error
    except VLLMClientError as error:
        raise CallerError(str(error), provider=provider, model=model, status=400) from error
    except EngineDeadError as error:
        raise ProviderUnavailable(
            f"vLLM engine of {model} is dead: {error}", provider=provider, model=model
        ) from error
    except EngineGenerateError as error:
        cause = error.__cause__
        raise ProviderServerError(
            f"vLLM failed the request: {cause!r}", provider=provider, model=model, status=500
        ) from error
