"""Anthropic's Messages API through `anthropic.AsyncAnthropic`, translated to canonical types.

Translation: system and developer messages are hoisted into `system`; assistant tool calls become
`tool_use` blocks and tool messages `tool_result` blocks (consecutive turns of one role merged, as
the API wants); images become base64 or URL sources. Anthropic reports prompt tokens in three
parts (uncached, read from cache, written to cache); canonical `input_tokens` is their sum.

A request that came in on the Anthropic surface may carry the caller's own blocks
(`ChatRequest.anthropic_extras`): they are sent in place of the translation, so `cache_control`
and thinking reach the model as the caller wrote them. Thinking blocks of the answer come back in
`ChatResult.thinking` (streamed: `ChatChunk.thinking`), signatures intact.

This SDK's Messages API takes no temperature, top_p or seed, so those request fields are not sent.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import anthropic
import httpx2
from anthropic.types import InputJSONDelta as InputJsonDelta
from anthropic.types import Message as AnthropicMessage
from anthropic.types import (
    MessageDeltaUsage,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    RedactedThinkingBlock,
    SignatureDelta,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ToolUseBlock,
)
from anthropic.types import ThinkingDelta as AnthropicThinkingDelta
from anthropic.types import Usage as AnthropicUsage

from deployments.canonical import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
    FinishReason,
    ImagePart,
    Message,
    ThinkingDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from deployments.canonical import ThinkingBlock as Thought
from deployments.cloud.base import (
    NO_KEY,
    ErrorFactory,
    Timeouts,
    arguments_object,
    class_for_status,
    parse_data_url,
    retry_after_s,
    summary,
    system_text,
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

# The Messages API requires max_tokens; this is used when the request carries none. Behind the
# gateway every request carries one (the output its reservation assumed, `output_cap`), so this
# default applies only to direct use of the adapter outside the gateway.
DEFAULT_MAX_TOKENS = 4096

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# An `error` event inside a stream arrives with HTTP 200; its error type says what happened.
_STATUS_OF_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "timeout_error": 504,
    "api_error": 500,
    "overloaded_error": 529,
}
# What the counting endpoint takes of a message's parameters (no max_tokens, stop sequences).
_COUNTED_PARAMS = (
    *("model", "messages", "system", "tools", "tool_choice", "output_config"),
    *("thinking", "cache_control"),
)
_QUOTA_CLASSES = (
    anthropic.ContractSpendLimitReachedError,
    anthropic.EnforcedSpendLimitReachedError,
)


class AnthropicAdapter:
    def __init__(
        self, provider_id: str, base_url: str | None, api_key: str | None, timeouts: Timeouts
    ) -> None:
        self.provider_id = provider_id
        self._timeouts = timeouts
        self._errors = ErrorFactory(provider_id, api_key)
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key or NO_KEY,
            base_url=base_url,
            max_retries=0,  # the router's candidate chain is the retry
            timeout=httpx2.Timeout(timeouts.total_s, connect=timeouts.connect_s),
            # aiohttp under the SDK instead of its default httpx2 pool: cheaper per call in CPU
            # (BENCHMARKS.md, "Gateway overhead"); the SDK's errors are the same.
            http_client=anthropic.DefaultAioHttpClient(),
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(self, req: ChatRequest) -> ChatResult:
        params = self._params(req)
        with self._map_errors(req.model):
            message = await self._client.messages.create(**params)
            if not isinstance(message, AnthropicMessage):  # a non-JSON body comes back as is
                raise self._errors.make(MalformedResponse, "answer is not a message", req.model)
            return _result(message)

    async def stream(self, req: ChatRequest) -> AsyncIterator[ChatChunk]:
        params = self._params(req)
        with self._map_errors(req.model):
            events = await self._client.messages.create(**params, stream=True)
        state = _StreamState()
        try:
            with self._map_errors(req.model, streaming=True):
                while not state.stopped:
                    try:
                        event = await anext(events)
                    except StopAsyncIteration:
                        break
                    chunk = state.feed(event)
                    if chunk is not None:
                        yield chunk
        finally:
            await events.close()
        if not state.stopped:
            raise self._errors.make(
                StreamInterrupted, "stream ended before message_stop", req.model
            )
        yield state.last_chunk()

    async def embed(self, req: EmbeddingRequest) -> EmbeddingResult:
        raise self._errors.make(
            CallerError, "Anthropic has no embeddings API", req.model, status=400
        )

    async def count_tokens(self, req: ChatRequest) -> int:
        """The prompt's input tokens as Anthropic counts them (its token-counting endpoint): the
        same messages, system and tools as `complete` would send, free of charge."""
        params = self._params(req)
        counted = {k: v for k, v in params.items() if k in _COUNTED_PARAMS}
        with self._map_errors(req.model):
            return (await self._client.messages.count_tokens(**counted)).input_tokens

    # --- request ------------------------------------------------------------------------------

    def _params(self, req: ChatRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": req.model,
            "max_tokens": req.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": self._messages(req),
        }
        if (system := system_text(req)) is not None:
            params["system"] = system
        if req.stop:
            params["stop_sequences"] = req.stop
        if req.tools:
            params["tools"] = [
                {"name": t.name, "description": t.description or "", "input_schema": t.parameters}
                for t in req.tools
            ]
        if req.tool_choice is not None:
            params["tool_choice"] = _tool_choice(req.tool_choice)
        if req.response_format is not None and req.response_format.json_schema is not None:
            schema = req.response_format.json_schema.schema_
            params["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        if req.anthropic_extras is not None:  # the caller's own blocks, in place of the above
            params.update(req.anthropic_extras.params())
        return params

    def _messages(self, req: ChatRequest) -> list[dict[str, Any]]:
        turns: list[dict[str, Any]] = []
        for message in req.messages:
            if message.role in ("system", "developer"):
                continue
            role = "assistant" if message.role == "assistant" else "user"
            blocks = self._blocks(message, req.model)
            if not blocks:
                continue
            if turns and turns[-1]["role"] == role:
                turns[-1]["content"].extend(blocks)
            else:
                turns.append({"role": role, "content": blocks})
        return turns

    def _blocks(self, message: Message, model: str) -> list[dict[str, Any]]:
        if message.role == "tool":
            if not message.tool_call_id:
                raise self._errors.make(CallerError, "a tool message needs tool_call_id", model)
            return [
                {
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id,
                    "content": message.text(),
                }
            ]
        blocks: list[dict[str, Any]] = []
        if isinstance(message.content, str):
            if message.content:
                blocks.append({"type": "text", "text": message.content})
        elif message.content is not None:
            for part in message.content:
                if isinstance(part, ImagePart):
                    blocks.append({"type": "image", "source": self._image_source(part, model)})
                elif part.text:
                    blocks.append({"type": "text", "text": part.text})
        for call in message.tool_calls or []:
            arguments = arguments_object(call.arguments, provider=self.provider_id, model=model)
            blocks.append(
                {"type": "tool_use", "id": call.id, "name": call.name, "input": arguments}
            )
        return blocks

    def _image_source(self, part: ImagePart, model: str) -> dict[str, str]:
        url = part.image_url.url
        if not url.startswith("data:"):
            return {"type": "url", "url": url}
        media_type, data = parse_data_url(url, provider=self.provider_id, model=model)
        return {"type": "base64", "media_type": media_type, "data": data}

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
        except anthropic.APITimeoutError as e:  # a subclass of APIConnectionError
            raise make(ProviderTimeout, summary(e), model) from None
        except anthropic.APIConnectionError as e:
            raise make(cut, summary(e), model) from None
        except httpx2.TimeoutException as e:  # the SDK's stream lets transport errors through
            raise make(ProviderTimeout, f"read timed out: {e}", model) from None
        except httpx2.TransportError as e:
            raise make(cut, f"{type(e).__name__}: {e}", model) from None
        except anthropic.RateLimitError as e:
            # A rate limit says when to come back (Retry-After); a spent limit does not.
            spent = _names_a_spent_limit(e) and retry_after_s(e.response.headers) is None
            quota = isinstance(e, _QUOTA_CLASSES) or spent
            raise self._errors.rate_limited(
                _describe(e), model, e.response.headers, quota
            ) from None
        except anthropic.PaymentRequiredError as e:  # billing: out of credit until someone pays
            raise self._errors.rate_limited(_describe(e), model, None, True, status=402) from None
        except (anthropic.AuthenticationError, anthropic.PermissionDeniedError) as e:
            raise make(AuthenticationFailed, _describe(e), model, status=e.status_code) from None
        except anthropic.BadRequestError as e:
            # Anthropic gives no code for these two, only the messages "prompt is too long: N
            # tokens > M maximum" and "Your credit balance is too low …", so they read the text.
            text = (e.api_message or e.message).lower()
            if "credit balance" in text:  # out of credit: the provider is out, not the caller
                raise self._errors.rate_limited(
                    _describe(e), model, None, True, status=400
                ) from None
            kind = ContextLengthExceeded if "prompt is too long" in text else CallerError
            raise make(kind, _describe(e), model, status=400) from None
        except anthropic.InternalServerError as e:  # 5xx, 529 overloaded included
            raise make(ProviderServerError, _describe(e), model, status=e.status_code) from None
        except anthropic.APIStatusError as e:  # other statuses, and error events inside a stream
            status = e.status_code
            if status < 400:
                status = _STATUS_OF_ERROR_TYPE.get(e.type or "", 500)
            if status == 429 or (status == 402 and e.type == "billing_error"):
                quota = status == 402 or _names_a_spent_limit(e)
                raise self._errors.rate_limited(
                    _describe(e), model, None, quota, status=status
                ) from None
            raise make(class_for_status(status), _describe(e), model, status=status) from None
        except anthropic.APIError as e:  # response validation and other unparseable answers
            raise make(MalformedResponse, summary(e), model) from None
        except (ValueError, TypeError, KeyError, AttributeError) as e:  # JSON or shape errors
            raise make(MalformedResponse, f"{type(e).__name__}: {e}", model) from None


# --- response -----------------------------------------------------------------------------------


def _result(message: AnthropicMessage) -> ChatResult:
    text = "".join(block.text for block in message.content if isinstance(block, TextBlock))
    calls = [
        ToolCall(id=block.id, name=block.name, arguments=json.dumps(block.input))
        for block in message.content
        if isinstance(block, ToolUseBlock)
    ]
    thinking = [
        Thought(thinking=block.thinking, signature=block.signature)
        if isinstance(block, ThinkingBlock)
        else Thought(type="redacted_thinking", data=block.data)
        for block in message.content
        if isinstance(block, ThinkingBlock | RedactedThinkingBlock)
    ]
    return ChatResult(
        text=text,
        tool_calls=calls,
        thinking=thinking,
        finish_reason=_FINISH.get(message.stop_reason or "", "stop"),
        usage=_usage(message.usage),
        provider_model=message.model,
        provider_request_id=message.id,
    )


def _usage(usage: AnthropicUsage | MessageDeltaUsage) -> Usage:
    read = usage.cache_read_input_tokens or 0
    written = usage.cache_creation_input_tokens or 0
    breakdown = getattr(usage, "cache_creation", None)  # only on the full Usage
    return Usage(
        input_tokens=(usage.input_tokens or 0) + read + written,
        output_tokens=usage.output_tokens or 0,
        cached_input_tokens=read,
        cache_write_tokens=written,
        cache_write_1h_tokens=breakdown.ephemeral_1h_input_tokens if breakdown else 0,
    )


class _StreamState:
    """Folds Anthropic's stream events into canonical chunks; the last one carries the totals.
    The first content chunk carries message_start's usage as `usage_so_far` (the exact input
    tokens and cache parts): a stream that ends early is billed from it."""

    def __init__(self) -> None:
        self.model: str | None = None
        self.usage: AnthropicUsage | None = None
        self.finish: FinishReason | None = None
        self.stopped = False  # message_stop arrived: the stream is whole
        self._tool_index: dict[int, int] = {}  # content block index → tool call index
        self._thinking_index: dict[int, int] = {}  # content block index → thinking block number
        self._told_start = False  # usage_so_far went out on a content chunk

    def feed(self, event: object) -> ChatChunk | None:
        chunk = self._chunk(event)
        if chunk is None or self._told_start or self.usage is None:
            return chunk
        self._told_start = True
        return chunk.model_copy(update={"usage_so_far": _usage(self.usage)})

    def _chunk(self, event: object) -> ChatChunk | None:
        if isinstance(event, RawMessageStartEvent):
            self.model = event.message.model
            self.usage = event.message.usage
        elif isinstance(event, RawContentBlockStartEvent):
            block = event.content_block
            if isinstance(block, TextBlock) and block.text:
                return ChatChunk(text=block.text)
            if isinstance(block, ToolUseBlock):
                index = self._tool_index.setdefault(event.index, len(self._tool_index))
                return ChatChunk(
                    tool_calls=[ToolCallDelta(index=index, id=block.id, name=block.name)]
                )
            if isinstance(block, ThinkingBlock | RedactedThinkingBlock):
                number = self._thinking_index.setdefault(event.index, len(self._thinking_index))
                if isinstance(block, RedactedThinkingBlock):
                    return ChatChunk(
                        thinking=ThinkingDelta(
                            block=number, type="redacted_thinking", data=block.data
                        )
                    )
                first = ThinkingDelta(block=number, thinking=block.thinking)
                return ChatChunk(thinking=first.model_copy(update={"signature": block.signature}))
        elif isinstance(event, RawContentBlockDeltaEvent):
            delta = event.delta
            if isinstance(delta, TextDelta) and delta.text:
                return ChatChunk(text=delta.text)
            if event.index in self._thinking_index:
                number = self._thinking_index[event.index]
                if isinstance(delta, AnthropicThinkingDelta) and delta.thinking:
                    return ChatChunk(thinking=ThinkingDelta(block=number, thinking=delta.thinking))
                if isinstance(delta, SignatureDelta) and delta.signature:
                    return ChatChunk(
                        thinking=ThinkingDelta(block=number, signature=delta.signature)
                    )
            if isinstance(delta, InputJsonDelta) and event.index in self._tool_index:
                if delta.partial_json:
                    piece = ToolCallDelta(
                        index=self._tool_index[event.index], arguments=delta.partial_json
                    )
                    return ChatChunk(tool_calls=[piece])
        elif isinstance(event, RawMessageDeltaEvent):
            self.finish = _FINISH.get(event.delta.stop_reason or "", "stop")
            if event.usage is not None:  # the docs' thinking example sends none
                self._merge_usage(event.usage)
        elif isinstance(event, RawMessageStopEvent):
            self.stopped = True
        return None

    def _merge_usage(self, delta: MessageDeltaUsage) -> None:
        """message_delta counts are cumulative; fields it leaves out keep message_start's."""
        fields = {
            k: v for k, v in delta.model_dump(exclude_none=True).items() if k in _USAGE_FIELDS
        }
        if self.usage is None:
            self.usage = AnthropicUsage.model_construct(**{"input_tokens": 0, **fields})
        else:
            self.usage = self.usage.model_copy(update=fields)

    def last_chunk(self) -> ChatChunk:
        return ChatChunk(
            finish_reason=self.finish or "stop",
            usage=_usage(self.usage) if self.usage is not None else Usage(),
            provider_model=self.model,
        )


_USAGE_FIELDS = {
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
}


def _tool_choice(choice: str) -> dict[str, str]:
    """OpenAI's tool_choice in Anthropic's words: "required" is "any", a name forces that tool."""
    if choice in ("auto", "none"):
        return {"type": choice}
    if choice == "required":
        return {"type": "any"}
    return {"type": "tool", "name": choice}


def _names_a_spent_limit(e: anthropic.APIStatusError) -> bool:
    # Besides the spend-limit error codes and billing_error, Anthropic marks no quota exhaustion
    # in a structured way; its message names the limit ("You have reached your specified API
    # usage limits") when that is the cause.
    text = (e.api_message or "").lower()
    return e.type == "billing_error" or any(w in text for w in _SPENT_LIMIT_WORDS)


_SPENT_LIMIT_WORDS = ("quota", "usage limit", "spend limit", "credit balance")


def _describe(e: anthropic.APIStatusError) -> str:
    return f"HTTP {e.status_code}: {e.api_message or e.message}"
