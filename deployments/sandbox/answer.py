"""What a sandbox model answers, decided once in provider-neutral terms.

Each sandbox app reads its wire format into a `Prompt`, calls `answer()`, and writes the `Answer`
back in its own format, whole or streamed. So the three sandboxes behave alike:

- the last message is a tool result → a text answer quoting it ("Tool result: …");
- else a tool is offered (and not refused by tool choice) → a call to it, with arguments built
  from the required properties of its schema;
- else a JSON schema is asked for → a JSON object with its required properties;
- else words drawn from a hash of the model and the message text.

Tokens, by the rule in `text.py` (whitespace-separated words): input = words of every message's
text, system included; output = words of the answer text, or of a tool call's arguments JSON.
The answer is cut at the request's max_tokens (finish: length), except JSON and tool calls,
which a real model would not emit half-made when it is asked for structure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from deployments.sandbox.text import (
    count_words,
    generate_text,
    key_digest,
    pieces,
    sample_from_schema,
)

DEFAULT_OUTPUT_TOKENS = 12


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    parameters: Any  # JSON Schema, or Gemini's Schema


@dataclass(frozen=True, slots=True)
class Prompt:
    model: str
    texts: Sequence[str]  # every piece of message text, system included, in order
    tool: ToolSpec | None = None  # the tool the model calls, if it should call one
    tool_result: str | None = None  # the last message's tool result, if it is one
    max_tokens: int | None = None
    json_schema: Any = None  # answer with an object that fits this schema
    json_mode: bool = False  # answer with some JSON object


class Finish(StrEnum):
    STOP = "stop"
    LENGTH = "length"
    TOOL_CALL = "tool_call"


@dataclass(frozen=True, slots=True)
class Answer:
    text: str  # the answer text; "" for a tool call
    finish: Finish
    input_tokens: int
    output_tokens: int
    digest: str  # stable per request; the apps build ids from it
    tool_name: str | None = None
    tool_arguments: dict[str, Any] | None = None

    @property
    def tool_arguments_json(self) -> str:
        return json.dumps(self.tool_arguments)

    def deltas(self) -> list[str]:
        """The stream deltas: of the text, or of the tool call's arguments JSON."""
        return pieces(self.tool_arguments_json if self.tool_name is not None else self.text)


def answer(prompt: Prompt, output_tokens: int | None = None) -> Answer:
    """The answer to `prompt`; `output_tokens` is the script's answer length (before max_tokens)."""
    key = prompt.model + "\x1f" + "\x1e".join(prompt.texts)
    digest = key_digest(key)
    input_tokens = sum(count_words(t) for t in prompt.texts)

    if prompt.tool_result is None and prompt.tool is not None:
        arguments = sample_from_schema(prompt.tool.parameters)
        if not isinstance(arguments, dict):
            arguments = {}
        return Answer(
            text="",
            finish=Finish.TOOL_CALL,
            input_tokens=input_tokens,
            output_tokens=max(1, count_words(json.dumps(arguments))),
            digest=digest,
            tool_name=prompt.tool.name,
            tool_arguments=arguments,
        )

    finish = Finish.STOP
    limit = prompt.max_tokens
    if prompt.tool_result is not None:
        text = f"Tool result: {prompt.tool_result}"
        if limit is not None and count_words(text) > limit:
            text, finish = "".join(pieces(text)[:limit]), Finish.LENGTH
    elif prompt.json_schema is not None:
        text = json.dumps(sample_from_schema(prompt.json_schema))
    else:
        wanted = DEFAULT_OUTPUT_TOKENS if output_tokens is None else output_tokens
        if limit is not None and limit < wanted:
            wanted, finish = limit, Finish.LENGTH
        text = generate_text(key, wanted)
        if prompt.json_mode:
            text, finish = json.dumps({"answer": text}), Finish.STOP
    return Answer(
        text=text,
        finish=finish,
        input_tokens=input_tokens,
        output_tokens=count_words(text),
        digest=digest,
    )
