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
from tests.integration.conftest import ADMIN_KEY, Switchyard, wait_until_serving

RECOVERY_BOUND_S = 180  # a generous bound on Serve replacing killed replicas, not a timing claim


def ingress_pids() -> list[int | None]:
    """Each Ingress replica's PID as Serve's controller knows it (None: one still starting)."""
    deployment = serve_details()["applications"][APP_NAME]["deployments"]["ingress"]
    return [replica.get("pid") for replica in deployment["replicas"]]


def settled_after(killed: list[int | None], deadline: float) -> list[int | None]:
    """The controller's account once it lists none of the killed replicas and none starting."""
    pids = ingress_pids()
    while (None in pids or set(pids) & set(killed)) and time.monotonic() < deadline:
        time.sleep(0.5)
        pids = ingress_pids()
    return pids


def answers(url: str) -> bool:
    try:
        headers = {"authorization": f"Bearer {ADMIN_KEY}"}
        return httpx.get(f"{url}/v1/models", headers=headers, timeout=10).status_code == 200
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
        assert None not in pids
        for pid in pids:  # every replica, so that no old port can answer for the new ones
            os.kill(int(pid), signal.SIGKILL)

        deadline = time.monotonic() + RECOVERY_BOUND_S
        while not answers(door.url) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert answers(door.url), f"the front door did not answer within {RECOVERY_BOUND_S} s"

        # What made the printed replica URL go dark: the replacements listen elsewhere. The door
        # answers as soon as one replacement does, which can be before Serve's controller has
        # noticed the other death: wait for its account to hold no killed replica.
        replacements = settled_after(pids, deadline)
        assert replacements and None not in replacements
        assert not set(replacements) & set(pids)
        ports_after = {port for _host, port, _prefix in ingress_addresses(APP_NAME)}
        while ports_after & ports_before and time.monotonic() < deadline:  # the same lag
            time.sleep(0.5)
            ports_after = {port for _host, port, _prefix in ingress_addresses(APP_NAME)}
        assert ports_after and not ports_after & ports_before
    finally:
        door.close()
        # Leave the session's Switchyard whole for the tests after this one.
        wait_until_serving(switchyard.url, switchyard.dashboard_url, timeout_s=RECOVERY_BOUND_S)
