"""The canonical types cross processes as one JSON string each (`_Frozen.__reduce__`): every
field, nested models, aliases and provider pass-through must come back equal, through Ray's
cloudpickle as through the standard pickle."""

from __future__ import annotations

import pickle

import pytest
from ray import cloudpickle

from deployments.canonical import (
    AnthropicExtras,
    Attempt,
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    ImagePart,
    ImageURL,
    JsonSchemaFormat,
    Message,
    ResponseFormat,
    TextPart,
    ThinkingBlock,
    ThinkingDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
    _Frozen,
)

FULL_REQUEST = ChatRequest(
    model="gpt-oss-20b",
    messages=[
        Message(role="system", content="Be terse."),
        Message(
            role="user",
            content=[
                TextPart(text="What is in this picture? ünïcödé"),
                ImagePart(image_url=ImageURL(url="data:image/png;base64,AAAA", detail="low")),
            ],
        ),
        Message(
            role="assistant", tool_calls=[ToolCall(id="c1", name="look", arguments='{"x": 1}')]
        ),
        Message(role="tool", tool_call_id="c1", content="a cat", name="look"),
    ],
    temperature=0.3,
    top_p=0.9,
    max_tokens=64,
    stop=["\n\n"],
    tools=[ToolSpec(name="look", description="looks", parameters={"type": "object"})],
    tool_choice="look",
    response_format=ResponseFormat(
        type="json_schema",
        json_schema=JsonSchemaFormat(name="answer", schema={"type": "object"}, strict=True),
    ),
    seed=7,
    anthropic_extras=AnthropicExtras(
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        cache_control={"type": "ephemeral"},
    ),
)

VALUES: list[_Frozen] = [
    FULL_REQUEST,
    ChatRequest(model="m", messages=[Message(role="user", content="hi")]),
    ChatResult(
        text="hello",
        tool_calls=[ToolCall(id="c", name="n", arguments="{}")],
        thinking=[ThinkingBlock(thinking="hmm", signature="sig")],
        finish_reason="tool_calls",
        usage=Usage(input_tokens=10, output_tokens=2, cached_input_tokens=4, estimated=True),
        provider_model="gpt-oss-20b",
        provider_request_id="req_1",
    ),
    ChatChunk(
        text="he",
        tool_calls=[ToolCallDelta(index=0, id="c", name="n", arguments="{")],
        thinking=ThinkingDelta(block=0, thinking="h"),
        usage_so_far=Usage(input_tokens=3),
    ),
    EmbeddingResult(vectors=[[0.1, -2.5e-08, 1 / 3]], provider_model="minilm"),
    Attempt(model="m", provider="p", outcome="failed", status=503, duration_ms=1.25),
]


@pytest.mark.parametrize("dumps", [cloudpickle.dumps, pickle.dumps], ids=["cloudpickle", "pickle"])
@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_a_canonical_value_comes_back_equal(value: _Frozen, dumps: object) -> None:
    assert callable(dumps)
    back = pickle.loads(dumps(value))
    assert type(back) is type(value)
    assert back == value


def test_an_alias_field_survives_by_its_wire_name() -> None:
    back = pickle.loads(cloudpickle.dumps(FULL_REQUEST))
    assert back.response_format is not None and back.response_format.json_schema is not None
    assert back.response_format.json_schema.schema_ == {"type": "object"}
