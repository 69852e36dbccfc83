"""The URL `switchyard serve` prints outlives its Ingress replicas: each replica serves on a port
of its own (direct ingress) and one killed comes back on another, so the printed URL is the front
door's (`open_front_door`), which follows them."""

from __future__ import annotations

import os
import signal
import time

import httpx

from serve_app.app.builder import APP_NAME
from serve_app.dev.local_cluster import ingress_addresses, open_front_door, serve_details
from tests.integration.conftest import Switchyard, wait_until_serving

RECOVERY_BOUND_S = 180  # a generous bound on Serve replacing killed replicas, not a timing claim


def ingress_pids() -> list[int]:
    deployment = serve_details()["applications"][APP_NAME]["deployments"]["ingress"]
    return [int(replica["pid"]) for replica in deployment["replicas"]]


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v1/models", timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_printed_url_answers_again_after_the_ingress_replicas_are_killed(
    switchyard: Switchyard,
) -> None:
    door = open_front_door(APP_NAME)
    try:
        assert answers(door.url)
        ports_before = {port for _host, port, _prefix in ingress_addresses(APP_NAME)}
        pids = ingress_pids()
        for pid in pids:  # every replica, so that no old port can answer for the new ones
            os.kill(pid, signal.SIGKILL)

        deadline = time.monotonic() + RECOVERY_BOUND_S
        while not answers(door.url) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert answers(door.url), f"the front door did not answer within {RECOVERY_BOUND_S} s"

        # What made the printed replica URL go dark: the replacements listen elsewhere.
        assert not set(ingress_pids()) & set(pids)
        ports_after = {port for _host, port, _prefix in ingress_addresses(APP_NAME)}
        assert ports_after and not ports_after & ports_before
    finally:
        door.close()
        # Leave the session's Switchyard whole for the tests after this one.
        wait_until_serving(switchyard.url, switchyard.dashboard_url, timeout_s=RECOVERY_BOUND_S)
