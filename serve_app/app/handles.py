"""Reaching a model through the graph: a Ray Serve handle per cloud provider and per local model.

A deployment that has lost every replica is known here (`serve_app.app.replicas`): the plan asks
`no_replica` and drops its models, and a call already waiting on it ends when it is found lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from deployments.canonical import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
)
from deployments.errors import ProviderUnavailable, SwitchyardError
from directory.schema import ModelProfile
from serve_app.app.replicas import ReplicaWatch
from serve_app.routing.plan import Candidate

T = TypeVar("T")


class HandleBackends:
    """Local models have a deployment each; cloud models share their provider's proxy."""

    def __init__(
        self,
        cloud: Mapping[str, Any],
        local: Mapping[str, Any],
        watch: ReplicaWatch | None = None,
    ) -> None:
        # provider id -> DeploymentHandle of its CloudProxy; model id -> that of its LocalModel
        self._cloud = {key: this_process_transport(h) for key, h in cloud.items()}
        self._local = {key: this_process_transport(h) for key, h in local.items()}
        self._streaming = {key: h.options(stream=True) for key, h in self._cloud.items()}
        self._local_streaming = {key: h.options(stream=True) for key, h in self._local.items()}
        # provider id / local model id -> the name of the deployment that serves it
        self._cloud_deployment = {key: str(h.deployment_name) for key, h in cloud.items()}
        self._local_deployment = {key: str(h.deployment_name) for key, h in local.items()}
        apps = {str(h.app_name) for h in [*cloud.values(), *local.values()]}
        if watch is None and len(apps) == 1:
            watch = ReplicaWatch(apps.pop())
        self._watch = watch
        self._watching = False
        self._start_watching()

    def _start_watching(self) -> None:
        if self._watch is not None and not self._watching:
            self._watching = self._watch.start()

    def serves(self, model: ModelProfile) -> bool:
        if model.privacy == "local":
            return model.id in self._local
        return model.provider in self._cloud

    def _deployment(self, model: ModelProfile) -> str | None:
        if model.privacy == "local":
            return self._local_deployment.get(model.id)
        return self._cloud_deployment.get(model.provider)

    def no_replica(self, model: ModelProfile) -> str | None:
        """Why `model`'s deployment cannot take a call now (it has lost every replica), or None.
        A dictionary read; the first one starts the watch if the constructor ran off the loop."""
        if not self._watching:
            self._start_watching()
        deployment = self._deployment(model)
        if self._watch is None or deployment is None:
            return None
        return self._watch.lost(deployment)

    async def _unless_lost(self, candidate: Candidate, call: Callable[[], Awaitable[T]]) -> T:
        """`await call()`, ended with `NoRunningReplica` once Serve reports the deployment lost:
        Serve would hold a call to a deployment with no replica, raising nothing."""
        deployment = self._deployment(candidate.model)
        if self._watch is None or deployment is None:
            return await call()
        return await self._watch.unless_lost(deployment, candidate.model, call)

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
            handle = self._handle(candidate)
            result: ChatResult = await self._unless_lost(
                candidate, lambda: handle.complete.remote(request)
            )
        return result

    async def embed(self, candidate: Candidate, request: EmbeddingRequest) -> EmbeddingResult:
        with unwrapped_ray_errors():
            handle = self._handle(candidate)
            result: EmbeddingResult = await self._unless_lost(
                candidate, lambda: handle.embed.remote(request)
            )
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
        handle = backends._handle(candidate, stream=True)
        chunks: AsyncIterator[ChatChunk] | None = None

        async def first_chunk() -> ChatChunk:
            # Serve picks the stream's replica when its first chunk is asked for: only that
            # wait can hang on a deployment with no replica.
            nonlocal chunks
            chunks = handle.stream.remote(request)
            return await anext(chunks)

        try:
            first = await backends._unless_lost(candidate, first_chunk)
        except StopAsyncIteration:
            return
        yield first
        assert chunks is not None
        async for chunk in chunks:
            yield chunk
