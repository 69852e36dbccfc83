"""Reaching a model through the graph: a Ray Serve handle per cloud provider and per local model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from deployments.canonical import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
)
from deployments.errors import ProviderUnavailable, SwitchyardError
from directory.schema import ModelProfile
from serve_app.routing.plan import Candidate


class HandleBackends:
    """Local models have a deployment each; cloud models share their provider's proxy."""

    def __init__(self, cloud: Mapping[str, Any], local: Mapping[str, Any]) -> None:
        # provider id -> DeploymentHandle of its CloudProxy; model id -> that of its LocalModel
        self._cloud = {key: this_process_transport(h) for key, h in cloud.items()}
        self._local = {key: this_process_transport(h) for key, h in local.items()}
        self._streaming = {key: h.options(stream=True) for key, h in self._cloud.items()}
        self._local_streaming = {key: h.options(stream=True) for key, h in self._local.items()}

    def serves(self, model: ModelProfile) -> bool:
        if model.privacy == "local":
            return model.id in self._local
        return model.provider in self._cloud

    def _handle(self, candidate: Candidate, *, stream: bool = False) -> Any:
        model = candidate.model
        local = self._local_streaming if stream else self._local
        cloud = self._streaming if stream else self._cloud
        handle = local.get(model.id) or cloud.get(model.provider)
        if handle is None:
            # A provider without a key, or a local model not deployed here: an outage, so the
            # chain moves on to the backup.
            raise ProviderUnavailable(
                f"{model.id} is not deployed in this app", provider=model.provider, model=model.id
            )
        return handle

    def stream(self, candidate: Candidate, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return _stream(self, candidate, request)

    async def complete(self, candidate: Candidate, request: ChatRequest) -> ChatResult:
        with unwrapped_ray_errors():
            result: ChatResult = await self._handle(candidate).complete.remote(request)
        return result

    async def embed(self, candidate: Candidate, request: EmbeddingRequest) -> EmbeddingResult:
        with unwrapped_ray_errors():
            result: EmbeddingResult = await self._handle(candidate).embed.remote(request)
        return result

    async def count_tokens(self, candidate: Candidate, request: ChatRequest) -> int | None:
        """The provider's own count of the prompt, where its proxy can ask for one; None for local
        models and providers that cannot count."""
        if candidate.model.privacy == "local":
            return None
        with unwrapped_ray_errors():
            count: int | None = await self._handle(candidate).count_tokens.remote(request)
        return count


def this_process_transport(handle: Any) -> Any:
    """The handle, set to the transport this replica is configured for.

    Handles arrive pickled from the process that built the app, with the transport that process
    defaulted to: Ray actor calls, unless it had `RAY_SERVE_USE_GRPC_BY_DEFAULT=1` when it
    imported Serve. The setting meant to count is the replica's own (its runtime_env, see
    `serve_app.app.builder.FAST_PATH_ENV`): gRPC straight to the replica, measured faster
    (BENCHMARKS.md).
    """
    from ray.serve._private.constants import RAY_SERVE_USE_GRPC_BY_DEFAULT

    return handle.options(_by_reference=not RAY_SERVE_USE_GRPC_BY_DEFAULT)


@contextmanager
def unwrapped_ray_errors() -> Iterator[None]:
    """Re-raise a downstream replica's own Switchyard error as itself.

    Ray wraps an exception raised in a replica in a `RayTaskError` that (most times) also
    subclasses the original class; the router would work with it, but the caller would read
    "RayTaskError(ProviderServerError)". The original is the wrapper's `cause`. Used on both
    sides of the Ingress: its calls to the models, and the entry points' calls to it.
    """
    try:
        yield
    except Exception as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, SwitchyardError) and cause is not error:
            raise cause from None
        raise


async def _stream(
    backends: HandleBackends, candidate: Candidate, request: ChatRequest
) -> AsyncIterator[ChatChunk]:
    # The handle is looked up inside the generator so a missing deployment fails the attempt.
    with unwrapped_ray_errors():
        async for chunk in backends._handle(candidate, stream=True).stream.remote(request):
            yield chunk
