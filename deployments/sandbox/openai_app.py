"""The OpenAI sandbox: chat completions (whole and SSE), embeddings and the model list.

It speaks OpenAI's wire format, so it also stands in for the OpenAI-compatible vendors (Mistral,
Groq, DeepSeek): point their base URL at it and script their model names.

Usage follows OpenAI's convention: `prompt_tokens` counts every prompt token, and
`prompt_tokens_details.cached_tokens` (the script's `cached_input_tokens`, at most the prompt) is a
part of it. With `stream_options.include_usage`, every chunk carries `"usage": null` and a last
chunk with no choices carries the usage, as OpenAI does.
"""

from __future__ import annotations

import base64
import itertools
import json
import struct
import time
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
from deployments.sandbox.script import Fault, Plan, Scriptbook
from deployments.sandbox.text import count_words, embedding

DEFAULT_EMBEDDING_DIMENSIONS = 8
MAX_EMBEDDING_DIMENSIONS = 65_536
_FINISH = {Finish.STOP: "stop", Finish.LENGTH: "length", Finish.TOOL_CALL: "tool_calls"}
_NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


# --- errors, in OpenAI's shape ------------------------------------------------------------------


def _error(
    status: int,
    message: str,
    type_: str,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return json_response(body, status, headers)


def _fault_error(plan: Plan, model: str, input_tokens: int) -> Response | None:
    fault = plan.fault
    if fault is Fault.HTTP_500:
        return _error(
            500, "The server had an error while processing your request. (sandbox)", "server_error"
        )
    if fault in (Fault.HTTP_503, Fault.OVERLOADED):
        return _error(
            503,
            "The engine is currently overloaded, please try again later. (sandbox)",
            "server_error",
        )
    if fault is Fault.HTTP_429:
        return _error(
            429,
            f"Rate limit reached for {model} on requests per min (RPM). (sandbox)",
            "requests",
            code="rate_limit_exceeded",
            headers=retry_after_headers(plan.script.retry_after_s),
        )
    if fault is Fault.QUOTA_EXHAUSTED:
        return _error(
            429,
            "You exceeded your current quota, please check your plan and billing details."
            " (sandbox)",
            "insufficient_quota",
            code="insufficient_quota",
        )
    if fault is Fault.HTTP_401:
        return _error(
            401,
            "Incorrect API key provided. (sandbox)",
            "invalid_request_error",
            code="invalid_api_key",
        )
    if fault is Fault.HTTP_400:
        return _error(400, "Invalid request. (sandbox)", "invalid_request_error")
    if fault is Fault.CONTEXT_LENGTH:
        window = plan.context_window
        return _error(
            400,
            f"This model's maximum context length is {window} tokens. However, your messages "
            f"resulted in {window + input_tokens} tokens. Please reduce the length of the "
            "messages.",
            "invalid_request_error",
            code="context_length_exceeded",
            param="messages",
        )
    return None


def _bad_request(message: str, param: str | None = None) -> Response:
    return _error(400, message, "invalid_request_error", param=param)


# --- reading a request --------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    """A message's text: string content, or its text parts joined (images and audio carry none)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _chosen_tool(body: dict[str, Any]) -> ToolSpec | None:
    tools = [
        t["function"]
        for t in body.get("tools") or ()
        if isinstance(t, dict)
        and t.get("type") == "function"
        and isinstance(t.get("function"), dict)
    ]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        tools = [t for t in tools if t.get("name") == name] or tools
    return ToolSpec(
        name=str(tools[0].get("name")), parameters=tools[0].get("parameters") or _NO_PARAMETERS
    )


def _read_chat(body: dict[str, Any], model: str) -> Prompt | Response:
    messages = body.get("messages")
    if (
        not isinstance(messages, list)
        or not messages
        or not all(isinstance(m, dict) for m in messages)
    ):
        return _bad_request("'messages' must be a non-empty array of objects.", "messages")
    last = messages[-1]
    tool_result = (
        _text_of(last.get("content")) if last.get("role") in ("tool", "function") else None
    )
    response_format = body.get("response_format")
    json_schema: Any = None
    json_mode = False
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_schema":
            spec = response_format.get("json_schema")
            json_schema = (spec.get("schema") if isinstance(spec, dict) else None) or {}
        json_mode = response_format.get("type") == "json_object"
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    return Prompt(
        model=model,
        texts=[_text_of(m.get("content")) for m in messages],
        tool=_chosen_tool(body),
        tool_result=tool_result,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        json_schema=json_schema,
        json_mode=json_mode,
    )


# --- writing an answer --------------------------------------------------------------------------


def _usage(ans: Answer, plan: Plan) -> dict[str, Any]:
    cached = min(plan.script.cached_input_tokens, ans.input_tokens)
    details: dict[str, int] = {"cached_tokens": cached, "audio_tokens": 0}
    if written := min(plan.script.cache_write_tokens, ans.input_tokens - cached):
        details["cache_write_tokens"] = written
    return {
        "prompt_tokens": ans.input_tokens,
        "completion_tokens": ans.output_tokens,
        "total_tokens": ans.input_tokens + ans.output_tokens,
        "prompt_tokens_details": details,
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _tool_call(ans: Answer) -> dict[str, Any]:
    return {
        "id": f"call_{ans.digest}",
        "type": "function",
        "function": {"name": ans.tool_name, "arguments": ans.tool_arguments_json},
    }


def _completion(ans: Answer, plan: Plan, model: str, completion_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "annotations": [],
    }
    if ans.tool_name is not None:
        message["tool_calls"] = [_tool_call(ans)]
    else:
        message["content"] = ans.text
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_sandbox",
        "service_tier": "default",
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": _FINISH[ans.finish]}
        ],
        "usage": _usage(ans, plan),
    }


