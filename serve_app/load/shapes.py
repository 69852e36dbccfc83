"""Load shapes: how many requests per second to send at each moment, and how big they are.

A shape is a rate over time (`rate_at(t)`, requests/s) with a duration and the prompt and output
tokens of a request started at `t`. Five of them: steady, ramp, spike, a diurnal day (a trough at
its start and end, the peak at its middle) and a CSV trace. `schedule` turns a shape into the
instants requests start at; `compressed` plays a shape `speedup` times faster at the same rates.

A shape is written on the command line as `kind:key=value,...`, e.g.
`spike:base=1,peak=8,at=30,for=20,duration=90` or `trace:load.csv` (see `parse_shape`).
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

DEFAULT_PROMPT_TOKENS = 200
DEFAULT_OUTPUT_TOKENS = 100
TRACE_COLUMNS = ("time_s", "requests_per_s", "prompt_tokens", "output_tokens")
# The step `schedule` integrates the rate over: fine enough for the rates a laptop can send, and
# never more than _MAX_STEPS steps, so that an uncompressed day is scheduled in a moment.
_STEP_S = 0.005
_MAX_STEPS = 200_000


class ShapeError(ValueError):
    """A shape spec or trace that cannot be used; the message names what is wrong."""


class Shape(Protocol):
    @property
    def duration_s(self) -> float: ...

    def rate_at(self, t: float) -> float: ...

    def tokens_at(self, t: float) -> tuple[int, int]:
        """(prompt tokens, output tokens) of a request started at `t`."""
        ...


@dataclass(frozen=True)
class _Sized:
    prompt_tokens: int = DEFAULT_PROMPT_TOKENS
    output_tokens: int = DEFAULT_OUTPUT_TOKENS

    def tokens_at(self, t: float) -> tuple[int, int]:
        return self.prompt_tokens, self.output_tokens


@dataclass(frozen=True)
class Steady(_Sized):
    rate: float = 1.0
    duration_s: float = 60.0

    def rate_at(self, t: float) -> float:
        return self.rate


@dataclass(frozen=True)
class Ramp(_Sized):
    start_rate: float = 0.0
    end_rate: float = 10.0
    duration_s: float = 60.0

    def rate_at(self, t: float) -> float:
        share = min(max(t / self.duration_s, 0.0), 1.0)
        return self.start_rate + (self.end_rate - self.start_rate) * share


@dataclass(frozen=True)
class Spike(_Sized):
    """`base_rate`, then `peak_rate` from `at_s` for `length_s`, then `base_rate` again."""

    base_rate: float = 1.0
    peak_rate: float = 10.0
    at_s: float = 30.0
    length_s: float = 20.0
    duration_s: float = 90.0

    def rate_at(self, t: float) -> float:
        return self.peak_rate if self.at_s <= t < self.at_s + self.length_s else self.base_rate


@dataclass(frozen=True)
class Diurnal(_Sized):
    """One day in `duration_s`: `low_rate` at its start and end (night), `high_rate` at its middle,
    a cosine between (a smooth daily curve, not any one site's)."""

    low_rate: float = 1.0
    high_rate: float = 10.0
    duration_s: float = 86_400.0

    def rate_at(self, t: float) -> float:
        phase = (1 - math.cos(2 * math.pi * t / self.duration_s)) / 2
        return self.low_rate + (self.high_rate - self.low_rate) * phase


@dataclass(frozen=True)
class TracePoint:
    time_s: float
    requests_per_s: float
    prompt_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Trace:
    """A recorded load: each row's rate and sizes hold until the next row's time. The last row
    holds as long as the step before it (1 s for a one-row trace), so no row is ignored."""

    points: tuple[TracePoint, ...]
    source: str = ""

    @property
    def duration_s(self) -> float:
        last = self.points[-1].time_s
        step = last - self.points[-2].time_s if len(self.points) > 1 else 1.0
        return last + step

    def _point(self, t: float) -> TracePoint:
        current = self.points[0]
        for point in self.points:
            if point.time_s > t:
                break
            current = point
        return current

    def rate_at(self, t: float) -> float:
        return 0.0 if t < self.points[0].time_s else self._point(t).requests_per_s

    def tokens_at(self, t: float) -> tuple[int, int]:
        point = self._point(t)
        return point.prompt_tokens, point.output_tokens


@dataclass(frozen=True)
class Compressed:
    """`shape` played `speedup` times faster: its time axis divided, its rates unchanged.

    Rates stay as they were so that the concurrency a deployment sees (rate × latency, Little's
    law) stays that of the real load; what shrinks is how long each phase lasts."""

    shape: Shape
    speedup: float

    @property
    def duration_s(self) -> float:
        return self.shape.duration_s / self.speedup

    def rate_at(self, t: float) -> float:
        return self.shape.rate_at(t * self.speedup)

    def tokens_at(self, t: float) -> tuple[int, int]:
        return self.shape.tokens_at(t * self.speedup)


def compressed(shape: Shape, speedup: float) -> Shape:
    if speedup <= 0:
        raise ShapeError(f"speedup must be above 0, not {speedup}")
    return shape if speedup == 1 else Compressed(shape, speedup)


@dataclass(frozen=True)
class Arrival:
    at_s: float  # seconds after the start of the run
    prompt_tokens: int
    output_tokens: int


@dataclass
class _Integrator:
    shape: Shape
    t: float = 0.0
    area: float = 0.0  # requests expected so far
    _last_rate: float = field(init=False)

    def __post_init__(self) -> None:
        self._last_rate = self.shape.rate_at(0.0)

    def advance_to(self, area: float) -> float | None:
        """The instant the expected count reaches `area`; None when the shape ends first."""
        end = self.shape.duration_s
        step_s = max(_STEP_S, end / _MAX_STEPS)
        while self.area < area:
            if self.t >= end:
                return None
            step = min(step_s, end - self.t)
            rate = self.shape.rate_at(self.t + step / 2)  # midpoint: a ramp integrates exactly
            if self.area + rate * step >= area:
                self.t += (area - self.area) / rate
                self.area = area
                return self.t
            self.area += rate * step
            self.t += step
        return self.t


def schedule(
    shape: Shape, *, arrivals: Literal["poisson", "even"] = "poisson", seed: int = 0
) -> list[Arrival]:
    """When each request starts. `poisson`: a Poisson process whose rate follows the shape
    (independent callers, as real traffic is; seeded, so a run can be repeated); `even`: evenly
    spaced at the shape's rate."""
    rng = random.Random(seed)
    integrator = _Integrator(shape)
    out: list[Arrival] = []
    area = 0.0
    while True:
        area += rng.expovariate(1.0) if arrivals == "poisson" else 1.0
        at = integrator.advance_to(area - (0.5 if arrivals == "even" else 0.0))
        if at is None or at >= shape.duration_s:
            return out
        prompt, output = shape.tokens_at(at)
        out.append(Arrival(at_s=at, prompt_tokens=prompt, output_tokens=output))


# --- command-line specs ----------------------------------------------------------------------

# kind -> (class, {spec key: field name})
_SPECS: dict[str, tuple[type[Steady | Ramp | Spike | Diurnal], dict[str, str]]] = {
    "steady": (Steady, {"rate": "rate", "duration": "duration_s"}),
    "ramp": (Ramp, {"from": "start_rate", "to": "end_rate", "duration": "duration_s"}),
    "spike": (
        Spike,
        {
            "base": "base_rate",
            "peak": "peak_rate",
            "at": "at_s",
            "for": "length_s",
            "duration": "duration_s",
        },
    ),
    "diurnal": (Diurnal, {"low": "low_rate", "high": "high_rate", "duration": "duration_s"}),
}
_SIZE_KEYS = {"prompt": "prompt_tokens", "output": "output_tokens"}
SHAPE_HELP = (
    "steady:rate=R,duration=S | ramp:from=R,to=R,duration=S | "
    "spike:base=R,peak=R,at=S,for=S,duration=S | diurnal:low=R,high=R,duration=S | "
    "trace:FILE.csv (columns " + ", ".join(TRACE_COLUMNS) + "); rates in requests/s, times in "
    "seconds; every kind but trace also takes prompt=TOKENS,output=TOKENS"
)


def parse_shape(spec: str) -> Shape:
    """A shape from `kind:key=value,...` (see SHAPE_HELP). ShapeError names what is wrong."""
    kind, _, rest = spec.partition(":")
    kind = kind.strip()
    if kind == "trace":
        if not rest:
            raise ShapeError("trace needs a file: trace:FILE.csv")
        return load_trace(Path(rest))
    if kind not in _SPECS:
        raise ShapeError(f"unknown shape {kind!r}; one of {', '.join([*_SPECS, 'trace'])}")
    cls, keys = _SPECS[kind]
    allowed = {**keys, **_SIZE_KEYS}
    values: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, raw = item.partition("=")
        if not sep or key not in allowed:
            raise ShapeError(
                f"{kind}: {item!r} is not one of {', '.join(f'{k}=' for k in allowed)}"
            )
        try:
            number = float(raw)
        except ValueError:
            raise ShapeError(f"{kind}: {key}={raw!r} is not a number") from None
        if number < 0 or not math.isfinite(number):
            raise ShapeError(f"{kind}: {key}={raw} must be a number ≥ 0")
        values[allowed[key]] = int(number) if key in _SIZE_KEYS else number
    shape = cls(**values)
    if shape.duration_s <= 0:
        raise ShapeError(f"{kind}: duration must be above 0")
    return shape


def load_trace(path: Path) -> Trace:
    """A trace from a CSV file with a header row naming TRACE_COLUMNS (in any order)."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ShapeError(f"cannot read trace {path}: {e.strerror}") from None
    rows = csv.DictReader(text.splitlines())
    missing = [c for c in TRACE_COLUMNS if c not in (rows.fieldnames or [])]
    if missing:
        raise ShapeError(f"{path}: the header lacks {', '.join(missing)}")
    points: list[TracePoint] = []
    for line, row in enumerate(rows, start=2):
        try:
            point = TracePoint(
                time_s=float(row["time_s"]),
                requests_per_s=float(row["requests_per_s"]),
                prompt_tokens=int(row["prompt_tokens"]),
                output_tokens=int(row["output_tokens"]),
            )
        except (TypeError, ValueError):
            raise ShapeError(
                f"{path} line {line}: time_s and requests_per_s must be numbers, "
                "prompt_tokens and output_tokens whole numbers"
            ) from None
        if min(point.time_s, point.requests_per_s, point.prompt_tokens, point.output_tokens) < 0:
            raise ShapeError(f"{path} line {line}: a value is negative")
        if points and point.time_s <= points[-1].time_s:
            raise ShapeError(f"{path} line {line}: time_s must increase row by row")
        points.append(point)
    if not points:
        raise ShapeError(f"{path}: no rows")
    return Trace(points=tuple(points), source=str(path))
