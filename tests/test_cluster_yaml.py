"""cluster.yaml is a launcher config Ray accepts, and its head exposes no dashboard."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import fillout_defaults, validate_config

CLUSTER_YAML = Path(__file__).parent.parent / "cluster.yaml"


def test_ray_accepts_cluster_yaml() -> None:
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    # What `ray up` does before anything else: the provider's defaults filled in, then Ray's
    # own schema check (it raises on an unknown or mistyped field).
    validate_config(fillout_defaults(config))


def test_rays_check_catches_a_mistyped_field() -> None:
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    config["available_node_types"]["head"]["max_wokers"] = 0  # a typo `ray up` must refuse
    with pytest.raises(jsonschema.ValidationError, match="max_wokers"):
        validate_config(fillout_defaults(config))


def test_the_dashboard_listens_on_the_heads_loopback_only() -> None:
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head
    for commands in ("head_start_ray_commands", "worker_start_ray_commands"):
        assert not any("0.0.0.0" in command for command in config[commands])
