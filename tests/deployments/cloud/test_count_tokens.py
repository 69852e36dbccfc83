"""A prompt's tokens as the provider counts them: the Anthropic adapter asks the sandbox's
counting endpoint through the SDK; a proxy whose provider cannot count says so (None)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deployments.canonical import ChatRequest, Message
from deployments.cloud import Timeouts, build_adapter
from deployments.cloud.proxy import CloudProxy
from deployments.errors import AuthenticationFailed
from deployments.sandbox import SandboxSet, start_sandboxes

PROMPT = ChatRequest(
    model="claude-sandbox",
    messages=[
        Message(role="system", content="You are terse."),
        Message(role="user", content="Count these five words"),
    ],
    max_tokens=50,
)


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[SandboxSet]:
    with start_sandboxes() as running:
        yield running


async def test_the_count_is_what_the_same_prompt_is_billed(sandboxes: SandboxSet) -> None:
    adapter = build_adapter(
        "anthropic", "anthropic", sandboxes.url("anthropic"), "sk-test-key", Timeouts()
    )
    try:
        counted = await adapter.count_tokens(PROMPT)  # type: ignore[attr-defined]
        answered = await adapter.complete(PROMPT)
    finally:
        await adapter.aclose()
    assert counted == answered.usage.input_tokens == 7  # sandbox: a token is a word


async def test_a_provider_that_cannot_count_says_none(sandboxes: SandboxSet) -> None:
    proxy = CloudProxy("openai", "openai", sandboxes.url("openai"), None, api_key="sk-test-key")
    try:
        assert await proxy.count_tokens(PROMPT) is None
    finally:
        await proxy.aclose()


async def test_a_proxy_without_its_key_counts_nothing(sandboxes: SandboxSet) -> None:
    proxy = CloudProxy("anthropic", "anthropic", sandboxes.url("anthropic"), "NO_SUCH_KEY_ENV")
    try:
        with pytest.raises(AuthenticationFailed):
            await proxy.count_tokens(PROMPT)
    finally:
        await proxy.aclose()
