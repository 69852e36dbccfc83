"""The canonical types every part of Switchyard speaks.

The router, the cloud-proxy adapters and the local-model deployment exchange only these types:
each adapter translates a `ChatRequest` into its provider's API and the provider's answer (or
stream) back into a `ChatResult` (or `ChatChunk`s), and stops there. OpenAI's chat-completions
shapes are the model for the request, because that is what Switchyard's callers send.

Usage means the same thing for every provider (adapters normalise it):
`input_tokens` counts *all* prompt tokens, including those read from or written to a cache;
`cached_input_tokens` and `cache_write_tokens` are the parts of `input_tokens` billed at the cache
read and cache write prices. (OpenAI already counts this way; Anthropic reports the three parts
separately and its adapter adds them up.)

`estimated` marks usage that no provider counted whole: an attempt that ended before the provider
gave its final count (a caller who hung up, a stream cut midway) is billed from what is known
(the provider's count at the start of the stream, else the prompt estimate; the output delivered
so far, at `CHARACTERS_PER_TOKEN`), so that no call is free because it ended early.

Provider-specific pass-through lives in fields named for their provider, and only that provider's
adapter reads them: a request's `anthropic_extras` (a Messages body's own blocks, so that an
Anthropic model sees its `cache_control` marks and thinking), an answer's `thinking` (Anthropic's
thinking blocks, signatures kept). Every other adapter serves the canonical fields and ignores
them; the surface that filled them tells the caller what a non-Anthropic model could not honour.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CHARACTERS_PER_TOKEN = 4  # the one rule of thumb every token estimate here uses


def estimated_tokens(characters: int) -> int:
    """Tokens in `characters` of text, at CHARACTERS_PER_TOKEN: an estimate, for when no
    tokenizer's count is at hand (planning; a stream whose provider never said its total)."""
    return characters // CHARACTERS_PER_TOKEN


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def __reduce__(self) -> tuple[Any, tuple[str, bytes]]:
        # Every call crosses a process as one of these (Ingress → CloudProxy and back) and Ray
        # pickles it with cloudpickle, whose Python-level pickler visits each nested model and
        # looks up each class by name: 20 µs out and 10 back for a short chat request. As one
        # JSON string made and read by pydantic-core, behind one function looked up by name:
        # about half (BENCHMARKS.md, "Gateway overhead"). by_alias: a field named after a Python
        # keyword is read back by its wire name.
        return (_from_json, (type(self).__name__, self.model_dump_json(by_alias=True).encode()))


def _from_json(name: str, data: bytes) -> _Frozen:
    """A canonical model back from `__reduce__`: every class here is a module global."""
    model = globals()[name]
    assert isinstance(model, type) and issubclass(model, _Frozen), name
    return model.model_validate_json(data)


# --- request -----------------------------------------------------------------------------------


class ImageURL(_Frozen):
    url: str  # https URL or a data: URL
    detail: Literal["auto", "low", "high"] | None = None


class TextPart(_Frozen):
    type: Literal["text"] = "text"
    text: str


class ImagePart(_Frozen):
    type: Literal["image_url"] = "image_url"
    image_url: ImageURL


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ToolCall(_Frozen):
    """A complete tool call made by the model; `arguments` is a JSON object as a string."""

    id: str
    name: str
    arguments: str


class Message(_Frozen):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[ToolCall] | None = None  # assistant turns that called tools
    tool_call_id: str | None = None  # tool turns: which call this answers
    name: str | None = None

    def text(self) -> str:
        """The message's text parts joined; images contribute nothing."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if isinstance(part, TextPart))

    def has_image(self) -> bool:
        return isinstance(self.content, list) and any(
            isinstance(part, ImagePart) for part in self.content
        )


class ToolSpec(_Frozen):
    name: str
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class JsonSchemaFormat(_Frozen):
    name: str
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ResponseFormat(_Frozen):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


ToolChoice = Literal["auto", "none", "required"] | str  # a tool's name forces that tool


class AnthropicExtras(_Frozen):
    """What a Messages body asked that the canonical fields cannot say, kept in Anthropic's own
    words for the Anthropic adapter, which sends these in place of its translation of `messages`,
    the system messages and `tools` (the canonical fields stay: planning and every other provider
    use them). Blocks are as the caller sent them, so `cache_control` marks, thinking blocks (with
    their signatures) and `tool_result.is_error` reach an Anthropic model unchanged; server tools
    are left out (their use is billed apart from tokens, which Switchyard does not book)."""

    system: list[dict[str, Any]] | None = None
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None  # with disable_parallel_tool_use, where given
    thinking: dict[str, Any] | None = None  # {"type": "enabled", "budget_tokens": N}, …
    cache_control: dict[str, Any] | None = None  # top-level: cache up to the last block

    def params(self) -> dict[str, Any]:
        """The Messages API parameters these replace or add."""
        named = {"system": self.system, "tools": self.tools, "tool_choice": self.tool_choice}
        named.update(thinking=self.thinking, cache_control=self.cache_control)
        return {"messages": self.messages, **{k: v for k, v in named.items() if v is not None}}


class ChatRequest(_Frozen):
    """One chat call. `model` is the provider's own model name (the router fills it in)."""

    model: str
    messages: list[Message] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: list[str] | None = None
    tools: list[ToolSpec] | None = None
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    seed: int | None = None
    # Read by the Anthropic adapter only (see `AnthropicExtras`).
    anthropic_extras: AnthropicExtras | None = None

    def uses_tools(self) -> bool:
        return bool(self.tools)

    def uses_json_schema(self) -> bool:
        return self.response_format is not None and self.response_format.type == "json_schema"

    def uses_images(self) -> bool:
        return any(message.has_image() for message in self.messages)

    def estimated_prompt_tokens(self) -> int:
        """A cheap upper-side estimate (`estimated_tokens`, and 4 a message for its framing): for
        planning, and billed only when a provider never counted the prompt (`Usage.estimated`)."""
        characters = sum(len(message.text()) for message in self.messages)
        return estimated_tokens(characters) + 4 * len(self.messages)


