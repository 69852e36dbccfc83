"""The tenants config: budgets per tenant and per agent, and what to do when one runs out.

It travels in the Ingress's `user_config` beside the directory, so `serve deploy` with changed
budgets takes effect in place, like a changed directory. In YAML (or `AppArgs.tenants`):

    tenants:
      acme:
        budget: {day_usd: 50, month_usd: 1000}
        agents:
          summariser: {day_usd: 5}
        on_exhausted: {downgrade_to: cheap}   # default: refuse with HTTP 402
        output_tokens_estimate: 1024          # for calls that set no max_tokens

A tenant or agent not listed has no budget. Days and months are UTC. Only listed tenants and
agents (and the name `default`) get metric label values of their own (`Tenants.label_values`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from directory.schema import Directory
from serve_app.allowances.messages import AllowanceSpec

Period = Literal["day", "month"]


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    day_usd: float | None = Field(default=None, gt=0)
    month_usd: float | None = Field(default=None, gt=0)

    def limits(self) -> Iterator[tuple[Period, float]]:
        if self.day_usd is not None:
            yield "day", self.day_usd
        if self.month_usd is not None:
            yield "month", self.month_usd


class Downgrade(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    downgrade_to: str = Field(min_length=1)  # a shortcut or model id


class TenantConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    budget: Budget = Budget()
    agents: dict[str, Budget] = Field(default_factory=dict)
    on_exhausted: Literal["reject"] | Downgrade = "reject"
    # The output a call that sets no max_tokens is assumed to produce, for its reservation.
    output_tokens_estimate: int = Field(default=1024, ge=1)

    @property
    def downgrade_to(self) -> str | None:
        return self.on_exhausted.downgrade_to if isinstance(self.on_exhausted, Downgrade) else None


# The metric label value of every tenant or agent name the tenants config does not list.
OTHER_LABEL = "other"
DEFAULT_NAME = "default"  # what a call that names no tenant or agent is booked under


class Tenants(RootModel[dict[str, TenantConfig]]):
    """Every tenant's config, by tenant name."""

    root: dict[str, TenantConfig] = Field(default_factory=dict)

    def get(self, tenant: str) -> TenantConfig | None:
        return self.root.get(tenant)

    def label_values(self, tenant: str, agent: str) -> tuple[str, str]:
        """The (tenant, agent) metric label values for a caller's names: their own for a tenant
        this config lists (or `default`) and for that tenant's listed agents (or `default`),
        `other` for the rest, so that a caller inventing names cannot grow Prometheus's series.
        The ledger keeps the names as given."""
        config = self.root.get(tenant)
        if config is None and tenant != DEFAULT_NAME:
            return OTHER_LABEL, OTHER_LABEL
        known_agent = agent == DEFAULT_NAME or (config is not None and agent in config.agents)
        return tenant, agent if known_agent else OTHER_LABEL

    def check(self, directory: Directory) -> list[str]:
        """Problems against `directory`: a downgrade target that resolves to nothing."""
        problems = []
        for name, tenant in self.root.items():
            target = tenant.downgrade_to
            if target is not None and target not in directory.models:
                if target not in directory.shortcuts:
                    problems.append(
                        f"tenants.{name}.on_exhausted.downgrade_to: {target!r} is neither a "
                        "shortcut nor a model id"
                    )
        return problems


def tenants_from_config(config: Mapping[str, Any]) -> Tenants:
    """The `tenants` of a `user_config` (none: no budgets). Raises pydantic's ValidationError."""
    return Tenants.model_validate(config.get("tenants") or {})


def budget_key(tenant: str, agent: str | None, period: Period) -> str:
    scope = tenant if agent is None else f"{tenant}/{agent}"
    return f"budget:{scope}:{period}"


def free_key(kind: Literal["free_requests", "free_tokens"], model_id: str) -> str:
    return f"{kind}:{model_id}"


def allowance_specs(directory: Directory, tenants: Tenants) -> list[AllowanceSpec]:
    """Every allowance the directory and the tenants config define."""
    specs: list[AllowanceSpec] = []
    for model in directory.models.values():
        tier = model.free_tier
        if tier is None:
            continue
        if tier.requests_per_day is not None:
            key = free_key("free_requests", model.id)
            specs.append(
                AllowanceSpec(
                    key, "free_requests", tier.reset, tier.requests_per_day, model=model.id
                )
            )
        if tier.tokens_per_day is not None:
            key = free_key("free_tokens", model.id)
            specs.append(
                AllowanceSpec(key, "free_tokens", tier.reset, tier.tokens_per_day, model=model.id)
            )
    for name, tenant in tenants.root.items():
        for period, limit in tenant.budget.limits():
            specs.append(
                AllowanceSpec(budget_key(name, None, period), "budget", period, limit, tenant=name)
            )
        for agent, budget in tenant.agents.items():
            for period, limit in budget.limits():
                key = budget_key(name, agent, period)
                specs.append(AllowanceSpec(key, "budget", period, limit, tenant=name, agent=agent))
    return specs
