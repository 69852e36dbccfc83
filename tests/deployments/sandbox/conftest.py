"""Fixtures for the sandbox provider tests: one set of sandboxes for the session, reset before
every test, and the official SDK clients pointed at them with retries off.

Building a client costs 40–300 ms (TLS contexts, connection pools), so each client serves the
whole session; they live on the session's event loop, and so must the tests that use them
(`pytestmark = pytest.mark.asyncio(loop_scope="session")` in each module).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anthropic
import httpx
import openai
import pytest
import pytest_asyncio
from google import genai
from google.genai import types as genai_types

from deployments.sandbox import SandboxSet, start_sandboxes
from tests.deployments.sandbox.helpers import Control

# Long enough for a loaded CI machine; the hang tests set their own, shorter timeouts.
CLIENT_TIMEOUT_S = 10.0


@pytest.fixture(scope="session")
def sandboxes() -> Iterator[SandboxSet]:
    with start_sandboxes() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_scripts(sandboxes: SandboxSet) -> None:
    sandboxes.reset()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def control(sandboxes: SandboxSet) -> AsyncIterator[Control]:
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT_S) as http:
        yield Control(http, sandboxes)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def openai_client(sandboxes: SandboxSet) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(
        base_url=sandboxes.openai_url, api_key="sk-sandbox", max_retries=0, timeout=CLIENT_TIMEOUT_S
    )
    yield client
    await client.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def anthropic_client(sandboxes: SandboxSet) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(
        base_url=sandboxes.anthropic_url,
        api_key="sk-ant-sandbox",
        max_retries=0,
        timeout=CLIENT_TIMEOUT_S,
    )
    yield client
    await client.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def genai_client(sandboxes: SandboxSet) -> AsyncIterator[genai.Client]:
    # google-genai has no retries unless HttpOptions.retry_options asks for them.
    client = genai.Client(
        api_key="sandbox-key",
        http_options=genai_types.HttpOptions(
            base_url=sandboxes.google_url, timeout=int(CLIENT_TIMEOUT_S * 1000)
        ),
    )
    yield client
    await client.aio.aclose()
