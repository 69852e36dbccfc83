"""The Gemini sandbox: generateContent, streamGenerateContent (SSE), embeddings, countTokens.

google-genai 3.x given `HttpOptions(base_url=...)` calls `{base_url}/v1/models/{model}:method`;
`/v1beta` and `/v1alpha` are served the same, for clients that ask for them.

Usage follows Gemini's convention: `promptTokenCount` counts the whole prompt and
`cachedContentTokenCount` (the script's `cached_input_tokens`, clamped to the prompt) is a part of
it. Every stream chunk carries the usage so far; the last one also the finishReason. A function
call comes whole in one chunk, as Gemini sends it, with finishReason STOP.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
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

API_VERSIONS = frozenset({"v1", "v1beta", "v1alpha"})
DEFAULT_EMBEDDING_DIMENSIONS = 8
MAX_EMBEDDING_DIMENSIONS = 65_536
_FINISH_REASON = {Finish.STOP: "STOP", Finish.LENGTH: "MAX_TOKENS", Finish.TOOL_CALL: "STOP"}
_NO_PARAMETERS: dict[str, Any] = {"type": "OBJECT", "properties": {}}
_TROUBLESHOOTING = "https://ai.google.dev/gemini-api/docs/troubleshooting"


# --- errors, in Google's shape ------------------------------------------------------------------


def _error(
    code: int,
    status: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return json_response({"error": error}, code, headers)


def _fault_error(plan: Plan, model: str, input_tokens: int) -> Response | None:
    fault = plan.fault
    if fault is Fault.HTTP_500:
        return _error(
            500, "INTERNAL", f"An internal error has occurred. See {_TROUBLESHOOTING} (sandbox)"
        )
    if fault in (Fault.HTTP_503, Fault.OVERLOADED):
        return _error(
            503, "UNAVAILABLE", "The model is overloaded. Please try again later. (sandbox)"
        )
    if fault is Fault.HTTP_429:
        retry_after = plan.script.retry_after_s
        return _error(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota). (sandbox)",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{retry_after:g}s",
                }
            ],
            retry_after_headers(retry_after),
        )
    if fault is Fault.QUOTA_EXHAUSTED:
        violation = {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            "quotaDimensions": {"location": "global", "model": model},
            "quotaValue": "0",
        }
        return _error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details."
            " (sandbox)",
            [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]},
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [
                        {
                            "description": "Learn more about Gemini API quotas",
                            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                        }
                    ],
                },
            ],
        )
    if fault is Fault.HTTP_401:
        return _error(
            401, "UNAUTHENTICATED", "Request had invalid authentication credentials. (sandbox)"
        )
    if fault is Fault.HTTP_400:
        return _error(400, "INVALID_ARGUMENT", "Request contains an invalid argument. (sandbox)")
    if fault is Fault.CONTEXT_LENGTH:
        window = plan.context_window
        return _error(
            400,
            "INVALID_ARGUMENT",
            f"The input token count ({window + input_tokens}) exceeds the maximum number of tokens "
            f"allowed ({window}).",
        )
    return None


def _bad_request(message: str) -> Response:
    return _error(400, "INVALID_ARGUMENT", message)


def _not_found(path: str) -> Response:
    return _error(404, "NOT_FOUND", f"Method not found: {path} (sandbox)")


# --- reading a request --------------------------------------------------------------------------


def _field(obj: Any, name: str) -> Any:
    """`obj[name]` under its lowerCamelCase name or its proto snake_case name, or None.

    Google's JSON parser takes both spellings, and google-genai 3.6 sends some fields in each
    (`functionDeclarations` beside `parameters_json_schema`), so the sandbox takes both too.
    """
    if not isinstance(obj, dict):
        return None
    value = obj.get(name)
    return obj.get(_snake_case(name)) if value is None else value


@functools.cache
def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _function_response_text(part: dict[str, Any]) -> str | None:
    """A functionResponse part's content as text (its one string value, else its JSON); None
    when the part is not one."""
    function_response = _field(part, "functionResponse")
    if not isinstance(function_response, dict):
        return None
    response = function_response.get("response")
    if isinstance(response, dict) and len(response) == 1:
        (value,) = response.values()
        if isinstance(value, str):
            return value
    return json.dumps(response, sort_keys=True)


def _text_of(content: Any) -> str:
    texts = []
    for part in _dicts(_field(content, "parts")):
        if isinstance(text := part.get("text"), str):
            texts.append(text)
        elif (result := _function_response_text(part)) is not None:
            texts.append(result)
    return " ".join(texts)


def _tool_result(content: dict[str, Any]) -> str | None:
    results = [_function_response_text(p) for p in _dicts(_field(content, "parts"))]
    found = [r for r in results if r is not None]
    return " ".join(found) if found else None


def _chosen_tool(body: dict[str, Any]) -> ToolSpec | None:
    declarations = [
        d
        for tool in _dicts(_field(body, "tools"))
        for d in _dicts(_field(tool, "functionDeclarations"))
    ]
    config = _field(_field(body, "toolConfig"), "functionCallingConfig") or {}
    if not declarations or _field(config, "mode") == "NONE":
        return None
    allowed = _field(config, "allowedFunctionNames") or []
    declarations = [d for d in declarations if d.get("name") in allowed] or declarations
    chosen = declarations[0]
    schema = _field(chosen, "parametersJsonSchema") or chosen.get("parameters") or _NO_PARAMETERS
    return ToolSpec(name=str(chosen.get("name")), parameters=schema)


def _read_contents(body: dict[str, Any], model: str) -> Prompt | Response:
    contents = _field(body, "contents")
    if not isinstance(contents, list) or not contents or len(_dicts(contents)) != len(contents):
        return _bad_request("* GenerateContentRequest.contents: contents is not specified")
    config = _field(body, "generationConfig") or {}
    json_schema = _field(config, "responseJsonSchema") or _field(config, "responseSchema")
    max_tokens = _field(config, "maxOutputTokens")
    return Prompt(
        model=model,
        texts=[_text_of(_field(body, "systemInstruction")), *(_text_of(c) for c in contents)],
        tool=_chosen_tool(body),
        tool_result=_tool_result(contents[-1]),
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        json_schema=json_schema,
        json_mode=json_schema is None and _field(config, "responseMimeType") == "application/json",
    )


def _dimensions(request: dict[str, Any], plan: Plan) -> int:
    """An embedding's size: the request's, else the script's, else the default; 0 if malformed."""
    asked = _field(request, "outputDimensionality") or _field(
        _field(request, "embedContentConfig"), "outputDimensionality"
    )
    dims = asked or plan.script.embedding_dimensions or DEFAULT_EMBEDDING_DIMENSIONS
    return dims if isinstance(dims, int) else 0


