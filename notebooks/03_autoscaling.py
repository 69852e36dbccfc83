# %% [markdown]
# # Tuning autoscaling under a spike
#
# `switchyard tune` in a notebook: two autoscaling configs of the `workhorse` deployment, each
# deployed afresh on a local Ray cluster and sent the same open-loop spike, while replicas,
# requests and latency are recorded. Offline: the cloud models are **sandbox providers** and the
# workhorse model is its **CPU stand-in** (a tiny Llama with random weights on vLLM's CPU
# build), so the latencies are this machine's, not an H100's — the method is what carries over.
#
# `SWITCHYARD_NOTEBOOK_QUICK=1` (set by `make test`) runs a shorter spike at a higher speedup;
# the app and the configs stay the same.

# %%
import os
import tempfile
from pathlib import Path

from IPython.display import Image, display

from serve_app.load.shapes import parse_shape
from serve_app.tune.candidates import Candidate, TuneSpec
from serve_app.tune.report import Verdict, write_report
from serve_app.tune.runner import DISTORTIONS, TuneRun, run_tune

quick = os.environ.get("SWITCHYARD_NOTEBOOK_QUICK") == "1"
shape_spec = (
    "spike:base=1,peak=6,at=10,for=20,duration=40,prompt=20,output=8"
    if quick
    else "spike:base=1,peak=8,at=60,for=120,duration=300,prompt=50,output=128"
)
speedup = 10.0 if quick else 5.0
spec = TuneSpec(
    deployment="workhorse",
    candidates=[
        Candidate(name="fixed-1", autoscaling={"min_replicas": 1, "max_replicas": 1}),
        Candidate(
            name="up-to-2",
            autoscaling={
                "min_replicas": 1,
                "max_replicas": 2,
                "target_ongoing_requests": 2,
                "upscale_delay_s": 10,
                "downscale_delay_s": 300,
            },
        ),
    ],
)
shape = parse_shape(shape_spec)
print(f"{shape_spec} at speedup {speedup:g}: {shape.duration_s / speedup:.0f} s per config")

# %%
runs = run_tune(spec, TuneRun(shape=shape, speedup=speedup, sample_s=0.25))

# %% [markdown]
# ## The verdict
#
# The cheapest config whose p99 latency meets the SLO, with few enough failures. Cost is the
# replica-hours on the load's own clock times the model's `gpu_hour_usd` from the directory.

# %%
verdict = Verdict(slo_p99_s=5.0, max_failed_share=0.01, speedup=speedup)
print(verdict.ranking(runs))
print(verdict.sentence(runs))
out = Path(tempfile.mkdtemp(prefix="tune-"))
written = write_report(
    runs, out, verdict=verdict, shape=shape, shape_spec=shape_spec, deployment=spec.deployment
)

# %% [markdown]
# ## Replicas and latency over time

# %%
display(Image(filename=str(out / "replicas.png")))
display(Image(filename=str(out / "latency.png")))

# %% [markdown]
# What `--speedup` distorts:

# %%
print(DISTORTIONS)
