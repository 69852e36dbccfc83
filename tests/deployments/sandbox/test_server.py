"""Serving the sandboxes: URLs, loopback only, the control API over HTTP, stopping."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from deployments.sandbox import SandboxPorts, SandboxSet, main_sandbox, start_sandboxes
from deployments.sandbox.server import describe
from tests.deployments.sandbox.helpers import Control


def test_urls_have_the_shapes_the_sdks_expect(sandboxes: SandboxSet) -> None:
    assert sandboxes.openai_url.startswith("http://127.0.0.1:")
    assert sandboxes.openai_url.endswith("/v1")
    assert sandboxes.anthropic_url.count("/") == 2  # http://127.0.0.1:PORT, no path
    assert sandboxes.google_url.count("/") == 2
    assert sandboxes.url("openai-compatible") == sandboxes.openai_url
    assert set(sandboxes.urls) == {"openai", "anthropic", "google"}
    with pytest.raises(KeyError, match="known"):
        sandboxes.url("vllm")


def test_describe_labels_every_url_sandbox(sandboxes: SandboxSet) -> None:
    lines = describe(sandboxes).splitlines()
    for url in sandboxes.urls.values():
        (line,) = [line for line in lines if url in line]
        assert "SANDBOX" in line


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_only_loopback_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        start_sandboxes(host)
    assert main_sandbox(["--host", host]) == 2


def test_stop_frees_the_ports() -> None:
    with start_sandboxes(ports=SandboxPorts()) as running:
        port = int(running.anthropic_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


@pytest.mark.asyncio(loop_scope="session")  # where the control client lives
async def test_control_api_over_http(control: Control, sandboxes: SandboxSet) -> None:
    assert await control.script("openai", model="gpt-5", fault="http_429", times=2) == {
        "script": {"model": "gpt-5", "fault": "http_429", "times": 2}
    }
    async with httpx.AsyncClient() as http:
        refused = await http.post(
            f"{sandboxes.root_url('openai')}/_sandbox/script", json={"model": "gpt-5", "fualt": "x"}
        )
        assert refused.status_code == 400
        # Under /v1 too, so that `base_url + "/_sandbox/..."` works for the OpenAI sandbox.
        scripts = await http.get(f"{sandboxes.openai_url}/_sandbox/scripts")
    assert scripts.json()["gpt-5"]["faults_left"] == 2
    assert await control.stats("openai") == {"requests": {}, "total": 0}
    await control.reset("openai")
    assert sandboxes.book("openai").scripts() == {}


@pytest.mark.asyncio(loop_scope="session")  # where the control client lives
async def test_every_response_is_labelled_sandbox(sandboxes: SandboxSet) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{sandboxes.openai_url}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
    assert response.headers["x-switchyard-sandbox"] == "1"


@pytest.mark.asyncio(loop_scope="session")  # where the control client lives
async def test_bad_requests_get_the_providers_400(sandboxes: SandboxSet) -> None:
    async with httpx.AsyncClient() as http:
        not_json = await http.post(f"{sandboxes.openai_url}/chat/completions", content=b"{oops")
        no_max_tokens = await http.post(
            f"{sandboxes.anthropic_url}/v1/messages",
            json={"model": "c", "messages": [{"role": "user", "content": "hi"}]},
        )
        unknown_version = await http.post(
            f"{sandboxes.google_url}/v9/models/g:generateContent", json={}
        )
    assert not_json.status_code == 400
    assert not_json.json()["error"]["type"] == "invalid_request_error"
    assert no_max_tokens.status_code == 400
    assert no_max_tokens.json()["error"]["type"] == "invalid_request_error"
    assert unknown_version.status_code == 404
    assert unknown_version.json()["error"]["status"] == "NOT_FOUND"


def test_stopping_ends_a_hung_request_with_a_503() -> None:
    results: list[int] = []
    with start_sandboxes() as running:
        running.script("openai", "gpt-5", fault="hang")
        request = threading.Thread(
            target=lambda: results.append(
                httpx.post(
                    f"{running.openai_url}/chat/completions",
                    json={"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]},
                    timeout=30,
                ).status_code
            )
        )
        request.start()
        while running.stats("openai")["total"] == 0:
            time.sleep(0.01)
    request.join(timeout=30)
    # 503 from the sandbox itself, not a 500 from the server cancelling the request at shutdown
    assert results == [503]


def test_public_names_are_all_exported() -> None:
    import deployments.sandbox as package

    public = {name for name in vars(package) if not name.startswith("_")}
    submodules = {"answer", "asgi", "control", "prompt_cache", "script", "server", "text"} | {
        "anthropic_app",
        "gemini_app",
        "openai_app",
    }
    assert set(package.__all__) == public - submodules
