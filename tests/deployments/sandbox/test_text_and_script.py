"""The sandbox's pure parts: deterministic text, token counting, answers, the scriptbook."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from deployments.sandbox.answer import Finish, Prompt, ToolSpec, answer
from deployments.sandbox.script import Fault, Scriptbook
from deployments.sandbox.text import (
    count_words,
    embedding,
    generate_text,
    pieces,
    sample_from_schema,
)


@pytest.mark.parametrize(
    "text", ["", "one", "Hello there, world.", "  lead and trail  ", "tabs\tand\nnewlines here\n"]
)
def test_pieces_concatenate_to_the_text_one_word_each(text: str) -> None:
    parts = pieces(text)
    assert "".join(parts) == text
    assert sum(count_words(p) for p in parts) == count_words(text) == len(text.split())


def test_generated_text_is_a_function_of_its_key() -> None:
    assert generate_text("k", 12) == generate_text("k", 12)
    assert generate_text("k", 12) != generate_text("other", 12)
    assert count_words(generate_text("k", 12)) == 12
    assert generate_text("k", 0) == ""


def test_embedding_is_a_deterministic_unit_vector() -> None:
    vector = embedding("k", 384)
    assert len(vector) == 384
    assert math.isclose(math.fsum(x * x for x in vector), 1.0)
    assert vector == embedding("k", 384)


def test_schema_samples_fill_required_properties_only() -> None:
    schema = {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "i": {"type": "integer"},
            "n": {"type": ["number", "null"]},
            "b": {"type": "boolean"},
            "e": {"enum": ["x", "y"]},
            "a": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
            "u": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
            "skipped": {"type": "string"},
        },
        "required": ["s", "i", "n", "b", "e", "a", "u"],
        "$defs": {
            "Item": {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"]}
        },
    }
    assert sample_from_schema(schema) == {
        "s": "sandbox",
        "i": 1,
        "n": 1,
        "b": True,
        "e": "x",
        "a": [{"k": "sandbox"}],
        "u": 1,
    }
    gemini_schema = {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}, "required": ["n"]}
    assert sample_from_schema(gemini_schema) == {"n": 1}


def test_answer_rules() -> None:
    prompt = Prompt(model="m", texts=["be brief", "hello there friend"])
    plain = answer(prompt)
    assert (plain.input_tokens, plain.output_tokens, plain.finish) == (5, 12, Finish.STOP)
    assert answer(prompt, output_tokens=3).output_tokens == 3

    cut = answer(Prompt(model="m", texts=["hi"], max_tokens=4))
    assert (cut.output_tokens, cut.finish) == (4, Finish.LENGTH)
    assert answer(Prompt(model="m", texts=["hi"], max_tokens=12)).finish == Finish.STOP

    tool = ToolSpec(name="f", parameters={"type": "object", "properties": {}, "required": []})
    call = answer(Prompt(model="m", texts=["hi"], tool=tool))
    assert (call.tool_name, call.tool_arguments, call.finish) == ("f", {}, Finish.TOOL_CALL)
    assert "".join(call.deltas()) == call.tool_arguments_json

    quoted = answer(
        Prompt(model="m", texts=["hi", "42 degrees"], tool=tool, tool_result="42 degrees")
    )
    assert (quoted.text, quoted.finish) == ("Tool result: 42 degrees", Finish.STOP)

    as_json = answer(Prompt(model="m", texts=["hi"], json_mode=True, max_tokens=3))
    assert count_words(json.loads(as_json.text)["answer"]) == 3


def test_scripts_merge_and_faults_count_down() -> None:
    book = Scriptbook()
    book.set({"model": "m", "latency_ms": 5})
    book.set({"model": "m", "fault": "http_500", "times": 2})
    plans = [book.begin("m") for _ in range(3)]
    assert [p.fault for p in plans] == [Fault.HTTP_500, Fault.HTTP_500, None]
    assert all(p.latency_s == 0.005 for p in plans)  # the fault cleared, the latency stayed
    assert book.stats() == {"requests": {"m": 3}, "total": 3}
    assert book.scripts()["m"]["faults_left"] == 0


def test_wildcard_script_and_until_reset() -> None:
    book = Scriptbook()
    book.set({"model": "*", "fault": "http_503"})
    assert all(book.begin(name).fault == Fault.HTTP_503 for name in ("a", "b", "a"))
    assert book.models() == ["a", "b"]
    book.reset()
    assert book.begin("a").fault is None
    assert book.stats() == {"requests": {"a": 1}, "total": 1}


def test_slow_first_token_ttft_belongs_to_the_fault() -> None:
    book = Scriptbook()
    book.set({"model": "m", "fault": "slow_first_token", "ttft_ms": 300, "times": 1})
    assert book.begin("m").ttft_s == 0.3
    assert book.begin("m").ttft_s == 0.0
    book.set({"model": "plain", "ttft_ms": 50})
    assert book.begin("plain").ttft_s == 0.05


@pytest.mark.parametrize(
    "fields",
    [
        {"model": "m", "fualt": "http_500"},
        {"model": "m", "fault": "on_fire"},
        {"model": "m", "times": 0},
        {},
    ],
)
def test_bad_scripts_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Scriptbook().set(fields)
