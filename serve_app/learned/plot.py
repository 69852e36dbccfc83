"""The cost–quality plot of `switchyard router eval` (PNG, matplotlib's headless backend)."""

from __future__ import annotations

from pathlib import Path

from serve_app.learned.router_eval import Prices, Report


def cost_quality_png(report: Report, prices: Prices, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: write files only
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.8))
    shares, qualities = zip(*sorted(report.curve), strict=True)
    axes.plot([prices.cost_saved(s) for s in shares], qualities, label="learned router (held-out)")
    axes.plot(
        [prices.cost_saved(1.0), prices.cost_saved(0.0)],
        [1.0, _weak_quality(report)],
        linestyle="--",
        label="random routing",
    )
    axes.scatter([report.cost_saved], [report.quality], zorder=3, label="learned, chosen threshold")
    axes.scatter([report.oracle_cost_saved], [report.target], marker="*", s=120, label="oracle")
    if report.category_cost_saved is not None and report.category_quality is not None:
        axes.scatter(
            [report.category_cost_saved],
            [report.category_quality],
            marker="s",
            label="category router",
        )
    axes.axhline(report.target, color="grey", linewidth=0.8)
    axes.set_xlabel("cost saved against always-strong")
    axes.set_ylabel("quality (share of the strong model's accuracy)")
    axes.set_title(title)
    axes.legend(loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _weak_quality(report: Report) -> float:
    """The curve's all-weak end: its point with the smallest strong share."""
    return min(report.curve)[1]
