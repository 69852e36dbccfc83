"""What a Messages body asks that the canonical call cannot say reaches an Anthropic model:
the Anthropic adapter, through the real SDK over loopback HTTP to the Anthropic sandbox, sends the
caller's own blocks (`ChatRequest.anthropic_extras`), so `cache_control` marks are cached and
billed as cache reads and writes, and thinking comes back signed, streamed or not, and is
accepted when passed back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from deployments import errors
from deployments.canonical import AnthropicExtras, ChatRequest, Message, ThinkingBlock
from deployments.cloud import ChatAdapter, Timeouts, build_adapter
from deployments.sandbox import SandboxSet, start_sandboxes
from deployments.sandbox.prompt_cache import MIN_CACHEABLE_TOKENS

QUESTION = "Which file defines the router?"


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[SandboxSet]:
    with start_sandboxes() as running:
        yield running


@pytest.fixture
async def adapter(sandboxes: SandboxSet) -> AsyncIterator[ChatAdapter]:
    built = build_adapter(
        "anthropic", "sandbox-anthropic", sandboxes.url("anthropic"), "sk-test", Timeouts(2, 5)
    )
    yield built
    await built.aclose()


def _request(system: str, *, thinking: bool = False, **extra: Any) -> ChatRequest:
    """A request as the Anthropic surface builds it: canonical fields, and the caller's blocks."""
    blocks = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral", **extra}}]
    messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
    config = {"type": "enabled", "budget_tokens": 1024} if thinking else None
    return ChatRequest(
        model="claude-sandbox",
        max_tokens=2048,
        messages=[Message(role="system", content=system), Message(role="user", content=QUESTION)],
        anthropic_extras=AnthropicExtras(system=blocks, messages=messages, thinking=config),
    )


def _long_system(topic: str) -> str:
    # Unique per test: the sandbox's cache outlives each test.
    return " ".join(f"{topic}{i}" for i in range(MIN_CACHEABLE_TOKENS + 100))


async def test_a_marked_system_prompt_is_written_then_read(adapter: ChatAdapter) -> None:
    request = _request(_long_system("write-read"))
    first = await adapter.complete(request)
    second = await adapter.complete(request)

    prompt = MIN_CACHEABLE_TOKENS + 100 + len(QUESTION.split())
    assert first.usage.input_tokens == second.usage.input_tokens == prompt
    assert (first.usage.cache_write_tokens, first.usage.cached_input_tokens) == (1124, 0)
    assert (second.usage.cache_write_tokens, second.usage.cached_input_tokens) == (0, 1124)


async def test_a_one_hour_mark_is_billed_as_a_one_hour_write(adapter: ChatAdapter) -> None:
    result = await adapter.complete(_request(_long_system("one-hour"), ttl="1h"))
    assert result.usage.cache_write_1h_tokens == result.usage.cache_write_tokens == 1124


async def test_a_short_marked_prefix_is_not_cached(adapter: ChatAdapter) -> None:
    result = await adapter.complete(_request("Too short to cache."))
    assert result.usage.cache_write_tokens == result.usage.cached_input_tokens == 0


async def test_thinking_comes_back_signed_and_billed_as_output(adapter: ChatAdapter) -> None:
    plain = await adapter.complete(_request("Be brief."))
    thought = await adapter.complete(_request("Be brief.", thinking=True))

    (block,) = thought.thinking
    assert block.type == "thinking" and block.thinking and block.signature
    assert thought.text == plain.text and not plain.thinking
    assert thought.usage.output_tokens == plain.usage.output_tokens + len(block.thinking.split())


async def test_streamed_thinking_arrives_before_the_text_with_its_signature(
    adapter: ChatAdapter,
) -> None:
    whole = await adapter.complete(_request("Be brief.", thinking=True))
    chunks = [chunk async for chunk in adapter.stream(_request("Be brief.", thinking=True))]

    thinking = [c.thinking for c in chunks if c.thinking is not None]
    first_text = next(i for i, c in enumerate(chunks) if c.text)
    assert all(c.thinking is None for c in chunks[first_text:])
    assert {piece.block for piece in thinking} == {0}
    assert "".join(p.thinking for p in thinking) == whole.thinking[0].thinking
    assert "".join(p.signature for p in thinking) == whole.thinking[0].signature
    assert "".join(c.text for c in chunks) == whole.text


async def test_a_thinking_block_passed_back_must_be_unchanged(adapter: ChatAdapter) -> None:
    first = await adapter.complete(_request("Be brief.", thinking=True))
    (block,) = first.thinking

    def second_turn(thought: ThinkingBlock) -> ChatRequest:
        assistant = [
            {"type": "thinking", "thinking": thought.thinking, "signature": thought.signature}
        ]
        assistant.append({"type": "text", "text": first.text})
        messages = [
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": assistant},
            {"role": "user", "content": "And the planner?"},
        ]
        request = _request("Be brief.", thinking=True)
        assert request.anthropic_extras is not None
        extras = request.anthropic_extras.model_copy(update={"messages": messages})
        return request.model_copy(update={"anthropic_extras": extras})

    answered = await adapter.complete(second_turn(block))
    assert answered.text

    tampered = block.model_copy(update={"thinking": block.thinking + " (edited)"})
    with pytest.raises(errors.CallerError, match="signature"):
        await adapter.complete(second_turn(tampered))
