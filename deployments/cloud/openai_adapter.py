"""OpenAI chat completions (and embeddings) through `openai.AsyncOpenAI`, for OpenAI itself and for
the OpenAI-compatible vendors (same SDK, another `base_url`).

The canonical request is modelled on chat completions, so the translation is nearly one to one.
OpenAI counts cached tokens inside `prompt_tokens`, which is the canonical meaning already. A
stream asks for `include_usage`, so its last chunk (with no choices) carries the usage.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import httpx2
import openai
from openai.types import CompletionUsage, CreateEmbeddingResponse
from openai.types.chat import ChatCompletionChunk

from deployments import openai_format
from deployments.canonical import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
    FinishReason,
)
from deployments.cloud.base import (
    NO_KEY,
    ErrorFactory,
    Timeouts,
    class_for_status,
    summary,
)
from deployments.errors import (
    AuthenticationFailed,
    CallerError,
    ContextLengthExceeded,
    MalformedResponse,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
    StreamInterrupted,
    SwitchyardError,
)

_CHAT_PATH = "/chat/completions"  # under the client's base URL, as the SDK's own resource calls it


class OpenAIAdapter:
    # OpenAI's reasoning models refuse `max_tokens`; most compatible vendors know only that name.
    max_tokens_field: ClassVar[str] = "max_completion_tokens"
    # Some compatible vendors refuse the `developer` role that OpenAI prefers to `system`.
    developer_role: ClassVar[str] = "developer"

    def __init__(
        self, provider_id: str, base_url: str | None, api_key: str | None, timeouts: Timeouts
    ) -> None:
        self.provider_id = provider_id
        self._timeouts = timeouts
        self._errors = ErrorFactory(provider_id, api_key)
        self._client = openai.AsyncOpenAI(
            api_key=api_key or NO_KEY,
            base_url=base_url,
            max_retries=0,  # the router's candidate chain is the retry
            timeout=httpx2.Timeout(timeouts.total_s, connect=timeouts.connect_s),
            # aiohttp under the SDK instead of its default httpx2 pool: measured cheaper per
            # call in CPU (BENCHMARKS.md, "Gateway overhead"); the SDK's errors are the same.
            http_client=openai.DefaultAioHttpClient(),
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(self, req: ChatRequest) -> ChatResult:
        params = self._params(req)
        with self._map_errors(req.model):
            # The codec reads the JSON; a body that is not a completion raises
            # ValueError/AttributeError, mapped to MalformedResponse.
            return openai_format.chat_result_from_openai(await self.post_chat(params))

    async def post_chat(self, params: dict[str, Any]) -> Any:
        """One chat completion's JSON body, as parsed, for OpenAI wire `params`; the SDK's own
        errors, unmapped. The SDK's generic `post` (its documented way to call an endpoint for
        raw JSON): the same client, key, transport, timeouts and status errors as
        `chat.completions.create`, without its typed transform of the request and its response
        models, which took about a fifth of this replica's CPU per call (BENCHMARKS.md, "Gateway
        overhead"). The overhead benchmark's SDK forwarder calls it too, so that it measures
        this very call."""
        return json.loads(await self._client.post(_CHAT_PATH, cast_to=bytes, body=params))

    async def stream(self, req: ChatRequest) -> AsyncIterator[ChatChunk]:
        params = self._params(req)
        params["stream_options"] = {"include_usage": True}
        with self._map_errors(req.model):
            chunks = await self._client.chat.completions.create(**params, stream=True)
        model: str | None = None
        finish: FinishReason | None = None
        usage: CompletionUsage | None = None
        try:
            with self._map_errors(req.model, streaming=True):
                while True:
                    try:
                        chunk = await anext(chunks)
                    except StopAsyncIteration:
                        break
                    if not isinstance(chunk, ChatCompletionChunk):
                        raise self._errors.make(MalformedResponse, "not a chunk", req.model)
                    model = chunk.model or model
                    usage = chunk.usage or usage
                    for choice in chunk.choices[:1]:
                        if choice.finish_reason is not None:
                            finish = openai_format.finish_reason_from_openai(choice.finish_reason)
                        piece = openai_format.delta_from_openai(choice.delta.model_dump())
                        if piece is not None:
                            yield piece
        finally:
            await chunks.close()
        # The SDK swallows `data: [DONE]`, so a finish reason is the proof the stream was whole.
        if finish is None:
            raise self._errors.make(
                StreamInterrupted, "stream ended without a finish reason", req.model
            )
        # A vendor may ignore include_usage.
        reported = openai_format.usage_from_openai(usage.model_dump()) if usage else None
        yield ChatChunk(finish_reason=finish, usage=reported, provider_model=model)

    async def embed(self, req: EmbeddingRequest) -> EmbeddingResult:
        params = openai_format.embedding_request_to_openai(req)
        with self._map_errors(req.model):
            response = await self._client.embeddings.create(**params)
            if not isinstance(response, CreateEmbeddingResponse):
                raise self._errors.make(
                    MalformedResponse, "answer is not an embedding list", req.model
                )
            return openai_format.embedding_result_from_openai(response.model_dump())

    # --- request ------------------------------------------------------------------------------

    def _params(self, req: ChatRequest) -> dict[str, Any]:
        return openai_format.chat_request_to_openai(
            req, max_tokens_field=self.max_tokens_field, developer_role=self.developer_role
        )

    # --- errors -------------------------------------------------------------------------------

    @contextmanager
    def _map_errors(self, model: str, *, streaming: bool = False) -> Iterator[None]:
        """SDK exceptions → Switchyard's, most specific first. `streaming`: the answer had begun."""
        make = self._errors.make
        cut = StreamInterrupted if streaming else ProviderUnavailable
        try:
            yield
        except SwitchyardError:
            raise
        except openai.APITimeoutError as e:  # a subclass of APIConnectionError
            if _refused(e):
                raise make(cut, "connection refused", model) from None
            raise make(ProviderTimeout, summary(e), model) from None
        except openai.APIConnectionError as e:
            raise make(cut, summary(e), model) from None
        except openai.RateLimitError as e:
            quota = e.code == "insufficient_quota" or e.type == "insufficient_quota"
            raise self._errors.rate_limited(
                _describe(e), model, e.response.headers, quota
            ) from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
            raise make(AuthenticationFailed, _describe(e), model, status=e.status_code) from None
        except openai.BadRequestError as e:
            too_long = e.code == "context_length_exceeded"
            kind = ContextLengthExceeded if too_long else CallerError
            raise make(kind, _describe(e), model, status=400) from None
        except openai.InternalServerError as e:
            raise make(ProviderServerError, _describe(e), model, status=e.status_code) from None
        except openai.APIStatusError as e:  # 404, 409, 422 and statuses with no class of their own
            status = e.status_code
            raise make(class_for_status(status), _describe(e), model, status=status) from None
        except openai.APIResponseValidationError as e:
            raise make(MalformedResponse, summary(e), model) from None
        except openai.APIError as e:  # an error object sent inside a stream
            raise self._in_band(e, model, streaming) from None
        except (ValueError, TypeError, KeyError, AttributeError) as e:  # JSON or shape errors
            raise make(MalformedResponse, f"{type(e).__name__}: {e}", model) from None

    def _in_band(self, e: openai.APIError, model: str, streaming: bool) -> SwitchyardError:
        """An `{"error": …}` inside a 200 stream: classify by its code, as a status would be."""
        code = e.code or e.type or ""
        message = f"in-stream error {code}: {e.message}"
        if code in ("insufficient_quota", "rate_limit_exceeded"):
            return self._errors.rate_limited(message, model, None, code == "insufficient_quota")
        if code == "context_length_exceeded":
            return self._errors.make(ContextLengthExceeded, message, model)
        if code in ("server_error", "api_error"):
            return self._errors.make(ProviderServerError, message, model)
        return self._errors.make(
            StreamInterrupted if streaming else MalformedResponse, message, model
        )


class OpenAICompatibleAdapter(OpenAIAdapter):
    """Vendors that speak chat completions (Groq, Mistral, DeepSeek, …): the older field names."""

    max_tokens_field = "max_tokens"
    developer_role = "system"


def _describe(e: openai.APIStatusError) -> str:
    return f"HTTP {e.status_code}: {e.message}"


def _refused(error: BaseException) -> bool:
    """Whether a "timeout" from the SDK's aiohttp transport was in truth a failed connect.

    The transport (openai/_vendor/httpx_aiohttp) maps every aiohttp connection error, a refused
    connection included, to a connect *timeout*. A refusal is an OSError that is no TimeoutError
    somewhere down the exception's causes; a real timeout is a TimeoutError all the way.
    """
    cause = error.__cause__
    while cause is not None:
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return True
        cause = cause.__cause__
    return False
