"""`serve deploy` with a changed directory re-points a shortcut in place, losing no request."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from directory.loader import load_directory
from serve_app.app.deploy import deploy, serve_config
from tests.integration.conftest import Switchyard

pytestmark = pytest.mark.ray


def repointed(source: Path, target: Path, shortcut: str, model: str) -> Path:
    shutil.copytree(source, target)
    shortcuts = yaml.safe_load((target / "shortcuts.yaml").read_text())
    for entry in shortcuts["shortcuts"]:
        if entry["name"] == shortcut:
            entry.pop("select", None)
            entry["model"] = model
    (target / "shortcuts.yaml").write_text(yaml.safe_dump(shortcuts, sort_keys=False))
    return target


def served_by(switchyard: Switchyard) -> str:
    response = httpx.post(
        f"{switchyard.url}/v1/chat/completions",
        json={"model": "fast", "messages": [{"role": "user", "content": "quick"}]},
        headers=switchyard.admin_headers,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["model"])


def test_repointing_fast_takes_effect_with_zero_failed_requests(
    switchyard: Switchyard, tmp_path: Path
) -> None:
    before = switchyard.directory.resolve("fast").id
    after = "openai/gpt-6-luna"
    assert before != after
    changed = load_directory(repointed(switchyard.directory_path, tmp_path / "d", "fast", after))

    served: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def loop() -> None:
        with httpx.Client(timeout=30, headers=switchyard.admin_headers) as client:
            while not stop.is_set():
                response = client.post(
                    f"{switchyard.url}/v1/chat/completions",
                    json={"model": "fast", "messages": [{"role": "user", "content": "quick"}]},
                )
                if response.status_code == 200:
                    served.append(response.json()["model"])
                else:
                    failures.append(f"{response.status_code}: {response.text[:200]}")

    workers = [threading.Thread(target=loop) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        deploy(
            serve_config(switchyard.app_args, changed, http_port=switchyard.http_port),
            switchyard.dashboard_url,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and served[-20:].count(after) < 20:
            time.sleep(0.2)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
        # Leave the session's app as it was for the other tests.
        deploy(
            serve_config(switchyard.app_args, switchyard.directory, http_port=switchyard.http_port),
            switchyard.dashboard_url,
        )
    assert failures == []
    assert before in served and served[-20:] == [after] * 20


def test_an_invalid_directory_is_refused_and_the_old_one_keeps_serving(
    switchyard: Switchyard, tmp_path: Path
) -> None:
    broken = repointed(switchyard.directory_path, tmp_path / "bad", "fast", "openai/gpt-6-lunaa")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "serve_app.cli",
            "deploy",
            "--directory",
            str(broken),
            "--address",
            switchyard.dashboard_url,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "shortcuts.yaml" in done.stderr and "fast" in done.stderr
    assert "did you mean 'openai/gpt-6-luna'" in done.stderr

    # Sent past the CLI, straight into user_config: every replica refuses it and keeps serving.
    config = serve_config(switchyard.app_args, switchyard.directory, http_port=switchyard.http_port)
    bad = config["applications"][0]["deployments"][0]["user_config"]["directory"]
    next(s for s in bad["shortcuts"] if s["name"] == "fast")["model"] = "openai/nope"
    next(s for s in bad["shortcuts"] if s["name"] == "fast").pop("select", None)
    try:
        deploy(config, switchyard.dashboard_url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            health = [httpx.get(f"{switchyard.url}/healthz").json() for _ in range(10)]
            if all("refused_directory" in h for h in health):
                break
            time.sleep(0.3)
        assert all("openai/nope" in h["refused_directory"] for h in health)
        assert served_by(switchyard) == switchyard.directory.resolve("fast").id
    finally:
        deploy(
            serve_config(switchyard.app_args, switchyard.directory, http_port=switchyard.http_port),
            switchyard.dashboard_url,
        )
