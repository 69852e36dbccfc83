"""Gemini's generateContent (whole and streamed) and embedContent through google-genai's async
client, translated to canonical types.

Translation: system and developer messages become `system_instruction`; the assistant is the
`model` role; tool calls are `functionCall` parts and tool results `functionResponse` parts, which
Gemini matches by function name, so the name is looked up from the call the result answers.
Gemini counts cached tokens inside `promptTokenCount`, the canonical meaning already.

The client is given an `httpx.AsyncClient` of ours, so that the transport errors to map are
httpx's whatever else is installed (with aiohttp present the SDK would pick it, and retry a
failed connection on its own). The SDK sends one timeout for every phase of a request, so for
Gemini `connect_s` is bounded by `total_s` only.
"""

from __future__ import annotations

import base64
import json
import mimetypes
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from google import genai
from google.genai import errors
from google.genai import types as gt

from deployments.canonical import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
    FinishReason,
    ImagePart,
    Message,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from deployments.cloud.base import (
    NO_KEY,
    ErrorFactory,
    Timeouts,
    arguments_object,
    class_for_status,
    parse_data_url,
    retry_after_s,
    system_text,
    tool_names_by_call_id,
)
from deployments.errors import (
    AuthenticationFailed,
    CallerError,
    ContextLengthExceeded,
    MalformedResponse,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
    StreamInterrupted,
    SwitchyardError,
)

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
}
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


