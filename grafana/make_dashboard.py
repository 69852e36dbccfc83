"""Writes `grafana/switchyard.json`, the Grafana dashboard for Switchyard and Ray Serve.

Run `python grafana/make_dashboard.py` after changing a panel; `tests/test_grafana_dashboard.py`
checks that every query names a metric the app (or Ray Serve) exports and that the JSON is this
script's output. Metric names carry Ray's `ray_` prefix as Prometheus scrapes them from Ray's
metrics agents; counters end in `_total`, histograms in `_bucket`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("switchyard.json")
RATE = "[$__rate_interval]"


def _quantiles(metric: str, by: str) -> list[str]:
    return [
        f"histogram_quantile({q}, sum by (le, {by}) (rate(ray_{metric}_bucket{RATE})))"
        for q in ("0.5", "0.99")
    ]


# (title, unit, queries); one row of two panels per pair.
PANELS: list[tuple[str, str, list[str]]] = [
    (
        "Calls per second by model and outcome",
        "reqps",
        [f"sum by (model, outcome) (rate(ray_switchyard_requests_total{RATE}))"],
    ),
    (
        "Failed share of calls",
        "percentunit",
        [
            f'sum(rate(ray_switchyard_requests_total{{outcome!="ok"}}{RATE})) / '
            f"sum(rate(ray_switchyard_requests_total{RATE}))"
        ],
    ),
    (
        "Failovers by model and reason",
        "ops",
        [f"sum by (from_model, to_model, reason) (rate(ray_switchyard_failovers_total{RATE}))"],
    ),
    (
        "Circuit breakers (0 closed, 1 half-open, 2 open)",
        "none",
        ["max by (provider) (ray_switchyard_breaker_state)"],
    ),
    (
        "Cost by tenant, USD per hour",
        "currencyUSD",
        [
            "sum by (tenant) (increase(ray_switchyard_cost_usd_total[1h]))",
            "sum by (tenant) (increase(ray_switchyard_gpu_cost_usd_total[1h]))",
        ],
    ),
    (
        "Budget and free tier left",
        "short",
        [
            "min by (tenant, agent, period) (ray_switchyard_budget_remaining_usd)",
            "min by (model, unit) (ray_switchyard_free_tier_remaining)",
        ],
    ),
    (
        "Gateway overhead p50 / p99",
        "s",
        _quantiles("switchyard_gateway_overhead_seconds", "shortcut"),
    ),
    ("Time to first token p50 / p99 by model", "s", _quantiles("switchyard_ttft_seconds", "model")),
    (
        "Call latency p50 / p99 by model",
        "s",
        _quantiles("switchyard_request_latency_seconds", "model"),
    ),
    (
        "Tokens per second by model",
        "short",
        [
            f"sum by (model) (rate(ray_switchyard_input_tokens_total{RATE}))",
            f"sum by (model) (rate(ray_switchyard_output_tokens_total{RATE}))",
        ],
    ),
    (
        "Queued requests by deployment",
        "short",
        ["sum by (deployment) (ray_serve_deployment_queued_queries)"],
    ),
    (
        "Healthy replicas by deployment",
        "short",
        ["sum by (deployment) (ray_serve_deployment_replica_healthy)"],
    ),
    (
        "Ongoing requests at replicas",
        "short",
        ["sum by (deployment) (ray_serve_num_ongoing_requests_at_replicas)"],
    ),
    (
        "Replica processing latency p99 by deployment",
        "ms",
        [
            "histogram_quantile(0.99, sum by (le, deployment) "
            f"(rate(ray_serve_deployment_processing_latency_ms_bucket{RATE})))"
        ],
    ),
]


def panel(index: int, title: str, unit: str, queries: list[str]) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": "__auto"}
            for i, expr in enumerate(queries)
        ],
    }


def dashboard() -> dict[str, Any]:
    return {
        "title": "Switchyard",
        "uid": "switchyard",
        "description": "Switchyard's calls, failovers, breakers and money, and Ray Serve's queues "
        "and replicas. Metrics come from Ray's metrics agents (Prometheus service discovery file "
        "written by Ray).",
        "schemaVersion": 39,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "tags": ["switchyard", "ray-serve"],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": [panel(i, *spec) for i, spec in enumerate(PANELS)],
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
