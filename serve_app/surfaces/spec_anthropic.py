"""The schemas `/openapi.json` gives for Anthropic's Messages routes (`surfaces.anthropic`): the
body as `anthropic_format`'s parser accepts it, the answers and errors as the routes write them.
The parser stays the judge of a body; these describe it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from serve_app.routing.call import Route
from serve_app.surfaces.common import SwitchyardOptions


class _Open(BaseModel):
    """A body that may carry fields Switchyard ignores or drops (`x-switchyard-dropped`)."""

    model_config = ConfigDict(extra="allow")


class Tool(_Open):
    name: str
    description: str | None = None
    input_schema: dict[str, Any] | None = Field(default=None, description="none: a server tool")
    type: str | None = None


class ToolChoice(_Open):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Metadata(_Open):
    user_id: str | None = Field(default=None, description="the end user; names no tenant")


class InputMessage(_Open):
    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]] = Field(
        description="text, or blocks: text, image, document, tool_use, tool_result"
    )


class CountTokensBody(_Open):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"model": "smart", "messages": [{"role": "user", "content": "hi"}]}]
        }
    )
    model: str = Field(description="a shortcut or a directory model id")
    messages: list[InputMessage] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: dict[str, Any] | None = Field(
        default=None, description="passed to an Anthropic model; dropped for others"
    )
    cache_control: dict[str, Any] | None = Field(
        default=None, description="passed to an Anthropic model; dropped for others"
    )
    switchyard: SwitchyardOptions | None = None


class MessagesBody(CountTokensBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "smart",
                    "max_tokens": 64,
                    "messages": [{"role": "user", "content": "hi"}],
                }
            ]
        }
    )
    max_tokens: int = Field(ge=1)
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0, description="dropped: not every provider has it")
    metadata: Metadata | None = None
    stream: bool = False


class AnthropicUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int


class AnthropicMessage(BaseModel):
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str | None
    content: list[dict[str, Any]] = Field(
        description="thinking blocks (an Anthropic model asked to think), a text block, then "
        "tool_use blocks"
    )
    stop_reason: Literal["end_turn", "max_tokens", "tool_use", "refusal"]
    stop_sequence: str | None
    usage: AnthropicUsage
    switchyard: Route


class CountMark(BaseModel):
    model: str
    exact: bool
    method: str


class TokenCount(BaseModel):
    input_tokens: int
    switchyard: CountMark


class AnthropicErrorObject(BaseModel):
    type: str = Field(description="Anthropic's error type: invalid_request_error, ...")
    message: str
    switchyard_error: str | None = Field(default=None, description="the Switchyard error's class")


class AnthropicError(BaseModel):
    """Anthropic's error shape, so Anthropic's SDKs raise their matching exception class."""

    type: Literal["error"]
    error: AnthropicErrorObject
    switchyard: Route | None = Field(default=None, description="the route the call had taken")


EVENT_TYPES = [
    "message_start",
    "content_block_start",
    "ping",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "error",
    "switchyard.route",
]


def stream_event(ref: dict[type[BaseModel], dict[str, Any]]) -> dict[str, Any]:
    """One event of a streamed message: its name, and data that says the same type."""
    payload = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": EVENT_TYPES}},
    }
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"enum": EVENT_TYPES},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": payload,
            },
        },
    }
