"""The schemas `/openapi.json` gives for the OpenAI routes and Switchyard's own: each body as
`deployments.openai_format`'s parser accepts it, and each answer as the routes write it. The parser
stays the judge of a body; these describe it (`serve_app.surfaces.spec` says which route uses
which, and the fuzz test keeps the two in step).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from deployments.canonical import FinishReason, ImagePart, TextPart
from serve_app.identity.keys import ApiKey
from serve_app.routing.call import Route
from serve_app.surfaces.common import SwitchyardOptions

# --- requests -----------------------------------------------------------------------------------


class _Open(BaseModel):
    """A body that may carry fields Switchyard ignores, as OpenAI-compatible servers do."""

    model_config = ConfigDict(extra="allow")


class FunctionSpec(_Open):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON schema of the arguments


class ToolDeclaration(_Open):
    type: Literal["function"] = "function"
    function: FunctionSpec


class CalledFunction(_Open):
    name: str
    arguments: str | None = None  # a JSON object, as a string


class WireToolCall(_Open):
    id: str
    type: Literal["function"] = "function"
    function: CalledFunction


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart | ImagePart] | None = None
    tool_calls: list[WireToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class ChatCompletionsBody(_Open):
    """OpenAI's chat-completions body, the fields that change the answer; `switchyard` carries
    Switchyard's own options (`X-Switchyard-*` headers win over it)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"model": "smart", "messages": [{"role": "user", "content": "hi"}]}]
        }
    )
    model: str = Field(description="a shortcut (`smart`, `fast`, ...) or a directory model id")
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    tools: list[ToolDeclaration] | None = None
    tool_choice: str | ToolDeclaration | None = Field(
        default=None, description='"auto", "none", "required", or the tool to call'
    )
    response_format: dict[str, Any] | None = None
    seed: int | None = None
    n: int = Field(default=1, description="only 1 is supported")
    stream: bool = False
    user: str | None = Field(default=None, description="the end user; names no tenant")
    switchyard: SwitchyardOptions | None = None


class EmbeddingsBody(_Open):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"model": "embed", "input": "hello"}]}
    )
    model: str
    input: str | list[str]
    dimensions: int | None = None
    user: str | None = None
    switchyard: SwitchyardOptions | None = None


# --- answers ------------------------------------------------------------------------------------


class ErrorObject(BaseModel):
    message: str
    type: str = Field(description="the Switchyard error's class, or OpenAI's kind of error")
    code: int | str = Field(description="OpenAI's code where it has one, else the HTTP status")
    param: str | None = Field(default=None, description="the field to blame, where one is")
    detail: dict[str, Any] | None = Field(default=None, description="the error's own fields")
    switchyard: Route | None = Field(default=None, description="the route the call had taken")


class ErrorBody(BaseModel):
    """OpenAI's error shape, so OpenAI's SDKs raise their matching exception class."""

    error: ErrorObject


class AnswerMessage(BaseModel):
    role: Literal["assistant"]
    content: str | None
    tool_calls: list[WireToolCall] | None = None


class Choice(BaseModel):
    index: int
    message: AnswerMessage
    finish_reason: FinishReason


class PromptTokensDetails(BaseModel):
    cached_tokens: int


class ChatUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str | None
    choices: list[Choice]
    usage: ChatUsage
    switchyard: Route


class Embedding(BaseModel):
    object: Literal["embedding"]
    index: int
    embedding: list[float]


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(BaseModel):
    object: Literal["list"]
    data: list[Embedding]
    model: str | None
    usage: EmbeddingUsage
    switchyard: Route


class ListedModel(BaseModel):
    id: str
    object: Literal["model"]
    owned_by: str
    switchyard: dict[str, Any] = Field(description="shortcut or model: what it resolves to, ...")


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ListedModel]


class ProviderList(BaseModel):
    object: Literal["list"]
    data: list[dict[str, Any]] = Field(description="each provider's adapter and breaker state")


class Spend(BaseModel):
    object: Literal["list"]
    group_by: list[str]
    data: list[dict[str, Any]] = Field(description="one row per group: calls, tokens, cost")
    free_tiers: list[dict[str, Any]]
    budgets: list[dict[str, Any]]


class Health(BaseModel):
    status: Literal["ok"]
    directory: str
    refused_directory: str | None = Field(
        default=None, description="why the last directory or tenants config was refused"
    )


class ListedKey(ApiKey):
    object: Literal["api_key"]


class CreatedKey(ListedKey):
    key: str = Field(description="the key itself: in this answer and nowhere else, ever")


class KeyList(BaseModel):
    object: Literal["list"]
    data: list[ListedKey]


# --- streams ------------------------------------------------------------------------------------


class ChunkChoice(BaseModel):
    index: int
    delta: dict[str, Any] = Field(description="role, content, or tool-call pieces")
    finish_reason: FinishReason | None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str | None
    choices: list[ChunkChoice]
    usage: ChatUsage | None = None


class RouteEvent(BaseModel):
    """The last event before `[DONE]`: the whole route. OpenAI's SDKs skip it (no choices)."""

    object: Literal["switchyard.route"]
    choices: list[Any] = Field(max_length=0)
    switchyard: Route


STREAM_EVENTS = (ChatCompletionChunk, RouteEvent, ErrorBody)


def stream_event(ref: dict[type[BaseModel], dict[str, Any]]) -> dict[str, Any]:
    """One event of a streamed chat answer: `data:` is `[DONE]` or one of `STREAM_EVENTS`."""
    payload = {
        "contentMediaType": "application/json",
        "contentSchema": {"oneOf": [ref[model] for model in STREAM_EVENTS]},
    }
    return {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {"type": "string", "if": {"const": "[DONE]"}, "else": payload},
        },
    }
