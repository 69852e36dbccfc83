"""What `switchyard tune` compares: autoscaling candidates for one deployment, and that deployment.

A candidates file (YAML or JSON):

    deployment: workhorse        # a local model (id or shortcut), a cloud model or provider id
                                 # (its CloudProxy), or `ingress`
    candidates:
      - name: eager
        autoscaling: {min_replicas: 1, max_replicas: 3, target_ongoing_requests: 2,
                      upscale_delay_s: 10, downscale_delay_s: 120}
        max_ongoing_requests: 16   # optional

`autoscaling` takes Ray Serve's `autoscaling_config` keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from directory.schema import Directory

# Serve's autoscaling keys measured in seconds of the load's clock: `--speedup` divides them.
TIME_KEYS = (
    "upscale_delay_s",
    "downscale_delay_s",
    "downscale_to_zero_delay_s",
    "look_back_period_s",
    "metrics_interval_s",
)
# What Serve assumes for a key a candidate leaves out (ray.serve.config.AutoscalingConfig): the
# look-back and the delays are scaled too when not given, or the default would not be compressed.
SERVE_DEFAULTS = {
    "upscale_delay_s": 30.0,
    "downscale_delay_s": 600.0,
    "look_back_period_s": 30.0,
    "metrics_interval_s": 10.0,
}
AUTOSCALING_KEYS = {
    "min_replicas",
    "max_replicas",
    "initial_replicas",
    "target_ongoing_requests",
    "upscaling_factor",
    "downscaling_factor",
    *TIME_KEYS,
}


class CandidatesError(ValueError):
    """A candidates file that cannot be used; the message says where."""


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")  # also a file-name part
    autoscaling: dict[str, Any]
    max_ongoing_requests: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _known_keys(self) -> Candidate:
        unknown = sorted(set(self.autoscaling) - AUTOSCALING_KEYS)
        if unknown:
            raise ValueError(
                f"unknown autoscaling keys {unknown}; Serve's are {sorted(AUTOSCALING_KEYS)}"
            )
        return self


class TuneSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deployment: str = "workhorse"
    candidates: list[Candidate] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> TuneSpec:
        names = [c.name for c in self.candidates]
        if len(set(names)) != len(names):
            raise ValueError(f"candidate names repeat: {names}")
        return self


# `switchyard tune` with no file: the workhorse slot (the CPU stand-in here) under three
# policies — never scaling, scaling early on a low target, scaling late on a high one.
DEFAULT_SPEC = TuneSpec(
    deployment="workhorse",
    candidates=[
        Candidate(name="fixed-1", autoscaling={"min_replicas": 1, "max_replicas": 1}),
        Candidate(
            name="eager-3",
            autoscaling={
                "min_replicas": 1,
                "max_replicas": 3,
                "target_ongoing_requests": 2,
                "upscale_delay_s": 10,
                "downscale_delay_s": 300,
            },
        ),
        Candidate(
            name="relaxed-3",
            autoscaling={
                "min_replicas": 1,
                "max_replicas": 3,
                "target_ongoing_requests": 8,
                "upscale_delay_s": 30,
                "downscale_delay_s": 600,
            },
        ),
    ],
)


def load_spec(path: Path) -> TuneSpec:
    try:
        data = yaml.safe_load(path.read_text())  # JSON is YAML too
    except OSError as e:
        raise CandidatesError(f"cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise CandidatesError(f"{path} is not YAML or JSON: {e}") from None
    try:
        return TuneSpec.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}" for err in e.errors()
        )
        raise CandidatesError(f"{path}: {problems}") from None


def compressed_autoscaling(autoscaling: dict[str, Any], speedup: float) -> dict[str, Any]:
    """`autoscaling` with its time keys (given or Serve's defaults) divided by `speedup`."""
    if speedup == 1:
        return dict(autoscaling)
    out = {**SERVE_DEFAULTS, **autoscaling}
    for key in TIME_KEYS:
        if key in out:
            out[key] = float(out[key]) / speedup
    return out


@dataclass(frozen=True)
class TuneTarget:
    """The deployment under test and what the load calls."""

    kind: Literal["local", "cloud", "ingress"]
    deployment: str  # Serve's deployment name
    model: str | None  # the model the load calls (None: the caller's --model)
    provider: str | None
    gpu_hour_usd: float | None  # a local replica's GPUs per hour, from the directory


def resolve_target(directory: Directory, name: str) -> TuneTarget:
    """`ingress`, a provider id, or a model id or shortcut. Raises the directory's unknown-name
    error (with the closest names) for anything else."""
    if name == "ingress":
        return TuneTarget("ingress", "ingress", None, None, None)
    if name in directory.providers and directory.providers[name].adapter != "vllm":
        return TuneTarget("cloud", f"cloud-{name}", None, name, None)
    model = directory.resolve(name)
    if directory.providers[model.provider].adapter == "vllm":
        deployment = f"local-{model.id.split('/', 1)[1]}"
        return TuneTarget("local", deployment, model.id, None, model.pricing.gpu_hour_usd)
    return TuneTarget("cloud", f"cloud-{model.provider}", model.id, model.provider, None)
