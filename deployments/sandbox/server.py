"""Serving the three sandbox providers on loopback: in the background for tests, the demo,
notebooks and benchmarks (`start_sandboxes`), or in the foreground for `switchyard sandbox`
(`main_sandbox`).

Each app runs its own uvicorn server in its own daemon thread with its own event loop, so a
sandbox never competes with the caller's event loop (a test's, a notebook's) and a hung request
in one provider cannot slow another. Sockets are bound before the threads start, so the ports are
known, and taken, at once.

Sandboxes bind to loopback addresses only: they answer anyone who can reach them.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from deployments.sandbox.anthropic_app import build_anthropic_app
from deployments.sandbox.asgi import quiet_stream_cuts
from deployments.sandbox.gemini_app import build_gemini_app
from deployments.sandbox.openai_app import build_openai_app
from deployments.sandbox.script import Scriptbook

PROVIDERS = ("openai", "anthropic", "google")
# Adapter kinds (providers.yaml) → the sandbox that speaks their protocol.
_KIND_TO_SANDBOX = {
    "openai": "openai",
    "openai-compatible": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "gemini": "google",
}
_BUILDERS: dict[str, Callable[[Scriptbook | None], Starlette]] = {
    "openai": build_openai_app,
    "anthropic": build_anthropic_app,
    "google": build_gemini_app,
}
# The base URL each provider's SDK is given: the OpenAI SDK expects the /v1 in it, the others
# add their version themselves.
_URL_SUFFIX = {"openai": "/v1", "anthropic": "", "google": ""}
DEFAULT_CLI_PORTS = {"openai": 9101, "anthropic": 9102, "google": 9103}
_START_TIMEOUT_S = 10.0
SANDBOX_DESCRIPTION = (
    "Serve the SANDBOX providers (OpenAI, Anthropic, Gemini wire formats) on loopback until "
    "Ctrl-C. Port 0 picks a free port."
)


@dataclass(frozen=True)
class SandboxPorts:
    """Ports to bind; 0 picks a free one."""

    openai: int = 0
    anthropic: int = 0
    google: int = 0


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"sandbox providers bind to loopback only (127.0.0.1, ::1), not {host!r}")


class _ServedApp:
    """One app on one uvicorn server, in one daemon thread."""

    def __init__(self, name: str, app: Starlette, host: str, port: int) -> None:
        self.name = name
        self.book: Scriptbook = app.state.book
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        netloc = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.root_url = f"http://{netloc}"
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,  # leave the host program's logging as it is
            log_level="warning",
            access_log=False,
            # A hung request must not hold shutdown for long: cancel it after this.
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"switchyard-sandbox-{name}",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self.name} sandbox did not start on {self.root_url}")
            time.sleep(0.005)

    def stop(self) -> None:
        self.book.closing.set()  # hung and paced requests end now, not at the shutdown timeout
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        self._socket.close()


class SandboxSet:
    """The three running sandboxes: their URLs, their scriptbooks, and a way to stop them."""

    def __init__(self, served: dict[str, _ServedApp]) -> None:
        self._served = served

    @property
    def openai_url(self) -> str:
        """Base URL for the OpenAI SDK (and OpenAI-compatible vendors): `http://127.0.0.1:PORT/v1`."""
        return self.url("openai")

    @property
    def anthropic_url(self) -> str:
        """Base URL for the Anthropic SDK: `http://127.0.0.1:PORT`."""
        return self.url("anthropic")

    @property
    def google_url(self) -> str:
        """Base URL for google-genai's `HttpOptions(base_url=...)`: `http://127.0.0.1:PORT`."""
        return self.url("google")

    @property
    def urls(self) -> dict[str, str]:
        return {name: self.url(name) for name in self._served}

    def url(self, kind: str) -> str:
        """The SDK base URL for a provider or adapter kind (openai, openai-compatible, anthropic,
        google)."""
        name = self._sandbox(kind)
        return self._served[name].root_url + _URL_SUFFIX[name]

    def root_url(self, kind: str) -> str:
        """Where the control API lives: `{root_url}/_sandbox/script` and so on."""
        return self._served[self._sandbox(kind)].root_url

    def book(self, kind: str) -> Scriptbook:
        return self._served[self._sandbox(kind)].book

    def script(self, kind: str, model: str, **fields: Any) -> None:
        """Script `model` in-process, as `POST /_sandbox/script` would."""
        self.book(kind).set({"model": model, **fields})

    def stats(self, kind: str) -> dict[str, Any]:
        return self.book(kind).stats()

    def reset(self) -> None:
        """Clear every sandbox's scripts and counts."""
        for served in self._served.values():
            served.book.reset()

    def stop(self) -> None:
        for served in self._served.values():
            served.stop()

    def __enter__(self) -> SandboxSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @staticmethod
    def _sandbox(kind: str) -> str:
        try:
            return _KIND_TO_SANDBOX[kind]
        except KeyError:
            raise KeyError(f"no sandbox for {kind!r}; known: {sorted(_KIND_TO_SANDBOX)}") from None


