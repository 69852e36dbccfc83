"""Limits on what a request may be, checked before anything is planned or sent anywhere.

Bad input gets a clear 4xx, never a 5xx: a body over `max_body_bytes` is a 413 (refused from its
Content-Length before it is read, or as soon as the bytes read pass the limit); a body that is not
`application/json` is a 415, because a web page can send a form post to a gateway on localhost
with no CORS preflight, and that post must not spend; JSON nested deeper than `max_json_depth`,
more than `max_messages` messages (embedding inputs) or one longer than `max_content_chars`
characters is a 400 naming the field. What no model can take (a prompt over every context window,
`max_tokens` over every output limit, an image or tools for a chain without them) is the plan's
to say (`serve_app.routing.plan`), also as a 400.

The limits travel in the Ingress's `user_config` (`AppArgs.limits`), so `serve deploy` changes
them with no restart; README's "Request limits" lists the defaults.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from deployments.canonical import ChatRequest, EmbeddingRequest
from serve_app.surfaces.openai import WireError


class RequestLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Room for a long prompt and a few base64 images; the largest context window in the shipped
    # directory (~1M tokens) is ~4 MB of text.
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    # OpenAI bodies are a few levels deep; tool and JSON schemas add some. Kept well under
    # Python's recursion limit, which the parser, pydantic and pickling all run into.
    max_json_depth: int = Field(default=64, gt=0, le=500)
    max_messages: int = Field(default=4096, gt=0)
    max_content_chars: int = Field(default=4_000_000, gt=0)


async def read_json(request: Request, limits: RequestLimits) -> Any:
    """The request's JSON body, within the limits; else a `WireError` with its status."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise WireError(
            f"Content-Type must be application/json, not {media_type or 'missing'}", status=415
        )
    too_large = WireError(
        f"the body is over the limit of {limits.max_body_bytes} bytes", status=413
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise too_large
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limits.max_body_bytes:
            raise too_large
    try:
        parsed = json.loads(body)
    except RecursionError:
        parsed = None  # deeper than the parser goes: certainly deeper than the limit
        depth = limits.max_json_depth + 1
    except ValueError:  # UnicodeDecodeError included
        raise WireError("the body is not valid JSON") from None
    else:
        # Every level opens with `{` or `[`, so their count bounds the depth from above (brackets
        # inside strings only raise it): a body with no more of them than the limit needs no
        # walk. Counting bytes runs in C; the walk is Python, ~2 % of an Ingress's CPU per call.
        if body.count(b"{") + body.count(b"[") <= limits.max_json_depth:
            depth = 0
        else:
            depth = _depth(parsed, limits.max_json_depth)
    if depth > limits.max_json_depth:
        raise WireError(f"the body's JSON is nested deeper than {limits.max_json_depth} levels")
    return parsed


def _depth(value: Any, limit: int) -> int:
    """How deep `value` nests, counted up to `limit + 1` (no further: that is enough to refuse).
    Iterative, so a deep body cannot exhaust the stack."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def check_chat(request: ChatRequest, limits: RequestLimits) -> None:
    texts = [message.text() for message in request.messages]
    _check_texts(texts, limits, field="messages", noun="messages", part=".content")


def check_embedding(request: EmbeddingRequest, limits: RequestLimits) -> None:
    _check_texts(request.inputs, limits, field="input", noun="inputs", part="")


def _check_texts(
    texts: list[str], limits: RequestLimits, *, field: str, noun: str, part: str
) -> None:
    """At most `max_messages` texts, none longer than `max_content_chars`; else a 400 naming the
    field (`messages`, `messages.3.content`)."""
    if len(texts) > limits.max_messages:
        raise WireError(
            f"{field}: {len(texts)} {noun}, over the limit of {limits.max_messages}", param=field
        )
    for index, text in enumerate(texts):
        if len(text) > limits.max_content_chars:
            where = f"{field}.{index}{part}"
            raise WireError(
                f"{where}: {len(text)} characters, over the limit of {limits.max_content_chars}",
                param=where,
            )
