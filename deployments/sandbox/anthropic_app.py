"""The Anthropic sandbox: the Messages API, whole and streamed, and token counting.

Usage follows Anthropic's convention: `input_tokens` is only the part of the prompt that was
neither read from nor written to the cache, so `input_tokens + cache_read_input_tokens +
cache_creation_input_tokens` is the prompt's word count (the script's `cached_input_tokens` and
`cache_write_tokens`, clamped to the prompt).

A stream is Anthropic's event sequence: message_start, content_block_start, ping,
content_block_delta (text_delta, or input_json_delta for a tool call)…, content_block_stop,
message_delta (stop_reason, usage.output_tokens), message_stop.

Unscripted, the cache parts come from the request's `cache_control` marks (`prompt_cache`): the
first request with a marked prefix writes it, later ones read it. A request that asks for
`thinking` (enabled or adaptive) gets a thinking block before its answer, signed; its words count
as output, as Anthropic bills thinking. A thinking block passed back in an assistant turn must
carry the signature the sandbox gave it, or the request is refused with a 400, as Anthropic
refuses a block that was changed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from deployments.sandbox.answer import Answer, Finish, Prompt, ToolSpec, answer
from deployments.sandbox.asgi import (
    CutBody,
    EventStream,
    delay_start,
    dumps,
    generation_time,
    json_response,
    malformed_json,
    pace,
    parse_json_object,
    retry_after_headers,
)
from deployments.sandbox.control import control_routes
from deployments.sandbox.prompt_cache import CacheUse, PromptCache
from deployments.sandbox.script import Fault, Plan, Scriptbook
from deployments.sandbox.text import count_words, generate_text, key_digest, pieces

_STOP_REASON = {Finish.STOP: "end_turn", Finish.LENGTH: "max_tokens", Finish.TOOL_CALL: "tool_use"}
_NO_INPUT: dict[str, Any] = {"type": "object", "properties": {}}


# --- errors, in Anthropic's shape ---------------------------------------------------------------


def _error(
    status: int, type_: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    body = {
        "type": "error",
        "error": {"type": type_, "message": message},
        "request_id": "req_sandbox",
    }
    return json_response(body, status, {"request-id": "req_sandbox", **(headers or {})})


def _fault_error(plan: Plan, input_tokens: int) -> Response | None:
    fault = plan.fault
    if fault is Fault.HTTP_500:
        return _error(500, "api_error", "Internal server error (sandbox)")
    if fault is Fault.HTTP_503:
        return _error(503, "api_error", "Service unavailable (sandbox)")
    if fault is Fault.OVERLOADED:
        return _error(529, "overloaded_error", "Overloaded (sandbox)")
    if fault is Fault.HTTP_429:
        return _error(
            429,
            "rate_limit_error",
            "This request would exceed the rate limit for your organization. (sandbox)",
            retry_after_headers(plan.script.retry_after_s),
        )
    if fault is Fault.QUOTA_EXHAUSTED:
        return _error(
            429,
            "rate_limit_error",
            "You have reached your specified API usage limits. (sandbox)",
        )
    if fault is Fault.HTTP_401:
        return _error(401, "authentication_error", "invalid x-api-key (sandbox)")
    if fault is Fault.HTTP_400:
        return _error(400, "invalid_request_error", "Invalid request (sandbox)")
    if fault is Fault.CONTEXT_LENGTH:
        window = plan.context_window
        return _error(
            400,
            "invalid_request_error",
            f"prompt is too long: {window + input_tokens} tokens > {window} maximum",
        )
    return None


def _bad_request(message: str) -> Response:
    return _error(400, "invalid_request_error", message)


# --- reading a request --------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    """Text of a content: a string, or its text blocks and tool results joined."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_result":
            texts.append(_text_of(block.get("content")))
    return " ".join(texts)


def _tool_result(message: dict[str, Any]) -> str | None:
    content = message.get("content")
    if message.get("role") != "user" or not isinstance(content, list):
        return None
    results = [
        _text_of(b.get("content"))
        for b in content
        if isinstance(b, dict) and b.get("type") == "tool_result"
    ]
    return " ".join(results) if results else None


