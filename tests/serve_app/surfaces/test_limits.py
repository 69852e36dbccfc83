"""The request limits as units: how depth is counted, what a limits config may say, and what the
chat and embedding checks name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from deployments.canonical import ChatRequest, EmbeddingRequest, Message, TextPart
from serve_app.app.builder import AppArgs
from serve_app.surfaces.limits import RequestLimits, _depth, check_chat, check_embedding
from serve_app.surfaces.openai import WireError


@pytest.mark.parametrize(
    ("value", "depth"),
    [("text", 0), ({}, 1), ([1, 2], 1), ({"a": [{"b": 1}]}, 3), ([[], [[[]]], {}], 4)],
)
def test_depth_counts_nested_objects_and_arrays(value: object, depth: int) -> None:
    assert _depth(value, limit=10) == depth


def test_depth_stops_counting_past_the_limit() -> None:
    deep: object = []
    for _ in range(10_000):  # deeper than any recursive walk could go
        deep = [deep]
    assert _depth(deep, limit=64) == 65


def test_a_limits_config_is_checked_and_rides_in_the_app_args() -> None:
    with pytest.raises(ValidationError):
        RequestLimits(max_json_depth=5000)  # past what the parser itself can take
    with pytest.raises(ValidationError):
        RequestLimits.model_validate({"max_body_byte": 10})
    args = AppArgs.model_validate({"limits": {"max_messages": 10}})
    assert args.limits.max_messages == 10
    assert args.limits.max_body_bytes == RequestLimits().max_body_bytes


def test_content_length_counts_every_text_part_of_a_message() -> None:
    limits = RequestLimits(max_content_chars=10)
    parts = [TextPart(text="a" * 6), TextPart(text="b" * 6)]
    request = ChatRequest(
        model="", messages=[Message(role="user", content="ok"), Message(role="user", content=parts)]
    )
    with pytest.raises(WireError) as caught:
        check_chat(request, limits)
    assert (caught.value.status, caught.value.param) == (400, "messages.1.content")
    assert "12 characters, over the limit of 10" in str(caught.value)


def test_embedding_inputs_are_held_to_the_same_limits() -> None:
    limits = RequestLimits(max_messages=2, max_content_chars=3)
    check_embedding(EmbeddingRequest(model="", inputs=["abc", "de"]), limits)
    with pytest.raises(WireError, match=r"input\.1: 4 characters"):
        check_embedding(EmbeddingRequest(model="", inputs=["abc", "defg"]), limits)