def start_sandboxes(host: str = "127.0.0.1", ports: SandboxPorts | None = None) -> SandboxSet:
    """Start the OpenAI, Anthropic and Gemini sandboxes in background threads; returns at once
    when they accept connections. Use as a context manager, or call `.stop()`."""
    _check_loopback(host)
    ports = ports or SandboxPorts()
    quiet_stream_cuts()
    served: dict[str, _ServedApp] = {}
    try:
        for name in PROVIDERS:
            served[name] = _ServedApp(name, _BUILDERS[name](None), host, getattr(ports, name))
            served[name].start()
    except BaseException:
        for app in served.values():
            app.stop()
        raise
    return SandboxSet(served)


def describe(sandboxes: SandboxSet) -> str:
    """The banner `switchyard sandbox` prints: every URL, labelled SANDBOX."""
    lines = ["SANDBOX providers: fake models on loopback, deterministic answers, no real calls."]
    for name in PROVIDERS:
        note = "  (also OpenAI-compatible: mistral, groq, deepseek)" if name == "openai" else ""
        lines.append(f"  SANDBOX {name:<10} {sandboxes.url(name)}{note}")
    lines.append(
        "  control: POST {root}/_sandbox/script | GET {root}/_sandbox/stats | "
        "POST {root}/_sandbox/reset"
    )
    return "\n".join(lines)


def run_forever(
    host: str = "127.0.0.1",
    ports: SandboxPorts | None = None,
    out: Callable[[str], None] = print,
) -> None:
    """Serve the sandboxes until Ctrl-C."""
    with start_sandboxes(host, ports) as sandboxes:
        out(describe(sandboxes))
        out("Ctrl-C to stop.")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            out("SANDBOX providers stopped.")


def add_sandbox_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `switchyard sandbox`, shared with `python -m deployments.sandbox`."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)"
    )
    for name in PROVIDERS:
        parser.add_argument(
            f"--{name}-port", type=int, default=DEFAULT_CLI_PORTS[name], metavar="PORT"
        )


def run_sandbox_command(args: argparse.Namespace) -> int:
    ports = SandboxPorts(
        openai=args.openai_port, anthropic=args.anthropic_port, google=args.google_port
    )
    try:
        run_forever(args.host, ports)
    except (ValueError, OSError) as exc:
        print(f"switchyard sandbox: {exc}", file=sys.stderr)
        return 2
    return 0


def main_sandbox(argv: Sequence[str] | None = None) -> int:
    """`switchyard sandbox [--host H] [--openai-port P] [--anthropic-port P] [--google-port P]`."""
    parser = argparse.ArgumentParser(prog="switchyard sandbox", description=SANDBOX_DESCRIPTION)
    add_sandbox_arguments(parser)
    return run_sandbox_command(parser.parse_args(argv))
