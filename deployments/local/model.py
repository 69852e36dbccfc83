"""LocalModel: one local model served by vLLM, speaking Switchyard's canonical types.

A plain class: the app builder wraps it with `serve.deployment(**local_deployment_options(...))`
and a runtime_env from `local_runtime_env(...)`, so it is also usable (and tested) without Ray.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, cast

from deployments import openai_format
from deployments.canonical import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
    FinishReason,
    Message,
    Usage,
)
from deployments.errors import CallerError, ContextLengthExceeded, ProviderServerError
from deployments.local.engine import (
    EngineOptions,
    ModelKind,
    engine_errors,
    sampling_params,
    start_engine,
)
from deployments.local.weights import resolve_weights

if TYPE_CHECKING:
    from vllm.outputs import RequestOutput
    from vllm.v1.engine.async_llm import AsyncLLM

# vLLM's finish reasons that are a normal end; "abort" and "error" are failures, never in-band.
_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "repetition": "stop",
}


class LocalModel:
    """A local model on vLLM's async engine, started in the constructor.

    `model_id` is the directory's id ("<provider>/<name>"); its provider part names the provider
    in errors. `weights` is a local path, a hub id, or a built-in (`builtin:tiny-llama`,
    `builtin:all-minilm-l6-v2`, see `weights.py`). `kind` picks vLLM's runner: generation for
    chat, pooling for embedding. `engine` holds vLLM's settings (`EngineOptions` or a dict).
    """

    def __init__(
        self,
        model_id: str,
        weights: str,
        kind: ModelKind = "chat",
        engine: EngineOptions | Mapping[str, Any] | None = None,
    ) -> None:
        self.model_id = model_id
        self.provider = model_id.split("/", 1)[0]
        self.kind: ModelKind = kind
        self.options = EngineOptions.of(engine)
        self._engine: AsyncLLM | None = None  # set last: __del__ may run after a failed start
        with engine_errors(self.provider, model_id):
            self._engine = start_engine(
                resolve_weights(weights), kind, self.options, served_name=model_id
            )

    # --- chat --------------------------------------------------------------------------------

    async def complete(self, req: ChatRequest) -> ChatResult:
        engine, prompt, params = await self._prepare_chat(req, stream=False)
        request_id = _request_id()
        final: RequestOutput | None = None
        with engine_errors(self.provider, self.model_id):
            async with aclosing(engine.generate(prompt, params, request_id)) as outputs:
                async for output in outputs:
                    final = output
        if final is None:
            raise ProviderServerError(
                "vLLM ended the request without an answer",
                provider=self.provider,
                model=self.model_id,
            )
        completion = final.outputs[0]
        return ChatResult(
            text=completion.text,
            finish_reason=self._finish_reason(completion.finish_reason),
            usage=_usage(final, output_tokens=len(completion.token_ids)),
            provider_model=self.model_id,
            provider_request_id=request_id,
        )

    async def stream(self, req: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Text deltas as the engine makes them; the last chunk has finish_reason and usage."""
        engine, prompt, params = await self._prepare_chat(req, stream=True)
        output_tokens = 0
        # aclosing: a caller that stops reading (or is cancelled) aborts the request in vLLM
        # at once, instead of whenever the abandoned generator is collected.
        with engine_errors(self.provider, self.model_id):
            async with aclosing(engine.generate(prompt, params, _request_id())) as outputs:
                async for output in outputs:
                    delta = output.outputs[0]
                    output_tokens += len(delta.token_ids)
                    if delta.text:
                        yield ChatChunk(text=delta.text, provider_model=self.model_id)
                    if output.finished:
                        yield ChatChunk(
                            finish_reason=self._finish_reason(delta.finish_reason),
                            usage=_usage(output, output_tokens=output_tokens),
                            provider_model=self.model_id,
                        )

    async def _prepare_chat(self, req: ChatRequest, *, stream: bool) -> tuple[AsyncLLM, Any, Any]:
        engine = self._require("chat")
        if req.uses_images():
            raise self._caller_error("this local model does not take images")
        if req.tools and req.tool_choice != "none":
            raise self._caller_error("tool calling is not enabled for this local model")
        from vllm.renderers.params import ChatParams

        messages: list[Any] = [_message(m) for m in req.messages]
        chat_params = ChatParams(chat_template_kwargs={"add_generation_prompt": True})
        with engine_errors(self.provider, self.model_id):
            _, (prompt,) = await engine.renderer.render_chat_async([messages], chat_params)
        prompt_tokens = len(prompt["prompt_token_ids"])
        window = engine.model_config.max_model_len
        if prompt_tokens >= window:  # no room for even one output token
            raise ContextLengthExceeded(
                f"the prompt has {prompt_tokens} tokens; {self.model_id}'s context window is "
                f"{window} tokens, output included",
                provider=self.provider,
                model=self.model_id,
                status=400,
            )
        params = sampling_params(engine, req, prompt_tokens=prompt_tokens, stream=stream)
        return engine, prompt, params

    def _finish_reason(self, reason: str | None) -> FinishReason:
        if reason in _FINISH_REASONS:
            return _FINISH_REASONS[reason]
        raise ProviderServerError(
            f"vLLM ended the request with finish reason {reason!r}",
            provider=self.provider,
            model=self.model_id,
        )

    # --- embeddings --------------------------------------------------------------------------

    async def embed(self, req: EmbeddingRequest) -> EmbeddingResult:
        import asyncio

        from vllm.pooling_params import PoolingParams
        from vllm.renderers.params import TokenizeParams

        engine = self._require("embedding")
        tok_params = TokenizeParams(
            max_total_tokens=engine.model_config.max_model_len,
            max_output_tokens=0,
            add_special_tokens=True,
        )
        with engine_errors(self.provider, self.model_id):
            prompts = await engine.renderer.render_cmpl_async(
                [{"prompt": text} for text in req.inputs], tok_params
            )
            params = PoolingParams(task="embed", dimensions=req.dimensions)
            outputs = await asyncio.gather(
                *(self._embed_one(engine, prompt, params) for prompt in prompts)
            )
        vectors = [vector for vector, _ in outputs]
        tokens = sum(count for _, count in outputs)
        return EmbeddingResult(
            vectors=vectors, usage=Usage(input_tokens=tokens), provider_model=self.model_id
        )

    async def _embed_one(
        self, engine: AsyncLLM, prompt: Any, params: Any
    ) -> tuple[list[float], int]:
        final = None
        async with aclosing(engine.encode(prompt, params, _request_id())) as outputs:
            async for output in outputs:
                final = output
        if final is None:
            raise ProviderServerError(
                "vLLM ended an embedding without a vector", provider=self.provider
            )
        vector = cast("list[float]", final.outputs.data.tolist())
        return vector, len(final.prompt_token_ids)

    # --- life cycle --------------------------------------------------------------------------

    async def check_health(self) -> None:
        """Raises ProviderUnavailable when the engine is dead (Serve then replaces the replica)."""
        engine = self._require(self.kind)
        with engine_errors(self.provider, self.model_id):
            await engine.check_health()

    def shutdown(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.shutdown()

    def __del__(self) -> None:
        self.shutdown()

    def _require(self, kind: ModelKind) -> AsyncLLM:
        if self.kind != kind:
            raise self._caller_error(f"{self.model_id} is a {self.kind} model, not {kind}")
        if self._engine is None:
            raise ProviderServerError(
                f"{self.model_id}'s engine is shut down", provider=self.provider
            )
        return self._engine

    def _caller_error(self, message: str) -> CallerError:
        return CallerError(message, provider=self.provider, model=self.model_id, status=400)


def _message(message: Message) -> dict[str, Any]:
    """A canonical message as the OpenAI-style dict vLLM's chat renderer takes: text only (images
    are refused before), and "system" for "developer", which most chat templates do not know."""
    return {
        **openai_format.message_to_openai(message, developer_role="system"),
        "content": message.text(),
    }


def _usage(output: RequestOutput, *, output_tokens: int) -> Usage:
    """The engine's own counts: its prompt tokens (after templating) and tokens generated."""
    return Usage(
        input_tokens=len(output.prompt_token_ids or ()),
        output_tokens=output_tokens,
        cached_input_tokens=output.num_cached_tokens or 0,
    )


def _request_id() -> str:
    return f"local-{uuid.uuid4().hex}"