# --- writing an answer --------------------------------------------------------------------------


def _usage(ans: Answer, plan: Plan, output_tokens: int) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "promptTokenCount": ans.input_tokens,
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": ans.input_tokens + output_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": ans.input_tokens}],
    }
    if cached := min(plan.script.cached_input_tokens, ans.input_tokens):
        usage["cachedContentTokenCount"] = cached
    return usage


def _response(
    ans: Answer,
    plan: Plan,
    model: str,
    response_id: str,
    part: dict[str, Any],
    output_tokens: int,
    last: bool,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [part], "role": "model"}, "index": 0}
    if last:
        candidate["finishReason"] = _FINISH_REASON[ans.finish]
    return {
        "candidates": [candidate],
        "usageMetadata": _usage(ans, plan, output_tokens),
        "modelVersion": model,
        "responseId": response_id,
    }


def _whole_part(ans: Answer) -> dict[str, Any]:
    if ans.tool_name is not None:
        return {"functionCall": {"name": ans.tool_name, "args": ans.tool_arguments}}
    return {"text": ans.text}


def _chunks(ans: Answer, plan: Plan, model: str, response_id: str) -> list[tuple[float, bytes]]:
    def event(part: dict[str, Any], output_tokens: int, last: bool) -> bytes:
        return (
            b"data: "
            + dumps(_response(ans, plan, model, response_id, part, output_tokens, last))
            + b"\r\n\r\n"
        )

    if ans.tool_name is not None:
        return pace(plan, [], [event(_whole_part(ans), ans.output_tokens, last=True)], [])
    parts = ans.deltas() or [""]
    content = []
    so_far = 0
    for i, piece in enumerate(parts):
        so_far += count_words(piece)
        content.append(event({"text": piece}, so_far, last=i == len(parts) - 1))
    return pace(plan, [], content, [])


