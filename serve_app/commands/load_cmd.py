"""`switchyard load`: send a load shape to a Switchyard URL, with a live progress line and a
summary (serve_app/load)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from serve_app.commands import Subparsers
from serve_app.load.shapes import SHAPE_HELP


def register(subparsers: Subparsers) -> None:
    load = subparsers.add_parser(
        "load",
        help="send an open-loop load (steady, ramp, spike, diurnal or a CSV trace) to a "
        "Switchyard URL and summarise latency, TTFT and failures",
    )
    load.add_argument("--url", default="http://127.0.0.1:8000", help="Switchyard's base URL")
    load.add_argument(
        "--shape", default="steady:rate=2,duration=30", metavar="SPEC", help=SHAPE_HELP
    )
    load.add_argument("--model", default="workhorse", help="a shortcut or a model id")
    load.add_argument(
        "--key",
        help="a Switchyard key, sent as a bearer token (default: $SWITCHYARD_API_KEY)",
    )
    load.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="stream answers (the default; TTFT is measured on streamed calls only)",
    )
    load.add_argument(
        "--arrivals",
        choices=("poisson", "even"),
        default="poisson",
        help="Poisson arrivals at the shape's rate (default), or evenly spaced",
    )
    load.add_argument("--seed", type=int, default=0, help="the arrivals' seed (default 0)")
    load.add_argument("--timeout", type=float, default=120.0, help="seconds per call")
    load.add_argument(
        "--json", type=Path, metavar="FILE", help="write the summary and every call's timings"
    )
    load.set_defaults(handler=_load)


def _load(args: argparse.Namespace) -> int:
    import asyncio

    from serve_app.load.generator import KEY_ENV, LoadTarget, run_load
    from serve_app.load.progress import live_progress
    from serve_app.load.shapes import ShapeError, parse_shape, schedule
    from serve_app.load.summary import render, summarise

    try:
        shape = parse_shape(args.shape)
    except ShapeError as e:
        print(f"switchyard load: {e}", file=sys.stderr)
        return 2
    arrivals = schedule(shape, arrivals=args.arrivals, seed=args.seed)
    target = LoadTarget(
        url=args.url,
        model=args.model,
        key=args.key or os.environ.get(KEY_ENV),
        stream=args.stream,
        timeout_s=args.timeout,
    )
    print(
        f"{len(arrivals)} calls to {args.model} at {args.url} over {shape.duration_s:.0f} s "
        f"({'streamed' if args.stream else 'whole answers'}, {args.arrivals} arrivals)"
    )
    with live_progress(len(arrivals), "load") as on_outcome:
        state = asyncio.run(run_load(target, arrivals, on_outcome=on_outcome))
    summary = summarise(state.outcomes, duration_s=shape.duration_s, wall_s=state.wall_s)
    print(render(summary))
    if args.json:
        outcomes = [vars(o) for o in sorted(state.outcomes, key=lambda o: o.due_s)]
        args.json.write_text(json.dumps({"summary": summary.as_dict(), "calls": outcomes}))
        print(f"wrote {args.json}")
    return 0 if summary.sent else 1