class GoogleAdapter:
    def __init__(
        self, provider_id: str, base_url: str | None, api_key: str | None, timeouts: Timeouts
    ) -> None:
        self.provider_id = provider_id
        self._timeouts = timeouts
        self._errors = ErrorFactory(provider_id, api_key)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeouts.total_s, connect=timeouts.connect_s)
        )
        options = gt.HttpOptions(
            base_url=base_url,
            timeout=int(timeouts.total_s * 1000),  # milliseconds
            retry_options=gt.HttpRetryOptions(attempts=1),  # the router's chain is the retry
            httpx_async_client=self._http,
        )
        self._client = genai.Client(api_key=api_key or NO_KEY, http_options=options)

    async def aclose(self) -> None:
        await self._client.aio.aclose()
        await self._http.aclose()  # ours: the SDK leaves a client it was given open

    async def complete(self, req: ChatRequest) -> ChatResult:
        contents, config = self._request(req)
        with self._map_errors(req.model):
            response = await self._client.aio.models.generate_content(
                model=req.model, contents=contents, config=config
            )
            return _result(response, req.model)

    async def stream(self, req: ChatRequest) -> AsyncIterator[ChatChunk]:
        contents, config = self._request(req)
        with self._map_errors(req.model):
            responses = await self._client.aio.models.generate_content_stream(
                model=req.model, contents=contents, config=config
            )
        model: str | None = None
        finish: FinishReason | None = None
        usage: gt.GenerateContentResponseUsageMetadata | None = None
        calls = 0  # tool calls so far: Gemini sends each whole, the index runs across chunks
        try:
            # The SDK sends the request on the first read: until an event came, a failure is
            # the provider's (unavailable, refused, …), not a cut stream.
            first: gt.GenerateContentResponse | None = None
            with self._map_errors(req.model):
                try:
                    first = await anext(responses)
                except StopAsyncIteration:
                    pass  # an empty stream: reported below as one without its end
            with self._map_errors(req.model, streaming=True):
                while True:
                    if first is not None:
                        response, first = first, None
                    else:
                        try:
                            response = await anext(responses)
                        except StopAsyncIteration:
                            break
                    model = response.model_version or model
                    usage = response.usage_metadata or usage  # cumulative: the last is the total
                    text, tool_calls, reason = _parts(response, first_call_index=calls)
                    finish = reason or finish
                    if text or tool_calls:
                        deltas = [
                            ToolCallDelta(
                                index=calls + i, id=c.id, name=c.name, arguments=c.arguments
                            )
                            for i, c in enumerate(tool_calls)
                        ]
                        calls += len(tool_calls)
                        # Gemini counts on every chunk: a stream cut after this one is billed
                        # from the provider's count so far (`ChatChunk.usage_so_far`).
                        counted = response.usage_metadata
                        so_far = _usage(counted) if counted is not None else None
                        yield ChatChunk(text=text, tool_calls=deltas, usage_so_far=so_far)
        finally:
            await _close(responses)
        if finish is None:
            raise self._errors.make(
                StreamInterrupted, "stream ended without a finishReason", req.model
            )
        if calls and finish == "stop":
            finish = "tool_calls"
        yield ChatChunk(finish_reason=finish, usage=_usage(usage), provider_model=model)

    async def embed(self, req: EmbeddingRequest) -> EmbeddingResult:
        config = gt.EmbedContentConfig(output_dimensionality=req.dimensions)
        # One Content per input text: the SDK's union of accepted shapes is too wide for mypy
        # to match a plain list[str] once PIL's Image type is installed.
        contents: list[gt.Content] = [gt.Content(parts=[gt.Part(text=text)]) for text in req.inputs]
        with self._map_errors(req.model):
            response = await self._client.aio.models.embed_content(
                model=req.model, contents=contents, config=config
            )
            vectors = [list(e.values or []) for e in response.embeddings or []]
            if len(vectors) != len(req.inputs):
                raise self._errors.make(MalformedResponse, "wrong number of embeddings", req.model)
            tokens = response.usage_metadata.prompt_token_count if response.usage_metadata else None
            return EmbeddingResult(
                vectors=vectors, usage=Usage(input_tokens=tokens or 0), provider_model=req.model
            )

    # --- request ------------------------------------------------------------------------------

    def _request(self, req: ChatRequest) -> tuple[list[gt.Content], gt.GenerateContentConfig]:
        names = tool_names_by_call_id(req)
        contents: list[gt.Content] = []
        for message in req.messages:
            if message.role in ("system", "developer"):
                continue
            role = "model" if message.role == "assistant" else "user"
            parts = self._parts(message, names, req.model)
            if not parts:
                continue
            if contents and contents[-1].role == role and contents[-1].parts is not None:
                contents[-1].parts.extend(parts)
            else:
                contents.append(gt.Content(role=role, parts=parts))
        return contents, self._config(req)

    def _config(self, req: ChatRequest) -> gt.GenerateContentConfig:
        config = gt.GenerateContentConfig(
            system_instruction=system_text(req),
            temperature=req.temperature,
            top_p=req.top_p,
            max_output_tokens=req.max_tokens,
            stop_sequences=req.stop,
            seed=req.seed,
            # One request per call: no SDK-side tool execution, no automatic follow-up requests.
            automatic_function_calling=gt.AutomaticFunctionCallingConfig(disable=True),
            automatic_continuation=False,
        )
        if req.tools:
            declarations = [
                gt.FunctionDeclaration(
                    name=t.name, description=t.description, parameters_json_schema=t.parameters
                )
                for t in req.tools
            ]
            config.tools = [gt.Tool(function_declarations=declarations)]
        if req.tool_choice is not None:
            mode = _TOOL_MODES.get(req.tool_choice, "ANY")
            only = None if req.tool_choice in _TOOL_MODES else [req.tool_choice]
            calling = gt.FunctionCallingConfig(mode=mode, allowed_function_names=only)
            config.tool_config = gt.ToolConfig(function_calling_config=calling)
        if req.response_format is not None and req.response_format.type != "text":
            config.response_mime_type = "application/json"
            if req.response_format.json_schema is not None:
                config.response_json_schema = req.response_format.json_schema.schema_
        return config

    def _parts(self, message: Message, names: dict[str, str], model: str) -> list[gt.Part]:
        if message.role == "tool":
            name = names.get(message.tool_call_id or "") or message.name
            if not name:
                raise self._errors.make(
                    CallerError, "a tool result must answer a known tool call", model
                )
            answer = gt.FunctionResponse(
                id=message.tool_call_id, name=name, response={"result": message.text()}
            )
            return [gt.Part(function_response=answer)]
        parts: list[gt.Part] = []
        if isinstance(message.content, str):
            if message.content:
                parts.append(gt.Part(text=message.content))
        elif message.content is not None:
            for part in message.content:
                if isinstance(part, ImagePart):
                    parts.append(self._image(part, model))
                elif part.text:
                    parts.append(gt.Part(text=part.text))
        for call in message.tool_calls or []:
            args = arguments_object(call.arguments, provider=self.provider_id, model=model)
            parts.append(
                gt.Part(function_call=gt.FunctionCall(id=call.id, name=call.name, args=args))
            )
        return parts

    def _image(self, part: ImagePart, model: str) -> gt.Part:
        url = part.image_url.url
        if url.startswith("data:"):
            media_type, data = parse_data_url(url, provider=self.provider_id, model=model)
            return gt.Part(inline_data=gt.Blob(mime_type=media_type, data=base64.b64decode(data)))
        media_type = mimetypes.guess_type(url)[0] or "image/jpeg"
        return gt.Part(file_data=gt.FileData(file_uri=url, mime_type=media_type))

    # --- errors -------------------------------------------------------------------------------

    @contextmanager
    def _map_errors(self, model: str, *, streaming: bool = False) -> Iterator[None]:
        """SDK and httpx exceptions → Switchyard's. `streaming`: the answer had begun."""
        make = self._errors.make
        cut = StreamInterrupted if streaming else ProviderUnavailable
        try:
            yield
        except SwitchyardError:
            raise
        except errors.ClientError as e:  # 4xx; Gemini has no finer classes, only code and status
            raise self._client_error(e, model) from None
        except errors.ServerError as e:
            raise make(ProviderServerError, _describe(e), model, status=e.code) from None
        except errors.APIError as e:
            raise make(class_for_status(e.code or 0), _describe(e), model, status=e.code) from None
        except httpx.TimeoutException as e:
            raise make(ProviderTimeout, f"{type(e).__name__}: timed out", model) from None
        except httpx.TransportError as e:
            raise make(cut, f"{type(e).__name__}: {e}", model) from None
        except (ValueError, TypeError, KeyError, AttributeError) as e:  # JSON, validation, shape
            raise make(MalformedResponse, f"{type(e).__name__}: {e}", model) from None

    def _client_error(self, e: errors.ClientError, model: str) -> SwitchyardError:
        details = _details(e)
        message = _describe(e)
        if e.code == 429:
            headers = e.response.headers if isinstance(e.response, httpx.Response) else None
            wait = retry_after_s(headers)
            if wait is None:
                wait = _retry_delay(details)
            # RESOURCE_EXHAUSTED covers both a rate limit and a spent quota. A QuotaFailure or
            # quota wording with no hint of when to retry is a quota spent until it resets.
            quota_named = (
                any(_kind(d) == "QuotaFailure" for d in details) or "quota" in message.lower()
            )
            return self._errors.rate_limited(
                message, model, None, quota_named and wait is None, retry_after=wait
            )
        if e.code in (401, 403) or any(d.get("reason") == "API_KEY_INVALID" for d in details):
            return self._errors.make(AuthenticationFailed, message, model, status=e.code)
        # Gemini gives no code for an over-long prompt, only the message "The input token count
        # (N) exceeds the maximum number of tokens allowed (M)", so this one test reads the text.
        if e.code == 400 and "exceeds the maximum number of tokens" in (e.message or ""):
            return self._errors.make(ContextLengthExceeded, message, model, status=400)
        return self._errors.make(class_for_status(e.code), message, model, status=e.code)


