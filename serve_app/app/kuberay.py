"""A KubeRay `RayService` manifest for Switchyard, generated from the same code as `serve deploy`.

`serveConfigV2` is `serve_app.app.deploy.serve_config(...)` (what `switchyard deploy --print`
prints) as YAML text, so Kubernetes and `serve deploy` can never disagree about the app. The rest
follows `cluster.yaml`:

- the head runs the Ingress, the cloud proxies and the three state actors (pinned to the head,
  `deployments.named_actor`); its Pod mounts a PersistentVolumeClaim at `LEDGER_MOUNT`, where the
  ledger's SQLite file (and the key and allowance tables beside it) lives across Pod restarts;
- one GPU worker group per GPU node type of `cluster.yaml` (same names, same most-workers), each
  advertising its `accelerator_type:<GPU>` resource so local models land on the GPU their
  `serving` block names;
- provider keys and the admin key come from one Kubernetes Secret (`SECRET_NAME`), each entry
  optional, so a cluster that uses two providers needs only their two keys;
- Ray's token auth is on (`authOptions.mode: token`): the dashboard, which KubeRay itself uses to
  deploy the Serve config, must listen on the Pod network, and without auth anyone who reaches it
  can run code on the cluster. Reach it with `kubectl port-forward`, never a public Service.

`switchyard deploy --kuberay` prints it (YAML: the PVC, then the RayService);
`kubernetes/rayservice.yaml` is its output for the shipped directory, and a test fails when the
two drift apart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from directory.schema import Directory
from serve_app.app.builder import AppArgs
from serve_app.app.deploy import serve_config

RAY_VERSION = "2.60.0"
SERVICE_NAME = "switchyard"
SECRET_NAME = "switchyard-keys"
LEDGER_CLAIM = "switchyard-ledger"
LEDGER_MOUNT = "/data/switchyard"
LEDGER_PATH = f"{LEDGER_MOUNT}/ledger.sqlite"
# Built from this repository (`kubernetes/Dockerfile`); push it where your cluster pulls from.
DEFAULT_IMAGE = "switchyard:0.1.0"
CLUSTER_YAML = Path(__file__).resolve().parents[2] / "cluster.yaml"


def key_env_names(directory: Directory) -> list[str]:
    """The environment variables the app reads keys from: the admin key and each provider's."""
    names = ["SWITCHYARD_ADMIN_KEY"]
    names += sorted({p.api_key_env for p in directory.providers.values() if p.api_key_env})
    return names


def _secret_env(directory: Directory) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "valueFrom": {"secretKeyRef": {"name": SECRET_NAME, "key": name, "optional": True}},
        }
        for name in key_env_names(directory)
    ]


def _container(
    name: str, image: str, env: list[dict[str, Any]], resources: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "env": [{"name": "RAY_USAGE_STATS_ENABLED", "value": "0"}, *env],
        "resources": {"limits": resources, "requests": resources},
    }


def gpu_worker_groups(cluster: dict[str, Any], image: str) -> list[dict[str, Any]]:
    """One worker group per GPU node type of `cluster.yaml`: its name, its most workers, and the
    `accelerator_type:<GPU>` resource it advertises (the GPU count is that resource's value)."""
    groups = []
    for name, node in cluster["available_node_types"].items():
        accelerators = {
            key: count
            for key, count in node.get("resources", {}).items()
            if key.startswith("accelerator_type:")
        }
        if name == cluster["head_node_type"] or not accelerators:
            continue
        gpus = int(max(accelerators.values()))
        groups.append(
            {
                "groupName": name,
                "replicas": int(node.get("min_workers", 0)),
                "minReplicas": int(node.get("min_workers", 0)),
                "maxReplicas": int(node["max_workers"]),
                "rayStartParams": {"resources": _start_param_json(accelerators)},
                "template": {
                    "spec": {
                        "containers": [
                            _container(
                                "ray-worker",
                                image,
                                [],
                                {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": str(gpus)},
                            )
                        ]
                    }
                },
            }
        )
    return groups


def _start_param_json(value: dict[str, Any]) -> str:
    """KubeRay passes rayStartParams to `ray start` through a shell: a JSON value goes as a quoted
    string with its quotes escaped (KubeRay's docs: `resources: '"{\\"Custom1\\": 1}"'`)."""
    return '"' + json.dumps(value).replace('"', '\\"') + '"'


def rayservice(
    app_args: AppArgs,
    directory: Directory,
    *,
    image: str = DEFAULT_IMAGE,
    cluster: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The manifest's documents: the ledger's PersistentVolumeClaim, then the RayService."""
    cluster = cluster if cluster is not None else yaml.safe_load(CLUSTER_YAML.read_text())
    args = app_args.model_copy(update={"ledger_path": LEDGER_PATH})
    serve = serve_config(args, directory)
    # On Kubernetes the Serve proxy is the front door behind the RayService's Service.
    serve["http_options"] = {"host": "0.0.0.0", "port": 8000}
    head_container = _container(
        "ray-head", image, _secret_env(directory), {"cpu": "8", "memory": "32Gi"}
    )
    head_container["ports"] = [
        {"containerPort": 6379, "name": "gcs-server"},
        {"containerPort": 8265, "name": "dashboard"},
        {"containerPort": 8000, "name": "serve"},
    ]
    head_container["volumeMounts"] = [{"name": "ledger", "mountPath": LEDGER_MOUNT}]
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": LEDGER_CLAIM},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}},
    }
    service = {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": SERVICE_NAME},
        "spec": {
            "serveConfigV2": yaml.safe_dump(serve, sort_keys=False),
            "rayClusterConfig": {
                "rayVersion": RAY_VERSION,
                "authOptions": {"mode": "token"},
                "headGroupSpec": {
                    # No GPU work on the head; its CPUs are for the Ingress, proxies and actors.
                    "rayStartParams": {"dashboard-host": "0.0.0.0"},
                    "template": {
                        "spec": {
                            "containers": [head_container],
                            "volumes": [
                                {
                                    "name": "ledger",
                                    "persistentVolumeClaim": {"claimName": LEDGER_CLAIM},
                                }
                            ],
                        }
                    },
                },
                "workerGroupSpecs": gpu_worker_groups(cluster, image),
            },
        },
    }
    return [claim, service]


def rayservice_yaml(documents: list[dict[str, Any]]) -> str:
    header = (
        "# Generated by `switchyard deploy --kuberay` (serve_app/app/kuberay.py); do not edit.\n"
        f"# Keys: kubectl create secret generic {SECRET_NAME} --from-literal=NAME=VALUE ...\n"
    )
    return header + yaml.safe_dump_all(documents, sort_keys=False)
