"""What one call may spend: its free-tier and budget reservations (design §4 step 2, §6).

`ReplicaAllowances` is an Ingress replica's side of the allowances: its leases (`LeaseClient`) and
the tenants config. Per call it hands out a `CallAllowances`, which the gateway uses in four
places:

- while planning, as the plan's questions (they reserve nothing): `free_tier_left(model)` says
  whether this replica's lease could cover one call on `model`'s free tier (if not, the paid twin
  stands in); `budget_refusal(model)` whether the tenant's and agent's budgets can cover the
  call's estimated cost at that model;
- right after planning, `reserve_budget(candidates)`: the budget reservation, the estimate at the
  costliest candidate the call may fail over to, so no failover can outrun it;
- as each attempt opens, `open_attempt(candidate)`: a free-tier model's reservation (one request,
  the call's estimated tokens), taken only by an attempt really sent there, so a backup never
  tried holds nothing; `cancel_attempt` gives it back if the attempt cannot start after all;
- after each attempt (`observe`) and at the end (`finish`): a free-tier reservation is settled
  for an attempt the provider served and released for one it refused; a 429 saying the quota is
  spent marks the free tier used up at once; the budget reservation is settled with what the
  attempts really cost.

A call made with a key that has rate limits (`CallOptions.key`, set by the Ingress from the
checked key) also takes, right after the budget and before any provider is called, one request
from the key's `rpm` and its estimated tokens (prompt + the largest output cap of its candidates)
from its `tpm` (`reserve_rate`), or is refused with `KeyRateLimited` (429, Retry-After). At the end
the request counts if any attempt was made (a call refused before any provider was tried gives it
back), and the tokens count as the attempts really used; both are free again 60 s later (a
sliding minute, see `replica.py`). Like a refused budget, a refused call books no usage record
(nothing was attempted) and shows in the metrics by its outcome.

All of it is synchronous arithmetic on the replica's leases: the request never waits on the actor,
except a key's very first call on a replica, which waits for its lease's first round (`ready`),
and a call whose key's rate units are all in use here while others are free elsewhere, which
waits a few rounds for them to move here (`reserve_rate`).
Planning and reserving the budget happen in one synchronous step, and the first attempt opens
before the call awaits anything, so concurrent calls on a replica cannot both take the same
remainder. (A free-tier *backup* can find its tier spent by then: it is skipped, saying so.)

Estimates: the prompt at 4 characters a token (`ChatRequest.estimated_prompt_tokens`), and the
output at `output_cap`: the call's `max_tokens` or, when it sets none, the tenant's
`output_tokens_estimate` within the model's output limit. The gateway sends each provider that same
cap as `max_tokens`, so no attempt can produce more output than its reservation assumed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from deployments.canonical import ChatRequest, EmbeddingRequest
from deployments.errors import BudgetExceeded, KeyRateLimited, RateLimited
from deployments.ledger.cost import estimate_usd
from directory.schema import Directory, ModelProfile
from serve_app.allowances.messages import AllowanceSpec
from serve_app.allowances.replica import LeaseClient, Reservation
from serve_app.allowances.tenants import (
    Period,
    TenantConfig,
    Tenants,
    allowance_specs,
    budget_key,
    free_key,
)
from serve_app.identity.caller import KeyLimits
from serve_app.routing.call import CallOptions
from serve_app.routing.failover import AttemptReport
from serve_app.routing.plan import Candidate

DEFAULT_OUTPUT_TOKENS = 1024  # for tenants with no config of their own
# The most a call waits for a key's rate units to move to its replica from another that holds
# them free (a few lease rounds do it; the bound covers an actor that is slow to answer).
RATE_WAIT_S = 2.0
PERIODS: tuple[Period, ...] = ("day", "month")


def output_cap(request: ChatRequest, tenant: TenantConfig | None, model: ModelProfile) -> int:
    """The most output tokens a chat call may take at `model`: the caller's `max_tokens` as given
    (the plan drops a model whose output limit is below it), else the tenant's
    `output_tokens_estimate` (DEFAULT_OUTPUT_TOKENS without a config of its own) within the
    model's output limit. The one source of both the reservation and the `max_tokens` the
    provider is sent, so that the two cannot drift apart."""
    if request.max_tokens is not None:
        return request.max_tokens
    estimate = tenant.output_tokens_estimate if tenant is not None else DEFAULT_OUTPUT_TOKENS
    limit = model.max_output_tokens
    return estimate if limit is None else min(estimate, limit)


def gpu_tokens_per_s(model: ModelProfile) -> float | None:
    """A local model's output tokens per second per replica at its working load (the GPU cost's
    denominator, see `deployments.ledger.cost`); None for a model with no GPU price."""
    speed = model.latency.output_tokens_per_s
    if model.pricing.gpu_hour_usd is None or speed is None:
        return None
    concurrency = model.serving.autoscaling.target_ongoing_requests if model.serving else 1.0
    return speed * max(1.0, concurrency)


def rate_specs(key: KeyLimits) -> tuple[AllowanceSpec, ...]:
    """A key's rate limits as allowances: `rpm:<key id>` and `tpm:<key id>`, sliding minutes."""
    specs = []
    if key.rpm is not None:
        specs.append(AllowanceSpec(f"rpm:{key.key_id}", "rpm", "sliding", key.rpm))
    if key.tpm is not None:
        specs.append(AllowanceSpec(f"tpm:{key.key_id}", "tpm", "sliding", key.tpm))
    return tuple(specs)