# --- the app ------------------------------------------------------------------------------------


def build_gemini_app(book: Scriptbook | None = None) -> Starlette:
    """The Gemini sandbox as an ASGI app; its scriptbook is `app.state.book`."""
    book = book or Scriptbook()
    ids = itertools.count(1)

    async def generate(
        request: Request, body: dict[str, Any], model: str, stream: bool
    ) -> Response:
        plan = book.begin(model)
        prompt = _read_contents(body, model)
        if isinstance(prompt, Response):
            return prompt
        ans = answer(prompt, plan.script.output_tokens)
        if (interrupted := await delay_start(plan, request)) is not None:
            return interrupted
        if (error := _fault_error(plan, model, ans.input_tokens)) is not None:
            return error
        if plan.fault is Fault.MALFORMED_JSON:
            return malformed_json(stream, plan.closing)
        response_id = f"sandbox{next(ids)}"
        cut = plan.script.n if plan.fault is Fault.CUT_STREAM_AFTER_N_CHUNKS else None
        if stream:
            return EventStream(_chunks(ans, plan, model, response_id), plan.closing, cut)
        if (interrupted := await generation_time(plan, request, ans.output_tokens)) is not None:
            return interrupted
        result = _response(
            ans, plan, model, response_id, _whole_part(ans), ans.output_tokens, last=True
        )
        return CutBody(dumps(result)) if cut is not None else json_response(result)

    async def embed(request: Request, body: dict[str, Any], model: str, batch: bool) -> Response:
        plan = book.begin(model)
        requests = body.get("requests") if batch else [body]
        if not isinstance(requests, list) or not all(isinstance(r, dict) for r in requests):
            return _bad_request("requests: a list of EmbedContentRequest is required")
        texts = [_text_of(_field(r, "content")) for r in requests]
        dimensions = [_dimensions(r, plan) for r in requests]
        if not all(1 <= d <= MAX_EMBEDDING_DIMENSIONS for d in dimensions):
            return _bad_request(
                f"outputDimensionality must be from 1 to {MAX_EMBEDDING_DIMENSIONS}"
            )
        if (interrupted := await delay_start(plan, request)) is not None:
            return interrupted
        if (error := _fault_error(plan, model, sum(count_words(t) for t in texts))) is not None:
            return error
        if plan.fault is Fault.MALFORMED_JSON:
            return malformed_json(False, plan.closing)
        vectors = [
            {"values": embedding(f"{model}\x1f{text}", dims)}
            for text, dims in zip(texts, dimensions, strict=True)
        ]
        result = {"embeddings": vectors} if batch else {"embedding": vectors[0]}
        if plan.fault is Fault.CUT_STREAM_AFTER_N_CHUNKS:
            return CutBody(dumps(result))
        return json_response(result)

    async def model_method(request: Request) -> Response:
        version = request.path_params["version"]
        model, _, method = request.path_params["target"].rpartition(":")
        if version not in API_VERSIONS or not model:
            return _not_found(request.url.path)
        body = parse_json_object(await request.body())
        if body is None:
            return _bad_request("Invalid JSON payload received. (sandbox)")
        if method == "generateContent":
            return await generate(request, body, model, stream=False)
        if method == "streamGenerateContent":
            return await generate(request, body, model, stream=True)
        if method in ("embedContent", "batchEmbedContents"):
            return await embed(request, body, model, batch=method == "batchEmbedContents")
        if method == "countTokens":
            prompt = _read_contents(body, model)
            if isinstance(prompt, Response):
                return prompt
            return json_response({"totalTokens": sum(count_words(t) for t in prompt.texts)})
        return _not_found(request.url.path)

    app = Starlette(
        routes=[
            Route("/{version}/models/{target:path}", model_method, methods=["POST"]),
            *control_routes(book),
        ]
    )
    app.state.book = book
    return app
