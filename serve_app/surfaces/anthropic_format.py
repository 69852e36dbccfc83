"""Anthropic's Messages wire format ↔ Switchyard's canonical types, in plain dicts.

The one place that knows how Anthropic spells a Messages request, a message, a stream's events and
usage (the Anthropic surface, `serve_app.surfaces.anthropic`, adds HTTP). It imports no provider
SDK: callers' bodies are dicts, answers are dicts.

A request becomes a `ChatRequest`: `system` (a string or text blocks) one system message; text
and image blocks content parts; an assistant's `tool_use` blocks its tool calls; a user's
`tool_result` blocks tool messages (ahead of the turn's other content, where Anthropic wants
them); `stop_sequences` `stop`; `tool_choice` `any` OpenAI's `required`. What the canonical call
cannot carry (`top_k`, `cache_control`, thinking, a PDF document, a server tool, …) is dropped,
and each kind is named once in `Parsed.dropped`, which the surface returns in a header: a caller
is told, never refused, as a gateway that may answer with another provider's model must.

An Anthropic model need not lose those: a body that asked any of them also keeps its own blocks in
the request's `anthropic_extras`, which the Anthropic adapter sends in place of its translation,
so that `cache_control`, thinking (blocks passed back with their signatures), PDFs and the rest
reach it as sent. What even an Anthropic model is not given (`top_k`, which the SDK no longer
takes; server tools, whose use Switchyard cannot bill) is `Parsed.dropped_by_anthropic`.
An answer's thinking blocks (`ChatResult.thinking`, streamed as `ChatChunk.thinking`) go back
first in its content, as Anthropic orders them.

Usage goes back in Anthropic's convention: `input_tokens` is the prompt less what was read from
or written to the cache (canonical `input_tokens` counts all of it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deployments.canonical import (
    AnthropicExtras,
    ChatChunk,
    ChatRequest,
    ChatResult,
    ContentPart,
    FinishReason,
    ImagePart,
    ImageURL,
    Message,
    TextPart,
    ThinkingBlock,
    ThinkingDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from deployments.openai_format import field_errors


class AnthropicFormatError(ValueError):
    """A body that is not a valid Messages request; the message names the field."""


# --- requests -----------------------------------------------------------------------------------


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Tool(_Lenient):
    name: str
    description: str | None = None
    input_schema: dict[str, Any] | None = None  # none: a server tool (web search, bash, …)
    type: str | None = None  # "custom", or a server tool's versioned type
    cache_control: dict[str, Any] | None = None


class _ToolChoice(_Lenient):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class _Metadata(_Lenient):
    user_id: str | None = None


class _Message(_Lenient):
    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]]


class _Body(_Lenient):
    """The fields of a Messages body that change the answer; others are ignored."""

    model: str
    max_tokens: int = Field(ge=1)  # required, as Anthropic requires it
    messages: list[_Message] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    tools: list[_Tool] | None = None
    tool_choice: _ToolChoice | None = None
    metadata: _Metadata | None = None
    thinking: dict[str, Any] | None = None
    cache_control: dict[str, Any] | None = None  # automatic caching: up to the last block
    stream: bool = False


class _Source(_Lenient):
    type: str  # base64, url, text, content, file
    media_type: str | None = None
    data: str | None = None
    url: str | None = None


@dataclass
class Parsed:
    """A Messages body as a canonical request, with what the body asked that it cannot carry."""

    request: ChatRequest
    stream: bool
    user_id: str | None
    dropped: list[str] = field(default_factory=list)  # by a model of any other provider

    @property
    def dropped_by_anthropic(self) -> list[str]:
        """What an Anthropic model is not given either (the rest goes in `anthropic_extras`)."""
        return [what for what in self.dropped if what in NOT_PASSED_TO_ANTHROPIC]


# Dropped even on the way to an Anthropic model: the SDK takes no top_k, and a server tool's use is
# billed apart from tokens (per search, per container hour), which the ledger does not book.
NOT_PASSED_TO_ANTHROPIC = ("top_k", "server tools")


@dataclass
class _Reader:
    """Walks a body's blocks, noting each kind of thing the canonical call drops, once."""

    dropped: list[str] = field(default_factory=list)

    def drop(self, what: str) -> None:
        # A response header carries these: printable ASCII only, whatever a block's type says.
        what = "".join(c if " " <= c <= "~" else "?" for c in what)[:80]
        if what not in self.dropped:
            self.dropped.append(what)

    def noting_cache_control(self, block: dict[str, Any]) -> dict[str, Any]:
        if block.get("cache_control") is not None:
            self.drop("cache_control")
        return block

    def system(self, system: str | list[dict[str, Any]] | None) -> list[Message]:
        if system is None:
            return []
        if isinstance(system, str):
            return [Message(role="system", content=system)] if system else []
        parts = self.parts(system, "system")
        return [Message(role="system", content=parts)] if parts else []

    def parts(self, blocks: Iterable[dict[str, Any]], at: str) -> list[ContentPart]:
        """Text, image and document blocks as content parts."""
        parts: list[ContentPart] = []
        for index, block in enumerate(blocks):
            part = self.part(self.noting_cache_control(block), f"{at}.{index}")
            if part is not None:
                parts.append(part)
        return parts

    def part(self, block: dict[str, Any], at: str) -> ContentPart | None:
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            if not isinstance(text, str):
                raise _FieldError(f"{at}.text: Field required (a string)")
            return TextPart(text=text)
        if kind == "image":
            source = _source(block, at)
            if source.type == "base64" and source.media_type and source.data:
                return ImagePart(
                    image_url=ImageURL(url=f"data:{source.media_type};base64,{source.data}")
                )
            if source.type == "url" and source.url:
                return ImagePart(image_url=ImageURL(url=source.url))
            self.drop(f"image source {source.type}")
            return None
        if kind == "document":
            source = _source(block, at)
            if source.type == "text" and source.data is not None:
                return TextPart(text=source.data)
            if source.type == "content" and isinstance(block["source"].get("content"), list):
                parts = self.parts(block["source"]["content"], f"{at}.source.content")
                return TextPart(text="".join(p.text for p in parts if isinstance(p, TextPart)))
            self.drop(f"document source {source.type}")
            return None
        if kind in ("thinking", "redacted_thinking"):
            self.drop("thinking blocks")
            return None
        self.drop(f"{kind} blocks")
        return None

    def turn(self, message: _Message, at: str) -> list[Message]:
        """One Anthropic turn as canonical messages: a user turn's tool results come first, each
        a tool message; an assistant's tool_use blocks become its tool calls."""
        if isinstance(message.content, str):
            return [Message(role=message.role, content=message.content)]
        blocks = [self.noting_cache_control(b) for b in message.content]
        tool_messages: list[Message] = []
        calls: list[ToolCall] = []
        others: list[dict[str, Any]] = []
        for index, block in enumerate(blocks):
            where = f"{at}.content.{index}"
            kind = block.get("type")
            if kind == "tool_use" and message.role == "assistant":
                calls.append(_tool_call(block, where))
            elif kind == "tool_result" and message.role == "user":
                tool_messages.append(self.tool_result(block, where))
            else:
                others.append(block)
        parts = self.parts(others, f"{at}.content")
        turn: list[Message] = list(tool_messages)
        if parts or calls:
            # A text-only turn stays a string: every provider's adapter takes that.
            texts_only = all(isinstance(p, TextPart) for p in parts)
            content: str | list[ContentPart] | None = (
                "".join(p.text for p in parts if isinstance(p, TextPart)) if texts_only else parts
            )
            turn.append(
                Message(role=message.role, content=content or None, tool_calls=calls or None)
            )
        return turn

    def tool_result(self, block: dict[str, Any], at: str) -> Message:
        tool_use_id = block.get("tool_use_id")
        if not isinstance(tool_use_id, str) or not tool_use_id:
            raise _FieldError(f"{at}.tool_use_id: Field required (a string)")
        content = block.get("content")
        if isinstance(content, list):
            parts = self.parts([self.noting_cache_control(b) for b in content], f"{at}.content")
            if any(isinstance(p, ImagePart) for p in parts):
                self.drop("images in tool results")
            content = "".join(p.text for p in parts if isinstance(p, TextPart))
        elif content is not None and not isinstance(content, str):
            raise _FieldError(f"{at}.content: Input should be a string or a list of blocks")
        if block.get("is_error"):
            self.drop("tool_result is_error")
        return Message(role="tool", tool_call_id=tool_use_id, content=content or "")

    def tools(self, tools: list[_Tool] | None) -> list[ToolSpec] | None:
        specs = []
        for tool in tools or []:
            if tool.cache_control is not None:
                self.drop("cache_control")
            if tool.input_schema is None or tool.type not in (None, "custom"):
                self.drop("server tools")  # not the name: a header carries this, latin-1 only
                continue
            specs.append(
                ToolSpec(name=tool.name, description=tool.description, parameters=tool.input_schema)
            )
        return specs or None

    def tool_choice(self, choice: _ToolChoice | None) -> str | None:
        if choice is None:
            return None
        if choice.disable_parallel_tool_use:
            self.drop("disable_parallel_tool_use")
        if choice.type == "tool":
            if not choice.name:
                raise _FieldError("tool_choice.name: Field required when type is 'tool'")
            return choice.name
        return {"auto": "auto", "any": "required", "none": "none"}[choice.type]