def _chosen_tool(body: dict[str, Any]) -> ToolSpec | None:
    # Server tools (web search, …) have no input_schema; only client tools can be called here.
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and "input_schema" in t]
    choice = body.get("tool_choice")
    if not isinstance(choice, dict):
        choice = {"type": "auto"}
    if not tools or choice.get("type") == "none":
        return None
    if choice.get("type") == "tool":
        tools = [t for t in tools if t.get("name") == choice.get("name")] or tools
    return ToolSpec(
        name=str(tools[0].get("name")), parameters=tools[0].get("input_schema") or _NO_INPUT
    )


def _json_schema(body: dict[str, Any]) -> Any:
    """The schema of structured output: `output_config.format`, or the older `output_format`."""
    config = body.get("output_config")
    spec = config.get("format") if isinstance(config, dict) else body.get("output_format")
    if isinstance(spec, dict) and spec.get("type") == "json_schema":
        return spec.get("schema") or {}
    return None


def _read_messages(body: dict[str, Any], model: str) -> Prompt | Response:
    messages = body.get("messages")
    if (
        not isinstance(messages, list)
        or not messages
        or not all(isinstance(m, dict) for m in messages)
    ):
        return _bad_request("messages: at least one message is required")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or max_tokens < 1:
        return _bad_request("max_tokens: Field required (a positive integer)")
    return Prompt(
        model=model,
        texts=[_text_of(body.get("system")), *(_text_of(m.get("content")) for m in messages)],
        tool=_chosen_tool(body),
        tool_result=_tool_result(messages[-1]),
        max_tokens=max_tokens,
        json_schema=_json_schema(body),
    )


# --- writing an answer --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reply:
    """What one request gets beyond the neutral answer: its cache use and thinking."""

    cache: CacheUse
    thinking: str | None = None

    @property
    def thinking_tokens(self) -> int:
        return count_words(self.thinking) if self.thinking is not None else 0

    def thinking_block(self, streamed: bool) -> dict[str, Any]:
        text = self.thinking or ""
        empty = streamed  # a stream's block starts empty; deltas fill it
        return {
            "type": "thinking",
            "thinking": "" if empty else text,
            "signature": "" if empty else _signature(text),
        }


def _signature(thinking: str) -> str:
    return "sandbox_sig_" + key_digest("thinking\x1f" + thinking, size=24)


def _thinking_asked(body: dict[str, Any]) -> bool:
    config = body.get("thinking")
    return isinstance(config, dict) and config.get("type") in ("enabled", "adaptive")


def _unsigned_thinking(body: dict[str, Any]) -> Response | None:
    """A 400 for a thinking block passed back changed or without its signature."""
    for i, message in enumerate(body.get("messages") or ()):
        content = message.get("content") if isinstance(message, dict) else None
        for j, block in enumerate(content if isinstance(content, list) else ()):
            if not isinstance(block, dict) or block.get("type") != "thinking":
                continue
            if not isinstance(block.get("signature"), str):
                return _bad_request(f"messages.{i}.content.{j}.thinking.signature: Field required")
            if block["signature"] != _signature(str(block.get("thinking"))):
                return _bad_request(
                    f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                )
    return None


def _usage(ans: Answer, plan: Plan, reply: _Reply, output_tokens: int) -> dict[str, Any]:
    # The script's cache parts, where it gives any; else what the cache_control marks did.
    scripted = plan.script.cached_input_tokens or plan.script.cache_write_tokens
    use = (
        CacheUse(plan.script.cached_input_tokens, plan.script.cache_write_tokens)
        if scripted
        else reply.cache
    )
    read = min(use.read, ans.input_tokens)
    written = min(use.written, ans.input_tokens - read)
    one_hour = min(use.written_1h, written)
    return {
        "input_tokens": ans.input_tokens - read - written,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": written - one_hour,
            "ephemeral_1h_input_tokens": one_hour,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _block(ans: Answer, streamed: bool) -> dict[str, Any]:
    if ans.tool_name is not None:
        arguments = {} if streamed else ans.tool_arguments
        return {
            "type": "tool_use",
            "id": f"toolu_{ans.digest}",
            "name": ans.tool_name,
            "input": arguments,
        }
    return {"type": "text", "text": "" if streamed else ans.text}


def _message(
    ans: Answer, plan: Plan, reply: _Reply, model: str, message_id: str, streamed: bool
) -> dict[str, Any]:
    content = [_block(ans, streamed=False)]
    if reply.thinking is not None:
        content.insert(0, reply.thinking_block(streamed=False))
    output = ans.output_tokens + reply.thinking_tokens
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [] if streamed else content,
        "stop_reason": None if streamed else _STOP_REASON[ans.finish],
        "stop_sequence": None,
        # A stream's message_start reports the output so far (1, as Anthropic's does);
        # message_delta reports the rest.
        "usage": _usage(ans, plan, reply, 1 if streamed else output),
    }


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + dumps(data) + b"\n\n"