# --- response -----------------------------------------------------------------------------------


def _result(response: gt.GenerateContentResponse, model: str) -> ChatResult:
    text, calls, reason = _parts(response, first_call_index=0)
    finish = reason or "stop"
    if calls and finish == "stop":
        finish = "tool_calls"
    if (
        not response.candidates
        and response.prompt_feedback
        and response.prompt_feedback.block_reason
    ):
        finish = "content_filter"
    return ChatResult(
        text=text,
        tool_calls=calls,
        finish_reason=finish,
        usage=_usage(response.usage_metadata),
        provider_model=response.model_version or model,
        provider_request_id=response.response_id,
    )


def _parts(
    response: gt.GenerateContentResponse, *, first_call_index: int
) -> tuple[str, list[ToolCall], FinishReason | None]:
    """Text, tool calls and finish reason of the first candidate (thoughts left out)."""
    if not response.candidates:
        return "", [], None
    candidate = response.candidates[0]
    text: list[str] = []
    calls: list[ToolCall] = []
    for part in (candidate.content.parts if candidate.content else None) or []:
        if part.text and not part.thought:
            text.append(part.text)
        if part.function_call is not None:
            call = part.function_call
            # Gemini gives ids only sometimes; a made-up one is enough to match the result later.
            call_id = call.id or f"call_{first_call_index + len(calls)}"
            calls.append(
                ToolCall(id=call_id, name=call.name or "", arguments=json.dumps(call.args or {}))
            )
    reason = candidate.finish_reason
    # An enum member, or the bare string of a reason newer than this SDK.
    finish = None if reason is None else _FINISH.get(str(getattr(reason, "value", reason)), "stop")
    return "".join(text), calls, finish


def _usage(usage: gt.GenerateContentResponseUsageMetadata | None) -> Usage:
    if usage is None:
        return Usage()
    return Usage(
        input_tokens=(usage.prompt_token_count or 0) + (usage.tool_use_prompt_token_count or 0),
        output_tokens=(usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0),
        cached_input_tokens=usage.cached_content_token_count or 0,
    )


def _details(e: errors.APIError) -> list[dict[str, Any]]:
    body = e.details if isinstance(e.details, dict) else {}
    error = body.get("error", body)
    found = error.get("details") if isinstance(error, dict) else None
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []


def _kind(detail: dict[str, Any]) -> str:
    """`QuotaFailure` from `type.googleapis.com/google.rpc.QuotaFailure`."""
    return str(detail.get("@type", "")).rsplit(".", 1)[-1]


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    for detail in details:
        if _kind(detail) == "RetryInfo":
            try:
                return float(str(detail.get("retryDelay", "")).removesuffix("s"))
            except ValueError:
                return None
    return None


async def _close(responses: AsyncIterator[gt.GenerateContentResponse]) -> None:
    """Ends the SDK's stream generator, which closes the HTTP response it holds."""
    aclose = getattr(responses, "aclose", None)
    if aclose is not None:
        await aclose()


def _describe(e: errors.APIError) -> str:
    return f"HTTP {e.code} {e.status or ''}: {e.message or ''}".strip()