@dataclass(frozen=True, slots=True)
class _Scope:
    key: str
    words: str  # "tenant acme", "agent acme/summariser"
    period: Period


class ReplicaAllowances:
    """An Ingress replica's allowances. Without leases (a bare gateway) nothing is limited."""

    def __init__(self, leases: LeaseClient | None = None) -> None:
        self.leases = leases
        self.tenants = Tenants()
        self._scopes: dict[tuple[str, str], tuple[_Scope, ...]] = {}
        self._rates: dict[KeyLimits, tuple[AllowanceSpec, ...]] = {}

    async def ready(self, key: KeyLimits) -> None:
        """Lease `key`'s rate limits on this replica. Only a key's first call here waits (one
        round with the actor, bounded); every later one finds its lease and goes on at once."""
        specs = self._rate_specs(key)
        leases = self.leases
        if leases is None or not specs:
            return
        leased = [leases.use_rate(spec) for spec in specs]  # every spec first: one round for all
        for spec, ok in zip(specs, leased, strict=True):
            if not ok:
                await leases.first_round(spec.key)

    def _rate_specs(self, key: KeyLimits | None) -> tuple[AllowanceSpec, ...]:
        if key is None or self.leases is None:
            return ()
        specs = self._rates.get(key)
        if specs is None:
            if len(self._rates) > 10_000:  # keys come and go: keep the cache bounded
                self._rates.clear()
            specs = self._rates[key] = rate_specs(key)
        return specs

    def use(self, directory: Directory, tenants: Tenants) -> None:
        """The directory's free tiers and the tenants' budgets are the allowances (every reload)."""
        self.tenants = tenants
        self._scopes = {}
        if self.leases is not None:
            self.leases.configure(allowance_specs(directory, tenants))

    def for_call(
        self, directory: Directory, request: ChatRequest | EmbeddingRequest, options: CallOptions
    ) -> CallAllowances:
        tenant = self.tenants.get(options.tenant)
        return CallAllowances(
            self.leases,
            directory,
            request,
            tenant,
            self._scopes_of(options, tenant),
            (options.key, self._rate_specs(options.key)),
        )

    def _scopes_of(self, options: CallOptions, tenant: TenantConfig | None) -> tuple[_Scope, ...]:
        if tenant is None or self.leases is None:
            return ()
        # Cached per configured tenant and agent only: callers name agents freely, and an agent
        # with no budget of its own has just its tenant's.
        agent = options.agent if options.agent in tenant.agents else None
        cache_key = (options.tenant, agent or "")
        scopes = self._scopes.get(cache_key)
        if scopes is None:
            found = []
            for period in PERIODS:
                for who in (None, agent) if agent else (None,):
                    key = budget_key(options.tenant, who, period)
                    if self.leases.has(key):
                        words = (
                            f"agent {options.tenant}/{who}" if who else f"tenant {options.tenant}"
                        )
                        found.append(_Scope(key, words, period))
            scopes = self._scopes[cache_key] = tuple(found)
        return scopes


