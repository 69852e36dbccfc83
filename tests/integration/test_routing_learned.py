"""A learned shortcut in the running app: the real all-MiniLM-L6-v2 behind `embed` decides, the
sandbox providers answer (skipped where vLLM's CPU build is absent).

The session's directory gets two learned shortcuts by hot reload (`serve deploy`): `qa`, served by
the shipped MMLU router (GPT-4 vs Mixtral outcomes) between a cheap and a strong model, and
`qa-elsewhere`, whose router expects vectors from `local/bge-m3`, which this app does not deploy,
so it can never decide. The session's directory is put back afterwards.

Named to run after test_local_models.py, which watches `embed` come up from zero replicas; this
test wakes it up first, as the router would otherwise wait on a cold start.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from directory.loader import SHIPPED, load_directory
from serve_app.app.deploy import deploy, serve_config
from tests.integration.conftest import Switchyard
from tests.learned_prompts import EASY, HARD

pytest.importorskip("vllm")
pytestmark = [pytest.mark.ray, pytest.mark.vllm]

CHEAP, STRONG = "deepseek/deepseek-flash", "openai/gpt-6.2-astra"
ROUTER = "routers/mmlu-gpt4-mixtral.json"


def with_learned_shortcuts(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    (target / "routers").mkdir()
    shutil.copy(SHIPPED / ROUTER, target / ROUTER)
    elsewhere: dict[str, Any] = json.loads((SHIPPED / ROUTER).read_text())
    elsewhere.update(embedding_model="local/bge-m3", dimensions=1024)
    elsewhere["steps"] = [{**elsewhere["steps"][0], "weights": [0.0] * 1024}]
    (target / "routers" / "elsewhere.json").write_text(json.dumps(elsewhere))
    shortcuts = yaml.safe_load((target / "shortcuts.yaml").read_text())
    for name, router in (("qa", ROUTER), ("qa-elsewhere", "routers/elsewhere.json")):
        learned = {
            "models": [CHEAP, STRONG],
            "router": router,
            "fallback": STRONG,
            # Generous: this CPU is shared with the Ray cluster; the benchmark measures the cost.
            "embed_deadline_ms": 3000,
        }
        shortcuts["shortcuts"].append(
            {"name": name, "description": "per prompt", "learned": learned}
        )
    (target / "shortcuts.yaml").write_text(yaml.safe_dump(shortcuts, sort_keys=False))
    return target


@pytest.fixture(scope="module")
def learned_app(
    switchyard: Switchyard, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Switchyard]:
    folder = with_learned_shortcuts(
        switchyard.directory_path, tmp_path_factory.mktemp("learned") / "directory"
    )
    changed = load_directory(folder)
    # Wake the embed model (the session scales it to zero) before the router needs it.
    embeddings = httpx.post(
        f"{switchyard.url}/v1/embeddings",
        json={"model": "embed", "input": ["wake up"]},
        headers=switchyard.admin_headers,
        timeout=120,
    )
    assert embeddings.status_code == 200, embeddings.text
    deploy(
        serve_config(switchyard.app_args, changed, http_port=switchyard.http_port),
        switchyard.dashboard_url,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # every Ingress replica has the new directory
            if all(ask(switchyard, "qa-elsewhere", "hi").status_code == 200 for _ in range(6)):
                break
            time.sleep(0.5)
        yield switchyard
    finally:
        deploy(
            serve_config(switchyard.app_args, switchyard.directory, http_port=switchyard.http_port),
            switchyard.dashboard_url,
        )


def ask(switchyard: Switchyard, model: str, prompt: str) -> httpx.Response:
    return httpx.post(
        f"{switchyard.url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": prompt}]},
        headers=switchyard.admin_headers,
        timeout=60,
    )


def decision_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    route = response.json()["switchyard"]
    assert route["shortcut"] in ("qa", "qa-elsewhere")
    return dict(route["decision"])


def test_an_easy_question_goes_to_the_cheap_model_a_hard_one_to_the_strong(
    learned_app: Switchyard,
) -> None:
    easy = ask(learned_app, "qa", EASY)
    decision = decision_of(easy)
    assert easy.json()["switchyard"]["model"] == CHEAP
    assert decision["model"] == CHEAP and decision["fallback_reason"] is None
    assert decision["probability"] >= decision["threshold"]

    hard = ask(learned_app, "qa", HARD)
    decision = decision_of(hard)
    assert hard.json()["switchyard"]["model"] == STRONG
    assert decision["model"] == STRONG and decision["fallback_reason"] is None
    assert decision["probability"] < decision["threshold"]


def test_a_router_whose_embed_model_is_not_deployed_sends_calls_to_the_strong_model(
    learned_app: Switchyard,
) -> None:
    response = ask(learned_app, "qa-elsewhere", EASY)
    decision = decision_of(response)
    assert response.json()["switchyard"]["model"] == STRONG
    assert decision == {
        "model": STRONG,
        "router": "routers/elsewhere.json",
        "probability": None,
        "threshold": None,
        "fallback_reason": "embed model local/bge-m3 is not deployed here",
    }
