"""A LocalModel replica keeps the log handlers Ray Serve gave it when its engine starts.

vLLM applies its own logging configuration as an engine starts unless told not to, and that
closes every handler already in the process: Serve's buffered access log then loses its target,
keeps each record in memory for the replica's life and writes none (found by the soak benchmark).
Checked in a fresh interpreter with the environment the app gives a local replica, because
logging is configured once per process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from deployments.local import local_runtime_env

ENGINE_LOGGING_SETUP = textwrap.dedent(
    """
    import logging, logging.handlers, sys
    # What Ray Serve installs in a replica: the access log behind a buffer.
    buffered = logging.handlers.MemoryHandler(capacity=10, target=logging.StreamHandler(sys.stdout))
    logging.getLogger("ray.serve").addHandler(buffered)
    from vllm.config.logging import LoggingConfig
    from vllm.logger import configure_logging_if_needed
    configure_logging_if_needed(LoggingConfig())  # what AsyncLLM does as it starts
    print("open" if buffered.target is not None else "closed")
    """
)


@pytest.mark.parametrize("on_gpu", [False, True], ids=["cpu", "gpu"])
def test_engine_start_leaves_serves_log_handlers_open(on_gpu: bool) -> None:
    pytest.importorskip("vllm")
    env = {**os.environ, **local_runtime_env(on_gpu=on_gpu)["env_vars"]}
    done = subprocess.run(
        [sys.executable, "-c", ENGINE_LOGGING_SETUP],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == "open", done.stderr[-2000:]
