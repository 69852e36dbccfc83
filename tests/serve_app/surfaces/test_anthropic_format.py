"""Anthropic's Messages format to canonical and back, as plain dicts: what the surface's SDK tests
(test_anthropic_surface.py) cannot reach through the mini directory (images, documents)."""

from __future__ import annotations

import pytest

from deployments.canonical import (
    ChatChunk,
    ChatResult,
    ImagePart,
    TextPart,
    ThinkingBlock,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
)
from serve_app.surfaces.anthropic_format import (
    AnthropicFormatError,
    StreamWriter,
    message_to_anthropic,
    request_from_anthropic,
    tool_input,
)

PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
HI: dict[str, object] = {"role": "user", "content": "hi"}
WEATHER = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def body(*messages: dict[str, object], **fields: object) -> dict[str, object]:
    return {"model": "smart", "max_tokens": 32, "messages": list(messages), **fields}


def test_images_become_data_or_plain_urls_and_text_documents_text() -> None:
    parsed = request_from_anthropic(
        body(
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": PNG},
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                    {"type": "document", "source": {"type": "text", "data": "the contract"}},
                    {"type": "text", "text": "Compare."},
                ],
            }
        )
    )
    (message,) = parsed.request.messages
    assert isinstance(message.content, list)
    first, second, document, text = message.content
    assert (
        isinstance(first, ImagePart) and first.image_url.url == "data:image/png;base64,iVBORw0KGgo="
    )
    assert isinstance(second, ImagePart) and second.image_url.url == "https://x.test/a.png"
    assert document == TextPart(text="the contract") and text == TextPart(text="Compare.")
    assert parsed.dropped == []


def test_a_user_turns_tool_results_come_first_as_tool_messages() -> None:
    parsed = request_from_anthropic(
        body(
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Looking."},
                    {"type": "tool_use", "id": "t1", "name": "w", "input": {"city": "Oslo"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Also, hurry."},
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "snow"}],
                        "is_error": True,
                    },
                ],
            },
        )
    )
    roles = [(m.role, m.text(), m.tool_call_id) for m in parsed.request.messages]
    assert roles == [
        ("user", "Weather?", None),
        ("assistant", "Looking.", None),
        ("tool", "snow", "t1"),
        ("user", "Also, hurry.", None),
    ]
    calls = parsed.request.messages[1].tool_calls
    assert calls is not None and calls[0].arguments == '{"city": "Oslo"}'
    assert parsed.dropped == ["tool_result is_error"]


def test_what_cannot_be_carried_is_noted_once_each() -> None:
    parsed = request_from_anthropic(
        body(
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "ok", "cache_control": {"type": "ephemeral"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "document", "source": {**PNG, "media_type": "application/pdf"}},
                    {"type": "text", "text": "read", "cache_control": {"type": "ephemeral"}},
                ],
            },
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
    )
    assert sorted(parsed.dropped) == [
        "cache_control",
        "document source base64",
        "server tools",
        "thinking",
        "thinking blocks",
    ]
    assert parsed.request.tools is None
    # An Anthropic model gets the rest as the caller sent it: the PDF, thinking, the marks.
    assert sorted(parsed.dropped_by_anthropic) == ["server tools"]
    extras = parsed.request.anthropic_extras
    assert extras is not None and extras.tools is None  # the server tool stays out
    assert extras.thinking == {"type": "enabled", "budget_tokens": 1024}
    assert extras.messages[1]["content"][0]["source"]["media_type"] == "application/pdf"
    assert extras.messages[0]["content"][0]["signature"] == "s"