def _chunks(
    ans: Answer, plan: Plan, model: str, completion_id: str, include_usage: bool
) -> list[tuple[float, bytes]]:
    # Every chunk shares its envelope, so it is encoded once and each chunk adds its delta.
    envelope = dumps(
        {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_sandbox",
            "service_tier": "default",
        }
    )[:-1]
    usage_null = b',"usage":null' if include_usage else b""
    head = b"data: " + envelope + b',"choices":[{"index":0,"delta":'
    middle = b',"logprobs":null,"finish_reason":'
    tail = b"}]" + usage_null + b"}\n\n"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return head + dumps(delta) + middle + dumps(finish) + tail

    if ans.tool_name is not None:
        call = _tool_call(ans)
        call["function"]["arguments"] = ""
        first = chunk({"role": "assistant", "content": None, "tool_calls": [{"index": 0, **call}]})
        content = [
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            for piece in ans.deltas()
        ]
    else:
        first = chunk({"role": "assistant", "content": "", "refusal": None})
        content = [chunk({"content": piece}) for piece in ans.deltas()]
    ending = [chunk({}, _FINISH[ans.finish])]
    if include_usage:
        usage = {"usage": _usage(ans, plan), "choices": []}
        ending.append(b"data: " + envelope + b"," + dumps(usage)[1:] + b"\n\n")
    ending.append(b"data: [DONE]\n\n")
    return pace(plan, [first], content, ending)


# --- the app ------------------------------------------------------------------------------------


def build_openai_app(book: Scriptbook | None = None) -> Starlette:
    """The OpenAI sandbox as an ASGI app; its scriptbook is `app.state.book`."""
    book = book or Scriptbook()
    ids = itertools.count(1)

    async def begin(request: Request) -> tuple[dict[str, Any], str, Plan] | Response:
        body = parse_json_object(await request.body())
        if body is None:
            return _bad_request("We could not parse the JSON body of your request. (sandbox)")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _bad_request("you must provide a model parameter", "model")
        return body, model, book.begin(model)

    async def chat_completions(request: Request) -> Response:
        started = await begin(request)
        if isinstance(started, Response):
            return started
        body, model, plan = started
        prompt = _read_chat(body, model)
        if isinstance(prompt, Response):
            return prompt
        stream = body.get("stream") is True
        ans = answer(prompt, plan.script.output_tokens)
        if (interrupted := await delay_start(plan, request)) is not None:
            return interrupted
        if (error := _fault_error(plan, model, ans.input_tokens)) is not None:
            return error
        if plan.fault is Fault.MALFORMED_JSON:
            return malformed_json(stream, plan.closing)
        completion_id = f"chatcmpl-sandbox{next(ids)}"
        cut = plan.script.n if plan.fault is Fault.CUT_STREAM_AFTER_N_CHUNKS else None
        if stream:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            return EventStream(
                _chunks(ans, plan, model, completion_id, include_usage), plan.closing, cut
            )
        if (interrupted := await generation_time(plan, request, ans.output_tokens)) is not None:
            return interrupted
        completion = _completion(ans, plan, model, completion_id)
        return CutBody(dumps(completion)) if cut is not None else json_response(completion)

    async def embeddings(request: Request) -> Response:
        started = await begin(request)
        if isinstance(started, Response):
            return started
        body, model, plan = started
        inputs = _embedding_inputs(body.get("input"))
        if inputs is None:
            return _bad_request(
                "'input' must be a string, an array of strings or of tokens.", "input"
            )
        dims = (
            body.get("dimensions")
            or plan.script.embedding_dimensions
            or DEFAULT_EMBEDDING_DIMENSIONS
        )
        if not isinstance(dims, int) or not 1 <= dims <= MAX_EMBEDDING_DIMENSIONS:
            return _bad_request(
                f"'dimensions' must be an integer from 1 to {MAX_EMBEDDING_DIMENSIONS}.",
                "dimensions",
            )
        tokens = sum(n for _, n in inputs)
        if (interrupted := await delay_start(plan, request)) is not None:
            return interrupted
        if (error := _fault_error(plan, model, tokens)) is not None:
            return error
        if plan.fault is Fault.MALFORMED_JSON:
            return malformed_json(False, plan.closing)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, (text, _) in enumerate(inputs):
            vector = embedding(f"{model}\x1f{text}", dims)
            encoded: Any = (
                base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
                if as_base64
                else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        result = {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        if plan.fault is Fault.CUT_STREAM_AFTER_N_CHUNKS:
            return CutBody(dumps(result))
        return json_response(result)

    def model_entry(model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 0, "owned_by": "switchyard-sandbox"}

    async def list_models(request: Request) -> Response:
        return json_response({"object": "list", "data": [model_entry(m) for m in book.models()]})

    async def get_model(request: Request) -> Response:
        return json_response(model_entry(request.path_params["model"]))

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", get_model, methods=["GET"]),
            *control_routes(book, prefixes=("", "/v1")),
        ]
    )
    app.state.book = book
    return app


def _embedding_inputs(raw: Any) -> list[tuple[str, int]] | None:
    """Each input as (text that keys its vector, its token count); None when malformed.

    Token arrays count one token per element, as they are already tokens.
    """
    if isinstance(raw, str):
        return [(raw, count_words(raw))]
    if not isinstance(raw, list) or not raw:
        return None
    if all(isinstance(x, int) for x in raw):
        return [(json.dumps(raw), len(raw))]
    inputs: list[tuple[str, int]] = []
    for item in raw:
        if isinstance(item, str):
            inputs.append((item, count_words(item)))
        elif isinstance(item, list) and all(isinstance(x, int) for x in item):
            inputs.append((json.dumps(item), len(item)))
        else:
            return None
    return inputs
