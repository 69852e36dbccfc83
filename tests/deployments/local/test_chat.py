"""LocalModel serving the tiny random-weight Llama on vLLM's CPU engine: chat and streams."""

from __future__ import annotations

import pytest

from deployments.canonical import ChatChunk, ChatRequest, Message
from deployments.errors import CallerError, ContextLengthExceeded
from deployments.local import LocalModel, ensure_tiny_model
from tests.deployments.local.conftest import CHAT_WINDOW

pytestmark = [pytest.mark.vllm, pytest.mark.asyncio(loop_scope="session")]

MESSAGES = [
    Message(role="system", content="You are terse."),
    Message(role="user", content="What is the capital of France?"),
]


def request(max_tokens: int = 24, **options: object) -> ChatRequest:
    return ChatRequest(model="tiny-llama-dev", messages=MESSAGES, max_tokens=max_tokens, **options)


def template_tokens() -> int:
    """The prompt's length by the model's own tokenizer and chat template, outside vLLM."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(ensure_tiny_model()))
    messages = [{"role": m.role, "content": m.text()} for m in MESSAGES]
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


async def test_complete_answers_with_the_engines_counts(chat_model: LocalModel) -> None:
    result = await chat_model.complete(request(max_tokens=24, temperature=0))

    assert result.text  # gibberish, but text
    assert result.provider_model == "local/tiny-llama-dev"
    assert result.finish_reason in ("stop", "length")
    assert result.usage.input_tokens == template_tokens()
    assert 0 < result.usage.output_tokens <= 24
    if result.finish_reason == "length":
        assert result.usage.output_tokens == 24


async def test_stream_is_the_same_answer_in_pieces(chat_model: LocalModel) -> None:
    whole = await chat_model.complete(request(max_tokens=32, temperature=0))
    chunks: list[ChatChunk] = [
        chunk async for chunk in chat_model.stream(request(max_tokens=32, temperature=0))
    ]

    *content, last = chunks
    assert len(content) > 1  # incremental, not one block
    assert all(chunk.text and chunk.finish_reason is None for chunk in content)
    assert "".join(chunk.text for chunk in content) == whole.text
    assert last.text == ""
    assert last.finish_reason == whole.finish_reason
    assert last.usage == whole.usage
    assert last.usage is not None and last.usage.output_tokens > 0


async def test_max_tokens_is_clamped_to_the_room_left(chat_model: LocalModel) -> None:
    result = await chat_model.complete(request(max_tokens=10_000, temperature=0))

    assert result.usage.input_tokens + result.usage.output_tokens <= CHAT_WINDOW


async def test_a_prompt_longer_than_the_window_is_a_context_length_error(
    chat_model: LocalModel,
) -> None:
    long = ChatRequest(
        model="tiny-llama-dev",
        messages=[Message(role="user", content="the weather is sunny today " * 200)],
    )

    with pytest.raises(ContextLengthExceeded) as raised:
        await chat_model.complete(long)
    assert raised.value.provider == "local"
    with pytest.raises(ContextLengthExceeded):
        async for _ in chat_model.stream(long):
            pass


async def test_a_chat_model_refuses_embeddings(chat_model: LocalModel) -> None:
    from deployments.canonical import EmbeddingRequest

    with pytest.raises(CallerError):
        await chat_model.embed(EmbeddingRequest(model="tiny-llama-dev", inputs=["hello"]))


async def test_health(chat_model: LocalModel) -> None:
    await chat_model.check_health()


async def test_a_stream_closed_early_frees_the_engine(chat_model: LocalModel) -> None:
    import asyncio

    engine = chat_model._engine
    assert engine is not None
    stream = chat_model.stream(request(max_tokens=200))
    first = await anext(stream)
    assert first.text
    await stream.aclose()  # the caller went away mid-answer

    for _ in range(50):
        if engine.get_num_unfinished_requests() == 0:
            break
        await asyncio.sleep(0.1)
    assert engine.get_num_unfinished_requests() == 0


async def test_a_cancelled_call_frees_the_engine(chat_model: LocalModel) -> None:
    import asyncio

    engine = chat_model._engine
    assert engine is not None
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(chat_model.complete(request(max_tokens=200)), timeout=0.05)

    for _ in range(50):
        if engine.get_num_unfinished_requests() == 0:
            break
        await asyncio.sleep(0.1)
    assert engine.get_num_unfinished_requests() == 0
