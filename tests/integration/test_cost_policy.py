"""A cost policy re-resolves when a price changes: `serve deploy` with a new price re-points
`cheap` on the running replicas, and the ledger books the new model at its own price."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest
import yaml

from deployments.canonical import Usage
from deployments.ledger.cost import cost_usd
from directory.loader import load_directory
from serve_app.app.deploy import deploy, serve_config
from tests.integration.conftest import Switchyard

pytestmark = pytest.mark.ray


def repriced(
    source: Path, target: Path, model_id: str, input_usd: float, output_usd: float
) -> Path:
    shutil.copytree(source, target)
    models = yaml.safe_load((target / "models.yaml").read_text())
    for model in models["models"]:
        if model["id"] == model_id:
            model["pricing"].update({"input": input_usd, "output": output_usd})
    (target / "models.yaml").write_text(yaml.safe_dump(models, sort_keys=False))
    return target


def served_by(switchyard: Switchyard) -> tuple[str, float, Usage]:
    response = httpx.post(
        f"{switchyard.url}/v1/chat/completions",
        json={"model": "cheap", "messages": [{"role": "user", "content": "bulk job"}]},
        headers=switchyard.admin_headers,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    usage = Usage(
        input_tokens=body["usage"]["prompt_tokens"],
        output_tokens=body["usage"]["completion_tokens"],
    )
    return str(body["switchyard"]["model"]), float(body["switchyard"]["cost_usd"]), usage


def test_a_price_rise_moves_the_cheapest_policy_to_the_runner_up(
    switchyard: Switchyard, tmp_path: Path
) -> None:
    selection = switchyard.directory.selections["cheap"]
    pick, runner_up = selection.pick, selection.runner_up
    assert runner_up is not None
    assert served_by(switchyard)[0] == pick.id
    # The pick's price rises above the runner-up's: the policy must re-rank on reload.
    dearer = runner_up.model.pricing
    changed = load_directory(
        repriced(
            switchyard.directory_path, tmp_path / "d", pick.id, dearer.input * 2, dearer.output * 2
        )
    )
    assert changed.resolve("cheap").id == runner_up.model.id
    try:
        deploy(
            serve_config(switchyard.app_args, changed, http_port=switchyard.http_port),
            switchyard.dashboard_url,
        )
        deadline = time.monotonic() + 120
        recent: list[str] = []
        while time.monotonic() < deadline and recent[-10:] != [runner_up.model.id] * 10:
            recent.append(served_by(switchyard)[0])
            time.sleep(0.05)
        assert recent[-10:] == [runner_up.model.id] * 10
        # Booked at the runner-up's own price.
        model, cost, usage = served_by(switchyard)
        assert model == runner_up.model.id
        assert cost == pytest.approx(cost_usd(usage, runner_up.model.pricing), rel=1e-9)
    finally:
        # Leave the session's app as it was, prices included, before the next test.
        deploy(
            serve_config(switchyard.app_args, switchyard.directory, http_port=switchyard.http_port),
            switchyard.dashboard_url,
        )
        deadline = time.monotonic() + 120
        back: list[str] = []
        while time.monotonic() < deadline and back[-10:] != [pick.id] * 10:
            back.append(served_by(switchyard)[0])
            time.sleep(0.05)
