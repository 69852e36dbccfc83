"""`switchyard tune`: compare autoscaling candidates for one deployment under a load shape,
offline (sandbox providers, the CPU stand-in for local models), and pick the cheapest one that
meets a p99 SLO (serve_app/tune)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from serve_app.commands import Subparsers
from serve_app.load.shapes import SHAPE_HELP

# A spike over ten minutes of the load's clock: 1/s, then 8/s for four minutes.
DEFAULT_SHAPE = "spike:base=1,peak=8,at=120,for=240,duration=600,prompt=50,output=128"


def register(subparsers: Subparsers) -> None:
    tune = subparsers.add_parser(
        "tune",
        help="load-test autoscaling candidates for one deployment against the sandbox "
        "providers and rank them by cost under a p99 SLO",
    )
    tune.add_argument(
        "--candidates",
        type=Path,
        metavar="FILE",
        help="YAML/JSON: `deployment:` and `candidates:` (name, autoscaling, "
        "max_ongoing_requests); default: three configs of the workhorse stand-in",
    )
    tune.add_argument(
        "--deployment",
        help="the deployment to tune, over the file's: a local model (id or shortcut), a cloud "
        "model or provider id (its CloudProxy), or `ingress`",
    )
    tune.add_argument("--shape", default=DEFAULT_SHAPE, metavar="SPEC", help=SHAPE_HELP)
    tune.add_argument(
        "--speedup",
        type=float,
        default=8.0,
        help="compress time: the shape, the candidates' delays and look-back and Serve's metric "
        "intervals run this many times faster (not replica start-up or each call's latency); "
        "default 8",
    )
    tune.add_argument(
        "--slo-p99-ms", type=float, default=5000.0, help="the p99 latency to meet (default 5000)"
    )
    tune.add_argument(
        "--max-failed",
        type=float,
        default=0.01,
        help="the share of failed calls a candidate may have and still meet the SLO (0.01)",
    )
    tune.add_argument(
        "--model", help="what the load calls when tuning the ingress or a provider (a shortcut)"
    )
    tune.add_argument("--stream", action=argparse.BooleanOptionalAction, default=True)
    tune.add_argument("--arrivals", choices=("poisson", "even"), default="poisson")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument(
        "--sample", type=float, default=0.5, metavar="S", help="seconds between samples (0.5)"
    )
    tune.add_argument("--directory", help="a directory folder (default: the shipped one)")
    tune.add_argument(
        "--out", type=Path, default=Path("tune-results"), help="where the JSON and PNGs go"
    )
    tune.set_defaults(handler=_tune)


def _tune(args: argparse.Namespace) -> int:
    from serve_app.load.progress import live_progress
    from serve_app.load.shapes import ShapeError, parse_shape
    from serve_app.tune.candidates import DEFAULT_SPEC, CandidatesError, load_spec
    from serve_app.tune.report import Verdict, write_report
    from serve_app.tune.runner import DISTORTIONS, TuneRun, run_tune

    try:
        shape = parse_shape(args.shape)
        spec = load_spec(args.candidates) if args.candidates else DEFAULT_SPEC
        if args.deployment:
            spec = spec.model_copy(update={"deployment": args.deployment})
        run = TuneRun(
            shape=shape,
            speedup=args.speedup,
            model=args.model,
            stream=args.stream,
            arrivals=args.arrivals,
            seed=args.seed,
            sample_s=args.sample,
            directory_path=args.directory,
        )
        print(
            f"Tuning {spec.deployment}: {len(spec.candidates)} candidates under {args.shape}, "
            f"{shape.duration_s:.0f} s of load at speedup {args.speedup:g} "
            f"(≈{shape.duration_s / args.speedup:.0f} s each). SANDBOX providers; local models "
            "on their CPU stand-in."
        )
        runs = run_tune(spec, run, progress=live_progress)
    except (ShapeError, CandidatesError) as e:
        print(f"switchyard tune: {e}", file=sys.stderr)
        return 2
    verdict = Verdict(
        slo_p99_s=args.slo_p99_ms / 1000, max_failed_share=args.max_failed, speedup=args.speedup
    )
    written = write_report(
        runs,
        args.out,
        verdict=verdict,
        shape=shape,
        shape_spec=args.shape,
        deployment=spec.deployment,
    )
    print()
    print(verdict.ranking(runs))
    print()
    print(verdict.sentence(runs))
    print("Wrote " + ", ".join(str(p) for p in written))
    print(f"Note: {DISTORTIONS}")
    return 0
