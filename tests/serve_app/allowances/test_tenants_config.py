"""The tenants config: validated, checked against the directory, carried in user_config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from serve_app.allowances.tenants import Tenants, allowance_specs, tenants_from_config
from serve_app.app.builder import AppArgs
from serve_app.app.deploy import serve_config
from tests.mini_directory import mini_directory

ACME = {
    "acme": {
        "budget": {"day_usd": 5, "month_usd": 100},
        "agents": {"bot": {"day_usd": 1}},
        "on_exhausted": {"downgrade_to": "free"},
    }
}


def test_budgets_and_free_tiers_become_allowances() -> None:
    specs = allowance_specs(mini_directory(), Tenants.model_validate(ACME))
    assert {(s.key, s.limit) for s in specs} == {
        ("free_requests:alpha/free", 2),
        ("budget:acme:day", 5),
        ("budget:acme:month", 100),
        ("budget:acme/bot:day", 1),
    }


def test_a_bad_budget_or_an_unknown_downgrade_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="day_usd"):
        tenants_from_config({"tenants": {"acme": {"budget": {"day_usd": -1}}}})
    with pytest.raises(ValidationError, match="on_exhausted"):
        tenants_from_config({"tenants": {"acme": {"on_exhausted": "shrug"}}})
    tenants = tenants_from_config({"tenants": {"acme": {"on_exhausted": {"downgrade_to": "chep"}}}})
    [problem] = tenants.check(mini_directory())
    assert "tenants.acme.on_exhausted.downgrade_to" in problem and "'chep'" in problem


def test_the_tenants_travel_in_user_config_beside_the_directory() -> None:
    directory = mini_directory()
    config = serve_config(AppArgs.model_validate({"tenants": ACME}), directory)
    [ingress] = config["applications"][0]["deployments"]
    assert tenants_from_config(ingress["user_config"]) == Tenants.model_validate(ACME)
    assert ingress["user_config"]["directory"] == directory.to_dict()
    with pytest.raises(ValueError, match="chep"):
        bad = {"acme": {"on_exhausted": {"downgrade_to": "chep"}}}
        serve_config(AppArgs.model_validate({"tenants": bad}), directory)
