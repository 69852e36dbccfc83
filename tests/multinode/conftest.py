"""The simulated multi-node cluster's tests (tests/multinode/scenario.py).

The scenario starts a Ray cluster of its own in a child process, so it cannot collide with the
session's single-node cluster (tests/integration/conftest.py) over the one Ray connection a process
may hold. Its tests are moved to the front of the session so that the two clusters never run at the
same time on the machine's two cores: the session cluster starts only when the first test that
needs it runs, after these.
"""

from __future__ import annotations

import pytest

MARKER = "multinode"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: runs the simulated multi-node Ray cluster in a child process"
    )


def pytest_collection_modifyitems(session: pytest.Session, items: list[pytest.Item]) -> None:
    first = [item for item in items if item.get_closest_marker(MARKER)]
    items[:] = first + [item for item in items if not item.get_closest_marker(MARKER)]