class CallAllowances:
    """One call's free-tier and budget reservations. Every method is synchronous and O(1) per
    candidate."""

    def __init__(
        self,
        leases: LeaseClient | None,
        directory: Directory,
        request: ChatRequest | EmbeddingRequest,
        tenant: TenantConfig | None,
        scopes: tuple[_Scope, ...],
        rates: tuple[KeyLimits | None, tuple[AllowanceSpec, ...]] = (None, ()),
    ) -> None:
        self._leases = leases
        self._key, self._rates = rates
        self._directory = directory
        self._scopes = scopes
        self.downgrade_to = tenant.downgrade_to if tenant is not None else None
        self._request = request
        self._tenant = tenant
        self._prompt: int | None = None  # estimated when first needed: most calls never need it
        self._estimates: dict[str, float] = {}  # model id -> USD, per call
        self._free: dict[str, list[Reservation]] = {}  # model id -> its open attempt's
        self._budget: list[Reservation] = []
        self._refused: list[tuple[_Scope, float]] = []  # (scope, the estimate it could not cover)
        self._spent = 0.0
        self._rate_held: list[Reservation] = []
        self._attempted = False  # an attempt was made: the call counts against the key's rpm
        self._tokens = 0  # what the attempts used, against the key's tpm

    # --- planning ---------------------------------------------------------------------------------

    def free_tier_left(self, model_id: str) -> bool:
        """Could this replica's leases cover one call to `model_id` on its free tier? A question:
        nothing is reserved until an attempt opens (`open_attempt`)."""
        leases = self._leases
        if leases is None:
            return True
        return all(leases.covers(key, amount) for key, amount in self._free_tier_needs(model_id))

    def budget_refusal(self, model: ModelProfile) -> str | None:
        """Why the budgets cannot cover this call at `model`, or None when they can."""
        if not self._scopes or self._leases is None:
            return None
        need = self.estimate_usd(model)
        for scope in self._scopes:
            if self._leases.available(scope.key) + 1e-12 < need:
                self._refused.append((scope, need))
                return f"budget: {scope.words} {scope.period} budget cannot cover ~${need:.6f}"
        return None

    @property
    def refused_by_budget(self) -> bool:
        return bool(self._refused)

    def start_over(self) -> None:
        """Before planning again (a downgrade): forget why the first plan was refused."""
        self._refused.clear()

    def exceeded(self) -> BudgetExceeded:
        """The error for a call no budget could cover: the first scope that refused."""
        scope, _need = self._refused[0]
        standing = self._leases.standing(scope.key) if self._leases else None
        limit = standing.limit if standing else 0.0
        spent = max(standing.used, standing.committed) if standing else 0.0
        return BudgetExceeded(
            scope=scope.words, limit_usd=limit, spent_usd=spent, period=scope.period
        )

    def reserve_budget(self, candidates: Sequence[Candidate]) -> None:
        """Reserve the estimate at the costliest candidate on every budget of the call."""
        if not self._scopes or self._leases is None or not candidates:
            return
        need = max(self.estimate_usd(candidate.model) for candidate in candidates)
        for scope in self._scopes:
            reservation = self._leases.reserve(scope.key, need)
            if reservation is None:
                # Cannot happen after the plan's checks; refuse rather than overrun.
                self._refused.append((scope, need))
                self.finish()
                raise self.exceeded()
            self._budget.append(reservation)

    async def reserve_rate(self, candidates: Sequence[Candidate]) -> None:
        """Take one request from the key's rpm and the call's estimated tokens (at the candidate
        with the largest output cap) from its tpm, or give back everything this call holds and
        raise KeyRateLimited. Before any provider is called.

        When this replica's part is used up while units are free on another replica (or in
        nobody's hands), the call waits for them to move here (at most RATE_WAIT_S), so that
        the limit is reached whichever replicas the calls reach; it awaits nothing otherwise."""
        leases, key = self._leases, self._key
        if not self._rates or leases is None or key is None or not candidates:
            return
        for spec in self._rates:
            if spec.kind == "rpm":
                need = 1.0
            else:
                need = float(self._prompt_tokens() + max(self._output(c.model) for c in candidates))
            reservation = await leases.reserve_soon(spec.key, need, RATE_WAIT_S)
            if reservation is None:
                self.finish()
                wait = math.ceil(leases.retry_after(spec.key, need))
                raise KeyRateLimited(
                    key_id=key.key_id,
                    limit=spec.kind,
                    per_minute=int(spec.limit),
                    retry_after_s=wait,
                )
            self._rate_held.append(reservation)

    def estimate_usd(self, model: ModelProfile) -> float:
        estimate = self._estimates.get(model.id)
        if estimate is None:
            estimate = estimate_usd(self._prompt_tokens(), self._output(model), model.pricing)
            self._estimates[model.id] = estimate
        return estimate

    # --- as each attempt opens -------------------------------------------------------------------

    def open_attempt(self, candidate: Candidate) -> str | None:
        """Reserve what an attempt at `candidate` takes from a free tier: one request and the
        call's estimated tokens, when it is a free-tier model. None, or why it cannot go now (the
        tier ran out since the plan: another call on this replica took the last of it)."""
        leases = self._leases
        model_id = candidate.model.id
        if leases is None or (candidate.model.free_tier is None and not candidate.substitutes):
            return None
        if candidate.substitutes is not None:
            # The paid twin stands in because the free tier looked used up here: say so, so that
            # a lease another replica holds moves to where the calls are.
            for key, amount in self._free_tier_needs(candidate.substitutes):
                leases.note_short(key, amount)
            return None
        taken: list[Reservation] = []
        for key, amount in self._free_tier_needs(model_id):
            reservation = leases.reserve(key, amount)
            if reservation is None:
                self._release(*taken)
                return "free tier used up"
            taken.append(reservation)
        if taken:
            self._free[model_id] = taken
        return None

    def cancel_attempt(self, candidate: Candidate) -> None:
        """The attempt `open_attempt` admitted will not start after all: give its part back."""
        self._release(*self._free.pop(candidate.model.id, []))

    # --- after each attempt, and at the end -------------------------------------------------------

    def observe(self, report: AttemptReport, cost: float) -> None:
        self._spent += cost
        self._attempted = True
        self._tokens += report.usage.input_tokens + report.usage.output_tokens
        model_id = report.candidate.model.id
        reservations = self._free.pop(model_id, None)
        if reservations is None or self._leases is None:
            return
        error = report.error
        if isinstance(error, RateLimited) and error.quota_exhausted:
            until = time.time() + error.retry_after_s if error.retry_after_s else None
            self._leases.mark_exhausted(free_key("free_requests", model_id), until)
            self._leases.mark_exhausted(free_key("free_tokens", model_id), until)
            self._release(*reservations)
        elif report.outcome in ("ok", "interrupted"):
            # The provider served it (a cut stream too): it counts against the free tier.
            tokens = report.usage.input_tokens + report.usage.output_tokens
            for reservation in reservations:
                used = 1 if reservation.lease.spec.kind == "free_requests" else tokens
                self._leases.settle(reservation, used)
        else:
            self._release(*reservations)

    def finish(self) -> None:
        """The call is over: unused free-tier reservations go back, the budget reservations become
        the real cost."""
        self._release_free()
        if self._leases is not None:
            for reservation in self._budget:
                self._leases.settle(reservation, self._spent)
            for reservation in self._rate_held:
                if not self._attempted:
                    self._leases.release(reservation)  # refused before any provider was tried
                elif reservation.lease.spec.kind == "rpm":
                    self._leases.settle(reservation, 1)
                else:
                    self._leases.settle(reservation, self._tokens)
        self._budget = []
        self._rate_held = []

    # --- internals --------------------------------------------------------------------------------

    def _prompt_tokens(self) -> int:
        if self._prompt is None:
            request = self._request
            if isinstance(request, ChatRequest):
                self._prompt = request.estimated_prompt_tokens()
            else:
                self._prompt = request.estimated_input_tokens()
        return self._prompt

    def _output(self, model: ModelProfile) -> int:
        request = self._request
        if not isinstance(request, ChatRequest):
            return 0  # an embedding produces no output tokens
        return output_cap(request, self._tenant, model)

    def _free_tier_needs(self, model_id: str) -> list[tuple[str, float]]:
        """What one call to `model_id` takes from its free tier: (allowance key, amount) for
        each limit the tier has (requests, tokens)."""
        leases = self._leases
        if leases is None:
            return []
        needs: list[tuple[str, float]] = []
        requests_key = free_key("free_requests", model_id)
        if leases.has(requests_key):
            needs.append((requests_key, 1))
        tokens_key = free_key("free_tokens", model_id)
        if leases.has(tokens_key):
            model = self._directory.models[model_id]
            needs.append((tokens_key, self._prompt_tokens() + self._output(model)))
        return needs

    def _release_free(self) -> None:
        for reservations in self._free.values():
            self._release(*reservations)
        self._free.clear()

    def _release(self, *reservations: Reservation) -> None:
        if self._leases is None:
            return
        for reservation in reservations:
            self._leases.release(reservation)
