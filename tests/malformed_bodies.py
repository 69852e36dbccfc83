"""The six malformed chat bodies of issue 12 that once got a 5xx, with the 4xx each must get and
a piece of text its error must name. The ASGI tests (tests/serve_app/surfaces/test_bad_input.py)
and the cluster test (tests/integration/test_openai_api.py) post the same bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Malformed:
    body: bytes
    status: int
    named: str  # a piece of the error's message


def _chat(model: str, **fields: object) -> bytes:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **fields}
    return json.dumps(body).encode()


def malformed_bodies(model: str, *, without_vision: str) -> dict[str, Malformed]:
    """Bodies for `model`; `without_vision` names a chain of which no model takes images."""
    history = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": ["get_weather", 3]},
    ]
    huge = [{"role": "user", "content": "a" * 20_000_000}]
    image = [
        {"type": "text", "text": "what is in it?"},
        {"type": "image_url", "image_url": {"url": "http://example.com/cat.png"}},
    ]
    return {
        "tool_choice with a string function": Malformed(
            _chat(model, tool_choice={"type": "function", "function": "get_weather"}),
            400,
            "tool_choice.function",
        ),
        "tool_calls entries that are not objects": Malformed(
            json.dumps({"model": model, "messages": history}).encode(),
            400,
            "messages.1.tool_calls.0",
        ),
        "JSON nested 5,000 deep": Malformed(
            _chat(model)[:-1] + b', "metadata": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            400,
            "nested deeper",
        ),
        "max_tokens 10^12": Malformed(_chat(model, max_tokens=10**12), 400, "max_tokens"),
        "a 20 MB message": Malformed(
            json.dumps({"model": model, "messages": huge}).encode(),
            413,
            "over the limit",
        ),
        "an image by http URL for a chain without vision": Malformed(
            json.dumps(
                {"model": without_vision, "messages": [{"role": "user", "content": image}]}
            ).encode(),
            400,
            "no image input",
        ),
    }