def test_the_callers_blocks_are_kept_only_when_the_canonical_call_loses_something() -> None:
    marked = {"type": "text", "text": "rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    tool = {**WEATHER, "cache_control": {"type": "ephemeral"}}
    parsed = request_from_anthropic(
        body({"role": "user", "content": "hi"}, system=[marked], tools=[tool])
    )
    extras = parsed.request.anthropic_extras
    assert extras is not None and extras.system == [marked] and extras.tools == [tool]
    assert extras.params()["system"] == [marked] and "thinking" not in extras.params()
    assert parsed.dropped == ["cache_control"] and parsed.dropped_by_anthropic == []

    automatic = request_from_anthropic(
        body({"role": "user", "content": "hi"}, cache_control={"type": "ephemeral"})
    )
    assert automatic.request.anthropic_extras is not None
    assert automatic.request.anthropic_extras.params()["cache_control"] == {"type": "ephemeral"}

    for plain in (body({"role": "user", "content": "hi"}), body(HI, top_k=5)):
        assert request_from_anthropic(plain).request.anthropic_extras is None


def test_thinking_blocks_lead_the_answer_whole_and_streamed() -> None:
    thought = ThinkingBlock(thinking="Consider the rivers.", signature="sig")
    hidden = ThinkingBlock(type="redacted_thinking", data="opaque")
    result = ChatResult(text="Nile.", thinking=[thought, hidden], provider_model="m")
    content = message_to_anthropic(result, id="msg_1", model="m")["content"]
    assert content == [
        {"type": "thinking", "thinking": "Consider the rivers.", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "Nile."},
    ]

    writer = StreamWriter(id="msg_1", model="m")
    events = writer.start(None)
    for chunk in (
        ChatChunk(thinking=ThinkingDelta(block=0, thinking="Consider ")),
        ChatChunk(thinking=ThinkingDelta(block=0, thinking="the rivers.")),
        ChatChunk(thinking=ThinkingDelta(block=0, signature="sig")),
        ChatChunk(thinking=ThinkingDelta(block=1, type="redacted_thinking", data="opaque")),
        ChatChunk(text="Nile."),
    ):
        events += writer.feed(chunk)
    events += writer.finish()
    blocks = [(n, d) for n, d in events if n.startswith("content_block")]
    assert [(n, d["index"]) for n, d in blocks] == [
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_delta", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_stop", 1),
        ("content_block_start", 2),
        ("content_block_delta", 2),
        ("content_block_stop", 2),
    ]
    assert blocks[0][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert [d["delta"] for n, d in blocks[1:4]] == [
        {"type": "thinking_delta", "thinking": "Consider "},
        {"type": "thinking_delta", "thinking": "the rivers."},
        {"type": "signature_delta", "signature": "sig"},
    ]
    assert blocks[5][1]["content_block"] == {"type": "redacted_thinking", "data": "opaque"}


def test_max_tokens_is_required_as_anthropic_requires_it() -> None:
    with pytest.raises(AnthropicFormatError, match="max_tokens"):
        request_from_anthropic({"model": "smart", "messages": [{"role": "user", "content": "x"}]})


def test_arguments_that_are_no_json_object_are_kept_not_lost() -> None:
    assert tool_input('{"a": 1}') == {"a": 1}
    assert tool_input("") == {}
    assert tool_input("[1, 2]") == {"_arguments": "[1, 2]"}
    assert tool_input("{oops") == {"_arguments": "{oops"}


def test_text_then_two_tool_calls_are_three_blocks_in_order() -> None:
    writer = StreamWriter(id="msg_1", model="m")
    events = writer.start(Usage(input_tokens=9))
    for chunk in (
        ChatChunk(text="Let me check."),
        ChatChunk(tool_calls=[ToolCallDelta(index=0, id="a", name="f", arguments="{}")]),
        ChatChunk(tool_calls=[ToolCallDelta(index=1, id="b", name="g")]),
        ChatChunk(tool_calls=[ToolCallDelta(index=1, arguments='{"x":1}')]),
        ChatChunk(finish_reason="tool_calls", usage=Usage(input_tokens=9, output_tokens=5)),
    ):
        events += writer.feed(chunk)
    events += writer.finish()
    starts = [
        (d["index"], d["content_block"]["type"]) for n, d in events if n == "content_block_start"
    ]
    assert starts == [(0, "text"), (1, "tool_use"), (2, "tool_use")]
    stops = [d["index"] for n, d in events if n == "content_block_stop"]
    assert stops == [0, 1, 2]
    assert events[0][1]["message"]["usage"]["input_tokens"] == 9
    name, delta = events[-2]
    assert name == "message_delta" and delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"]["output_tokens"] == 5