def _start(index: int, block: dict[str, Any]) -> bytes:
    return _event(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )


def _delta(index: int, delta: dict[str, Any]) -> bytes:
    return _event(
        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
    )


def _stop(index: int) -> bytes:
    return _event("content_block_stop", {"type": "content_block_stop", "index": index})


def _events(
    ans: Answer, plan: Plan, reply: _Reply, model: str, message_id: str
) -> list[tuple[float, bytes]]:
    message = _message(ans, plan, reply, model, message_id, True)
    head = [_event("message_start", {"type": "message_start", "message": message})]
    content: list[bytes] = []
    index = 0
    if reply.thinking is not None:  # the thinking block first, then its signature
        head += [_start(0, reply.thinking_block(streamed=True)), _event("ping", {"type": "ping"})]
        content += [
            _delta(0, {"type": "thinking_delta", "thinking": p}) for p in pieces(reply.thinking)
        ]
        signature = _signature(reply.thinking)
        content += [_delta(0, {"type": "signature_delta", "signature": signature}), _stop(0)]
        content.append(_start(1, _block(ans, True)))
        index = 1
    else:
        head += [_start(0, _block(ans, True)), _event("ping", {"type": "ping"})]
    if ans.tool_name is not None:
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in ans.deltas()]
    else:
        deltas = [{"type": "text_delta", "text": piece} for piece in ans.deltas()]
    content += [_delta(index, delta) for delta in deltas]
    tail = [
        _stop(index),
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": _STOP_REASON[ans.finish], "stop_sequence": None},
                "usage": {"output_tokens": ans.output_tokens + reply.thinking_tokens},
            },
        ),
        _event("message_stop", {"type": "message_stop"}),
    ]
    return pace(plan, head, content, tail)


# --- the app ------------------------------------------------------------------------------------


def build_anthropic_app(book: Scriptbook | None = None) -> Starlette:
    """The Anthropic sandbox as an ASGI app; its scriptbook is `app.state.book`."""
    book = book or Scriptbook()
    ids = itertools.count(1)
    cache = PromptCache()

    async def messages(request: Request) -> Response:
        body = parse_json_object(await request.body())
        if body is None:
            return _bad_request("The request body is not valid JSON. (sandbox)")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _bad_request("model: Field required")
        plan = book.begin(model)
        prompt = _read_messages(body, model)
        if isinstance(prompt, Response):
            return prompt
        if (refused := _unsigned_thinking(body)) is not None:
            return refused
        stream = body.get("stream") is True
        ans = answer(prompt, plan.script.output_tokens)
        if (interrupted := await delay_start(plan, request)) is not None:
            return interrupted
        if (error := _fault_error(plan, ans.input_tokens)) is not None:
            return error
        if plan.fault is Fault.MALFORMED_JSON:
            return malformed_json(stream, plan.closing, event_line=b"event: message_start\n")
        message_id = f"msg_sandbox{next(ids)}"
        thinking = generate_text(ans.digest + "\x1fthinking", 8) if _thinking_asked(body) else None
        reply = _Reply(cache.use(body), thinking)
        cut = plan.script.n if plan.fault is Fault.CUT_STREAM_AFTER_N_CHUNKS else None
        if stream:
            return EventStream(
                _events(ans, plan, reply, model, message_id),
                plan.closing,
                cut,
                {"request-id": "req_sandbox"},
            )
        if (interrupted := await generation_time(plan, request, ans.output_tokens)) is not None:
            return interrupted
        message = _message(ans, plan, reply, model, message_id, streamed=False)
        return CutBody(dumps(message)) if cut is not None else json_response(message)

    async def count_tokens(request: Request) -> Response:
        body = parse_json_object(await request.body())
        if body is None:
            return _bad_request("The request body is not valid JSON. (sandbox)")
        prompt = _read_messages({"max_tokens": 1, **body}, str(body.get("model", "")))
        if isinstance(prompt, Response):
            return prompt
        return json_response({"input_tokens": sum(count_words(t) for t in prompt.texts)})

    app = Starlette(
        routes=[
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
            *control_routes(book),
        ]
    )
    app.state.book = book
    return app