class _FieldError(Exception):
    """A block failed its validation; `str()` names the field path."""


def _source(block: dict[str, Any], at: str) -> _Source:
    try:
        return _Source.model_validate(block.get("source"))
    except ValidationError as error:
        raise _FieldError(field_errors(error, at=f"{at}.source")) from None


def _tool_call(block: dict[str, Any], at: str) -> ToolCall:
    ident, name, arguments = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(ident, str) or not isinstance(name, str) or not isinstance(arguments, dict):
        raise _FieldError(f"{at}: a tool_use block needs an id, a name and an input object")
    return ToolCall(id=ident, name=name, arguments=json.dumps(arguments))


def request_from_anthropic(body: Any) -> Parsed:
    """The canonical request a Messages body asks for. `model` is the caller's name (a shortcut
    or a model id); the router puts the provider's name in its place."""
    try:
        wire = _Body.model_validate(body)
        reader = _Reader()
        messages = reader.system(wire.system)
        for index, message in enumerate(wire.messages):
            messages.extend(reader.turn(message, f"messages.{index}"))
        if wire.top_k is not None:
            reader.drop("top_k")
        if wire.thinking is not None:
            reader.drop("thinking")
        if wire.cache_control is not None:
            reader.drop("cache_control")
        request = ChatRequest(
            model=wire.model,
            messages=messages,
            temperature=wire.temperature,
            top_p=wire.top_p,
            max_tokens=wire.max_tokens,
            stop=wire.stop_sequences or None,
            tools=reader.tools(wire.tools),
            tool_choice=reader.tool_choice(wire.tool_choice),
        )
        if any(what not in NOT_PASSED_TO_ANTHROPIC for what in reader.dropped):
            request = request.model_copy(update={"anthropic_extras": _extras(body, wire)})
    except ValidationError as error:
        raise AnthropicFormatError(f"invalid messages request: {field_errors(error)}") from None
    except _FieldError as error:
        raise AnthropicFormatError(f"invalid messages request: {error}") from None
    user_id = wire.metadata.user_id if wire.metadata else None
    return Parsed(request, wire.stream, user_id, reader.dropped)


