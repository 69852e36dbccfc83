"""The OpenAI codec: what one side writes, the other reads back the same; errors keep their class.

The adapter's side of it (the SDK on the wire) is covered by tests/deployments/cloud's fixture
tests; these check the codec's own promises, through JSON where a wire is in between.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from deployments import errors, openai_format
from deployments.canonical import (
    ChatChunk,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from tests.deployments.cloud.test_adapter_fixtures import _rich_request
from tests.deployments.test_errors import ERROR_CLASSES, _build

USAGE = Usage(input_tokens=12, output_tokens=5, cached_input_tokens=4)


def _over_json(payload: dict[str, Any]) -> Any:
    return json.loads(json.dumps(payload))


def test_a_request_reads_back_as_it_was_written() -> None:
    request = _rich_request()
    body = _over_json(openai_format.chat_request_to_openai(request))
    assert openai_format.chat_request_from_openai(body) == request


def test_the_receivers_spellings_are_used() -> None:
    body = openai_format.chat_request_to_openai(
        _rich_request(), max_tokens_field="max_completion_tokens", developer_role="system"
    )
    assert body["max_completion_tokens"] == 300 and "max_tokens" not in body
    assert [m["role"] for m in body["messages"]][:2] == ["system", "system"]
    # …and either spelling reads back as the canonical max_tokens.
    assert openai_format.chat_request_from_openai(body).max_tokens == 300


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 2}, "n:"),
        ({"model": "m", "messages": []}, "messages"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "m", "messages": [{"role": "robot", "content": "hi"}]}, "role"),
    ],
)
def test_a_body_that_is_no_valid_request_is_refused_naming_the_field(
    body: dict[str, Any], named: str
) -> None:
    with pytest.raises(openai_format.OpenAIFormatError, match=named):
        openai_format.chat_request_from_openai(body)


def test_a_whole_answer_reads_back_as_it_was_written() -> None:
    result = ChatResult(
        text="It is sunny.",
        tool_calls=[ToolCall(id="call_1", name="get_weather", arguments='{"city":"Paris"}')],
        finish_reason="tool_calls",
        usage=USAGE,
        provider_model="smart-model",
        provider_request_id="chatcmpl-1",
    )
    body = openai_format.chat_result_to_openai(
        result, id="chatcmpl-1", model="smart-model", created=1
    )
    assert body["usage"]["total_tokens"] == 17
    assert openai_format.chat_result_from_openai(_over_json(body)) == result


def test_a_completion_without_choices_is_malformed() -> None:
    with pytest.raises(ValueError, match="no choices"):
        openai_format.chat_result_from_openai({"model": "m", "choices": []})


@pytest.mark.parametrize(
    "chunk",
    [
        ChatChunk(text="Hel", provider_model="m"),
        ChatChunk(
            tool_calls=[ToolCallDelta(index=0, id="call_1", name="get_weather", arguments="{")],
            provider_model="m",
        ),
        ChatChunk(tool_calls=[ToolCallDelta(index=0, arguments='"Paris"}')], provider_model="m"),
        ChatChunk(finish_reason="stop", usage=USAGE, provider_model="m"),
    ],
    ids=["text", "tool call opens", "tool call arguments", "finish and usage"],
)
def test_a_stream_chunk_reads_back_as_it_was_written(chunk: ChatChunk) -> None:
    event = openai_format.chunk_to_openai(chunk, id="chatcmpl-1", model="m", created=1)
    assert openai_format.chunk_from_openai(_over_json(event)) == chunk


def test_the_opening_role_chunk_carries_nothing() -> None:
    opening = openai_format.role_chunk(id="chatcmpl-1", model="m", created=1)
    assert openai_format.chunk_from_openai(opening) is None


def test_finish_reasons_outside_the_canonical_set() -> None:
    assert openai_format.finish_reason_from_openai("function_call") == "tool_calls"
    assert openai_format.finish_reason_from_openai("something_new") == "stop"
    assert openai_format.finish_reason_from_openai(None) is None


def test_embeddings_both_ways() -> None:
    request = openai_format.embedding_request_from_openai({"model": "embed", "input": "one text"})
    assert request == EmbeddingRequest(model="embed", inputs=["one text"])
    assert openai_format.embedding_request_to_openai(request) == {
        "model": "embed",
        "input": ["one text"],
        "encoding_format": "float",
    }
    result = EmbeddingResult(
        vectors=[[0.5, 1.0], [0.0, 2.0]], usage=Usage(input_tokens=4), provider_model="embed"
    )
    body = openai_format.embedding_result_to_openai(result, model="embed")
    body["data"].reverse()  # a server may send them in any order; `index` says where each goes
    assert openai_format.embedding_result_from_openai(_over_json(body)) == result


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_switchyard_error_crosses_json_as_itself(cls: type[errors.SwitchyardError]) -> None:
    original = _build(cls)
    original.__dict__["_private"] = object()  # not a field of the error: stays home
    body = _over_json(openai_format.error_to_openai(original, switchyard={"model": None}))
    # OpenAI's own code where the error has one (`context_length_exceeded`), else the status.
    assert body["error"]["code"] == (getattr(original, "code", None) or original.http_status)
    copy = openai_format.error_from_openai(body)
    assert type(copy) is cls
    assert copy.http_status == original.http_status
    assert str(copy) == str(original)
    assert vars(copy) == {k: v for k, v in vars(original).items() if k != "_private"}


def test_an_error_of_no_switchyard_class_is_not_guessed() -> None:
    body = openai_format.error_body("the body is not valid JSON", "invalid_request_error", 400)
    assert openai_format.error_from_openai(body) is None