class EmbeddingRequest(_Frozen):
    model: str
    inputs: list[str] = Field(min_length=1)
    dimensions: int | None = Field(default=None, ge=1)

    def estimated_input_tokens(self) -> int:
        """As `ChatRequest.estimated_prompt_tokens`, one token a text for its framing."""
        return estimated_tokens(sum(len(text) for text in self.inputs)) + len(self.inputs)


# --- response ----------------------------------------------------------------------------------

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


class ThinkingBlock(_Frozen):
    """An Anthropic thinking block of an answer, to be passed back unchanged on the next turn:
    `thinking` and its `signature`, or a `redacted_thinking` block's encrypted `data`."""

    type: Literal["thinking", "redacted_thinking"] = "thinking"
    thinking: str = ""
    signature: str = ""
    data: str = ""


class ThinkingDelta(_Frozen):
    """A piece of a streamed thinking block: `block` numbers the answer's thinking blocks from 0;
    the first piece of a block says its `type` (a redacted block arrives whole, in `data`)."""

    block: int
    type: Literal["thinking", "redacted_thinking"] = "thinking"
    thinking: str = ""
    signature: str = ""
    data: str = ""


class Usage(_Frozen):
    """Token counts as the provider reported them, normalised (see the module docstring)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0  # the part of cache_write_tokens written for one hour
    estimated: bool = False  # not the provider's final count (see the module docstring)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            estimated=self.estimated or other.estimated,
        )


class ChatResult(_Frozen):
    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    thinking: list[ThinkingBlock] = Field(default_factory=list)  # Anthropic models only
    finish_reason: FinishReason = "stop"
    usage: Usage = Field(default_factory=Usage)
    # The model name the provider says answered (an adapter reads it from the response); the
    # gateway returns it as it is. Not the directory's id: that is the route's `model`.
    provider_model: str
    provider_request_id: str | None = None


class ToolCallDelta(_Frozen):
    """A piece of a streamed tool call: `id` and `name` arrive first, `arguments` in pieces."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class ChatChunk(_Frozen):
    """One streamed piece. The last chunk of a stream carries `finish_reason` and/or `usage`."""

    text: str = ""
    tool_calls: list[ToolCallDelta] = Field(default_factory=list)
    thinking: ThinkingDelta | None = None  # Anthropic models only
    finish_reason: FinishReason | None = None
    usage: Usage | None = None  # the provider's final count: only on the last chunk
    # The provider's count so far, where it says one before the end (Anthropic's message_start,
    # on the first content chunk): what a stream cut short is billed from. Never sent to callers.
    usage_so_far: Usage | None = None
    # The model name the provider says answered, on the chunks that carry one, as in
    # `ChatResult.provider_model`; the directory's model id is the route's `model`.
    provider_model: str | None = None

    def has_content(self) -> bool:
        """Content is what a caller sees; once it went out, a stream can no longer fail over."""
        return bool(self.text or self.tool_calls or self.thinking)


class EmbeddingResult(_Frozen):
    vectors: list[list[float]]
    usage: Usage = Field(default_factory=Usage)
    provider_model: str


# --- what the router tells the caller about a call ----------------------------------------------


class Attempt(_Frozen):
    """One try at one candidate: part of every answer's metadata and of the hard error."""

    model: str  # directory model id
    provider: str
    outcome: Literal["ok", "failed", "caller_error"]
    error_kind: str | None = None  # the exception class name, e.g. "ProviderServerError"
    status: int | None = None  # the provider's HTTP status, when there was one
    duration_ms: float = 0.0
    message: str | None = None  # already free of secrets


class Skipped(_Frozen):
    """A candidate the plan dropped before trying it, and why."""

    model: str
    reason: str  # e.g. "breaker open", "privacy: local only", "context window 8192 < 20000"