def _extras(body: dict[str, Any], wire: _Body) -> AnthropicExtras:
    """The body's own blocks, for an Anthropic model (`_Body` has validated their shape)."""
    tools = [
        raw
        for raw, tool in zip(body.get("tools") or [], wire.tools or [], strict=True)
        if tool.input_schema is not None and tool.type in (None, "custom")
    ]
    return AnthropicExtras(
        system=wire.system if isinstance(wire.system, list) else None,
        messages=[{"role": m.role, "content": m.content} for m in wire.messages],
        tools=tools or None,
        tool_choice=body.get("tool_choice"),
        thinking=wire.thinking,
        cache_control=wire.cache_control,
    )


# --- answers ------------------------------------------------------------------------------------

STOP_REASON: dict[FinishReason, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def usage_to_anthropic(usage: Usage) -> dict[str, int]:
    cached, written = usage.cached_input_tokens, usage.cache_write_tokens
    return {
        "input_tokens": max(0, usage.input_tokens - cached - written),
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": written,
    }


def tool_input(arguments: str) -> dict[str, Any]:
    """A tool call's arguments as the object Anthropic's `input` is. A model that wrote no JSON
    object (it happens on other providers) has its text kept under `_arguments`, not lost."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError:
        return {"_arguments": arguments}
    return value if isinstance(value, dict) else {"_arguments": arguments}


def message_to_anthropic(result: ChatResult, *, id: str, model: str | None) -> dict[str, Any]:
    """A `message` object: thinking blocks, the text block, then one tool_use block per call."""
    content: list[dict[str, Any]] = [_thinking_block(block) for block in result.thinking]
    if result.text or not result.tool_calls:
        content.append({"type": "text", "text": result.text})
    content += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": tool_input(c.arguments)}
        for c in result.tool_calls
    ]
    return {
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASON[result.finish_reason],
        "stop_sequence": None,
        "usage": usage_to_anthropic(result.usage),
    }


def _thinking_block(block: ThinkingBlock | ThinkingDelta) -> dict[str, Any]:
    if block.type == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.data}
    return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}


def error_body(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    """Anthropic's error shape; `kind` is its error type (`overloaded_error`, …)."""
    return {"type": "error", "error": {"type": kind, "message": message}, **extra}


# --- streams ------------------------------------------------------------------------------------

Event = tuple[str, dict[str, Any]]  # (event name, its data)
_BlockKind = Literal["thinking", "text", "tool"]


class StreamWriter:
    """Canonical chunks in, Anthropic's stream events out: `start`, `feed` each chunk, `finish`.

    Content blocks open and close in order: each thinking block (by its number) one thinking
    block whose text and signature arrive as `thinking_delta` and `signature_delta`, text runs one
    text block, each tool call (by its index) one tool_use block whose arguments arrive as
    `input_json_delta`s.
    """

    def __init__(self, *, id: str, model: str | None) -> None:
        self._id = id
        self._model = model
        self._block = -1  # index of the open block, -1 before the first
        self._open: _BlockKind | None = None
        self._thinking = -1  # number of the open thinking block
        self._tool_blocks: dict[int, int] = {}  # tool call index → its block's index
        self._finish: FinishReason = "stop"
        self._usage: Usage | None = None

    def start(self, input_usage: Usage | None) -> list[Event]:
        """message_start, with the prompt's usage where the provider has said it already."""
        usage = usage_to_anthropic(input_usage or Usage())
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": 0},
        }
        return [("message_start", {"type": "message_start", "message": message})]

    def feed(self, chunk: ChatChunk) -> list[Event]:
        events: list[Event] = []
        if (piece := chunk.thinking) is not None:
            if self._open != "thinking" or self._thinking != piece.block:
                start = _thinking_block(piece.model_copy(update={"thinking": "", "signature": ""}))
                events += self._open_block(start, "thinking")
                self._thinking = piece.block
            if piece.thinking:
                events.append(self._delta({"type": "thinking_delta", "thinking": piece.thinking}))
            if piece.signature:
                events.append(
                    self._delta({"type": "signature_delta", "signature": piece.signature})
                )
        if chunk.text:
            if self._open != "text":
                events += self._open_block({"type": "text", "text": ""}, "text")
            events.append(self._delta({"type": "text_delta", "text": chunk.text}))
        for call in chunk.tool_calls:
            if call.index not in self._tool_blocks:
                block: dict[str, Any] = {"type": "tool_use", "id": call.id or ""}
                block.update(name=call.name or "", input={})
                events += self._open_block(block, "tool")
                self._tool_blocks[call.index] = self._block
            if call.arguments:
                delta = {"type": "input_json_delta", "partial_json": call.arguments}
                events.append(self._delta(delta, self._tool_blocks[call.index]))
        if chunk.finish_reason is not None:
            self._finish = chunk.finish_reason
        if chunk.usage is not None:
            self._usage = chunk.usage
        return events

    def finish(self) -> list[Event]:
        """The open block's stop, message_delta (stop reason, every usage total), message_stop."""
        events = self._close_block()
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": STOP_REASON[self._finish], "stop_sequence": None},
                    "usage": usage_to_anthropic(self._usage or Usage()),
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    def _open_block(self, block: dict[str, Any], kind: _BlockKind) -> list[Event]:
        events = self._close_block()
        self._block += 1
        self._open = kind
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": self._block, "content_block": block},
            )
        )
        if self._block == 0:
            events.append(("ping", {"type": "ping"}))  # where Anthropic sends its first one
        return events

    def _close_block(self) -> list[Event]:
        if self._open is None:
            return []
        self._open = None
        return [("content_block_stop", {"type": "content_block_stop", "index": self._block})]

    def _delta(self, delta: dict[str, Any], index: int | None = None) -> Event:
        at = self._block if index is None else index
        return ("content_block_delta", {"type": "content_block_delta", "index": at, "delta": delta})
