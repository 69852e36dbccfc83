"""CloudProxy and the adapter registry, without a cluster: a plain class over a canned server."""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployments import errors
from deployments.canonical import ChatRequest, Message
from deployments.cloud import ADAPTERS, CloudProxy, adapter_class, build_adapter
from deployments.cloud.anthropic_adapter import AnthropicAdapter
from deployments.cloud.google_adapter import GoogleAdapter
from deployments.cloud.openai_adapter import OpenAIAdapter, OpenAICompatibleAdapter
from tests.deployments.cloud.canned_server import Canned, CannedServer, sse_events

FIXTURES = Path(__file__).parent / "fixtures"
REQUEST = ChatRequest(model="gpt-4o-mini", messages=[Message(role="user", content="Hello")])


@pytest.fixture(scope="module")
def server() -> Iterator[CannedServer]:
    running = CannedServer()
    yield running
    running.close()


def test_registry_has_one_class_per_adapter_kind() -> None:
    assert {kind: adapter_class(kind) for kind in ADAPTERS} == {
        "anthropic": AnthropicAdapter,
        "openai": OpenAIAdapter,
        "openai-compatible": OpenAICompatibleAdapter,
        "google": GoogleAdapter,
    }


# A fresh interpreter builds one CloudProxy of the given kind and prints the SDKs it has loaded.
_SDKS_LOADED = """
import sys
from deployments.cloud import CloudProxy
CloudProxy("p", sys.argv[1], "http://127.0.0.1:9/v1", None, api_key="sk-unused")
print(sorted(sdk for sdk in ("anthropic", "openai", "google.genai") if sdk in sys.modules))
"""


@pytest.mark.parametrize(
    ("kind", "sdks"),
    [
        ("anthropic", "['anthropic']"),
        ("openai", "['openai']"),
        ("openai-compatible", "['openai']"),
        ("google", "['google.genai']"),
    ],
)
def test_a_proxy_loads_only_its_own_sdk(kind: str, sdks: str) -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", _SDKS_LOADED, kind], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == sdks


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: anthropic, google, openai, openai-compatible"):
        build_adapter("vllm", "local", None, None)


def test_stream_is_an_async_generator() -> None:
    # Ray Serve streams a method's results to `.options(stream=True)` handles only if it is one.
    assert inspect.isasyncgenfunction(CloudProxy.stream)


async def test_reads_the_key_from_the_environment(
    server: CannedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHYARD_TEST_KEY", "sk-test-SECRET123456")
    proxy = CloudProxy(
        "openai", "openai", server.url + "/v1", "SWITCHYARD_TEST_KEY", {"total_s": 5}
    )
    monkeypatch.delenv("SWITCHYARD_TEST_KEY")  # read once, at construction
    server.respond(Canned(body=(FIXTURES / "openai_completion.json").read_bytes()))
    try:
        result = await proxy.complete(REQUEST)
    finally:
        await proxy.aclose()
    assert result.usage.cached_input_tokens == 1024
    assert server.received[0].headers["authorization"] == "Bearer sk-test-SECRET123456"
    assert "SECRET" not in repr(vars(proxy))


async def test_streams_through(server: CannedServer) -> None:
    events = sse_events((FIXTURES / "openai_stream_usage.sse").read_text())
    server.respond(Canned(content_type="text/event-stream", pieces=events))
    proxy = CloudProxy("groq", "openai-compatible", server.url + "/v1", None, api_key="k")
    try:
        chunks = [chunk async for chunk in proxy.stream(REQUEST)]
    finally:
        await proxy.aclose()
    assert "".join(c.text for c in chunks) == "Hello! How can I help?"
    assert chunks[-1].finish_reason == "stop"


async def test_a_missing_key_is_an_outage_not_a_crash(
    server: CannedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SWITCHYARD_UNSET_KEY", raising=False)
    proxy = CloudProxy("openai", "openai", server.url + "/v1", "SWITCHYARD_UNSET_KEY")
    server.respond(Canned())
    try:
        with pytest.raises(errors.AuthenticationFailed, match="SWITCHYARD_UNSET_KEY"):
            await proxy.complete(REQUEST)
        with pytest.raises(errors.AuthenticationFailed):
            async for _ in proxy.stream(REQUEST):
                pass
    finally:
        await proxy.aclose()
    assert server.received == []  # the provider was never asked


async def test_health_check_does_not_call_the_provider(server: CannedServer) -> None:
    proxy = CloudProxy("anthropic", "anthropic", server.url, None, api_key="k")
    server.respond(Canned())
    try:
        assert await proxy.check_health() is None
    finally:
        await proxy.aclose()
    assert server.received == []
