"""The processes the benchmark starts beside Ray: the sandbox upstream and LiteLLM's proxy.

Each runs in its own process (its own GIL), in its own session so that it and any children it
spawns are stopped together, by the process group this module started, and nothing else.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
LITELLM_VENV = ROOT / ".venv-litellm"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """A started subprocess and where it answers."""

    name: str
    process: subprocess.Popen[bytes]
    root_url: str
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(
        self, path: str, timeout_s: float, headers: dict[str, str] | None = None
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.process.returncode}); see {self.log_path}"
                )
            try:
                if httpx.get(self.root_url + path, headers=headers, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(
            f"{self.name} did not answer on {self.root_url}{path}; see {self.log_path}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            # Its own session, started here: the group is this server and its children only.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def _spawn(name: str, argv: list[str], env: dict[str, str], root_url: str, log_dir: Path) -> Server:
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
        )
    return Server(name=name, process=process, root_url=root_url, log_path=log_path)


def start_sandbox(log_dir: Path) -> Server:
    """The three sandbox providers (`python -m deployments.sandbox`), in a process of their own.

    `extra` maps each adapter kind to the base URL its SDK takes, as `AppArgs.sandbox_urls` wants.
    """
    ports = {name: free_port() for name in ("openai", "anthropic", "google")}
    argv = [sys.executable, "-m", "deployments.sandbox"]
    for name, port in ports.items():
        argv += [f"--{name}-port", str(port)]
    root = f"http://127.0.0.1:{ports['openai']}"
    server = _spawn("sandbox", argv, dict(os.environ), root, log_dir)
    server.wait_ready("/_sandbox/stats", timeout_s=60)
    server.extra = {
        "openai": f"{root}/v1",
        "openai-compatible": f"{root}/v1",
        "anthropic": f"http://127.0.0.1:{ports['anthropic']}",
        "google": f"http://127.0.0.1:{ports['google']}",
    }
    return server


def litellm_installed() -> bool:
    return (LITELLM_VENV / "bin" / "litellm").exists()


def start_litellm(model_name: str, upstream_model: str, upstream_url: str, log_dir: Path) -> Server:
    """LiteLLM's proxy, one worker, pointed at the sandbox; it takes 30–40 s to start.

    Call `wait_ready` on the result (`/health/liveliness`) before using it. Its master key is
    random and its only upstream key is the sandbox's dummy; no real key is ever handed to it.
    """
    port = free_port()
    master_key = "sk-" + secrets.token_urlsafe(32)
    config = {
        "model_list": [
            {
                "model_name": model_name,
                "litellm_params": {
                    "model": f"openai/{upstream_model}",
                    "api_base": upstream_url,
                    "api_key": "sandbox-key-not-a-secret",
                },
            }
        ],
        "litellm_settings": {"telemetry": False, "drop_params": True},
        "general_settings": {"master_key": master_key},
    }
    config_path = Path(tempfile.mkdtemp(prefix="bench-litellm-")) / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = {
        key: value
        for key, value in os.environ.items()
        # Only what a process needs to run; no credentials of any kind travel to it.
        if key in ("PATH", "HOME", "LANG", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR")
    }
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # no download of the price map at start
        LITELLM_LOG="ERROR",
        LITELLM_TELEMETRY="False",
        PYTHONUNBUFFERED="1",
    )
    argv = [
        str(LITELLM_VENV / "bin" / "litellm"),
        "--config",
        str(config_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    server = _spawn("litellm", argv, env, f"http://127.0.0.1:{port}", log_dir)
    server.extra = {"master_key": master_key}
    return server
