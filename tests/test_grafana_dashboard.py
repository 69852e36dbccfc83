"""The Grafana dashboard asks only for metrics that exist: Switchyard's own (with the suffix their
Prometheus type gives them) and Ray Serve's (as the installed Ray defines them)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import ray

from serve_app.routing import metrics

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "grafana" / "switchyard.json"
METRIC = re.compile(r"\bray_([a-z0-9_]+)")
RANGE_FUNCTIONS = ("rate", "increase", "irate")


def _switchyard_series() -> set[str]:
    """Every series name Switchyard's metrics produce, as Prometheus sees them without `ray_`."""
    counters = {f"{name}_total" for name in metrics._DESCRIPTIONS}
    histograms = {
        f"{name}_{suffix}" for name in metrics._HISTOGRAMS for suffix in ("bucket", "sum", "count")
    }
    # Gauges are made where their value is known (the breaker view, the Allowances actor).
    gauge = re.compile(r'Gauge\(\s*"(switchyard_[a-z_]+)"')
    gauges = {
        name
        for source in (ROOT / "serve_app").rglob("*.py")
        for name in gauge.findall(source.read_text())
    }
    assert gauges, "found no Switchyard gauge in the source: the pattern above is stale"
    return counters | histograms | gauges


def _ray_serve_metrics() -> set[str]:
    """Ray Serve's metric names as the installed Ray defines them (quoted `serve_…` literals)."""
    serve_private = Path(ray.__file__).parent / "serve" / "_private"
    literal = re.compile(r'"(serve_[a-z_]+)"')
    return {
        name
        for source in serve_private.rglob("*.py")
        for name in literal.findall(source.read_text())
    }


def _queries() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in board["panels"] for t in p["targets"]]


def test_the_dashboard_is_its_generators_output() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_dashboard", ROOT / "grafana" / "make_dashboard.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert DASHBOARD.read_text() == module.render(), "run `python grafana/make_dashboard.py`"


@pytest.mark.parametrize(("title", "expr"), _queries())
def test_every_query_names_an_exported_metric(title: str, expr: str) -> None:
    names = METRIC.findall(expr)
    assert names, f"{title}: no ray_ metric in {expr!r}"
    switchyard, serve = _switchyard_series(), _ray_serve_metrics()
    for name in names:
        if name.startswith("switchyard_"):
            assert name in switchyard, f"{title}: {name} is not a series Switchyard exports"
        else:
            base = re.sub(r"_(bucket|sum|count|total)$", "", name)
            assert base in serve, (
                f"{title}: {name} is not a Ray Serve metric in Ray {ray.__version__}"
            )


def test_the_check_catches_a_misspelt_metric() -> None:
    assert "switchyard_request_total" not in _switchyard_series()  # singular: a typo
    assert "switchyard_requests_total" in _switchyard_series()
    assert "serve_deployment_queued_queries" in _ray_serve_metrics()
    assert "serve_deployment_queued_querys" not in _ray_serve_metrics()


def test_the_panels_cover_what_operators_ask_for() -> None:
    titles = " | ".join(title for title, _ in _queries()).lower()
    for topic in (
        "outcome",
        "failover",
        "breaker",
        "cost by tenant",
        "overhead",
        "first token",
        "queued",
        "replicas",
    ):
        assert topic in titles, topic
