"""Keep a benchmark's figures: `bench/results/<name>-<YYYY-MM-DD>.json` and a PNG of its charts.

Any benchmark can use it:

    from bench.report import BarChart, write_results
    paths = write_results("ingest", {"events_per_s": 4283.0}, [BarChart(...)])

The JSON holds the figures as given (plus the name, the date and the machine, with its load
average: the machine is shared); the PNG has one panel of grouped bars per chart (matplotlib
with the Agg backend: no display needed). `throughput_chart` draws measured rates beside the
raw limits of the same run, `latency_chart` latency percentiles. `bench/measured.py` makes the
README's "Measured" tables from the latest JSON of each benchmark.
"""

import json
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"


@dataclass(frozen=True)
class BarChart:
    """Grouped bars: one group per x label, one bar per series in each group.

    `series` maps a legend label to one value per group (None: no bar there).
    """

    title: str
    ylabel: str
    groups: Sequence[str]
    series: Mapping[str, Sequence[float | None]]
    # Horizontal lines, e.g. a target: label -> y.
    lines: Mapping[str, float] = field(default_factory=dict)
    log_scale: bool = False


def throughput_chart(
    title: str,
    unit: str,
    measured: Mapping[str, float | None],
    limits: Mapping[str, float | None] | None = None,
    targets: Mapping[str, float] | None = None,
    *,
    log_scale: bool = False,
) -> BarChart:
    """Measured rates beside the raw limits (what the same machine does with no work at all),
    one bar each, limits first; a None figure (not measured) leaves its place empty."""
    limits = limits or {}
    groups = [*limits, *measured]
    return BarChart(
        title=title,
        ylabel=unit,
        groups=groups,
        series={
            **({"raw limit": [limits.get(g) for g in groups]} if limits else {}),
            "measured": [measured.get(g) for g in groups],
        },
        lines=dict(targets or {}),
        log_scale=log_scale,
    )


def latency_chart(
    title: str,
    percentiles: Mapping[str, Mapping[str, float]],
    order: Sequence[str] = ("p50", "p99", "max"),
    targets: Mapping[str, float] | None = None,
) -> BarChart:
    """Latency percentiles, a group per percentile (`order`, those present) and a bar per
    measurement: `percentiles` maps a measurement to e.g. {"p50": 1.2, "p99": 3.4} in ms."""
    groups = [p for p in order if any(p in figures for figures in percentiles.values())]
    return BarChart(
        title=title,
        ylabel="ms",
        groups=groups,
        series={name: [figures.get(p) for p in groups] for name, figures in percentiles.items()},
        lines=dict(targets or {}),
    )


def machine() -> dict[str, Any]:
    """The machine a figure was measured on, with its load (1, 5, 15 minutes) at that moment."""
    return {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }


def code(repo: Path = REPO) -> dict[str, Any]:
    """The code that was measured: its commit, and whether files besides results and prose
    (Markdown: the README's tables are written from results) differed from it; then the
    figures are of code that was not committed as it ran."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return None  # not a git checkout (a copy of the tree): nothing to say
        return done.stdout

    commit = git("rev-parse", "HEAD")
    changed = git(
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        ":(exclude)bench/results",
        ":(exclude,glob)**/*.md",
    )
    return {
        "commit": commit.strip() if commit else None,
        "uncommitted_changes": bool(changed.strip()) if changed is not None else None,
    }


@dataclass(frozen=True)
class ResultPaths:
    json: Path
    png: Path | None


def _value_label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _draw(charts: Sequence[BarChart], path: Path) -> None:
    figure, axes = plt.subplots(len(charts), 1, figsize=(10, 4 * len(charts)), squeeze=False)
    try:
        for axis, chart in zip(axes[:, 0], charts, strict=True):
            names = list(chart.series)
            width = 0.8 / max(len(names), 1)
            for name in names:
                if len(chart.series[name]) != len(chart.groups):
                    raise ValueError(f"{chart.title}: {name} has {len(chart.series[name])} values")
            for name in names:
                values = list(chart.series[name])
                present = []
                for group, value in enumerate(values):
                    if value is None:
                        continue
                    # The bars a group has are centred on it: a group without some series
                    # shows no gap.
                    there = [n for n in names if chart.series[n][group] is not None]
                    slot = there.index(name) - (len(there) - 1) / 2
                    present.append((group + slot * width, value))
                bars = axis.bar([x for x, _ in present], [v for _, v in present], width, label=name)
                axis.bar_label(bars, fmt=_value_label, fontsize=7)
            for label, y in chart.lines.items():
                axis.axhline(y, linestyle="--", linewidth=1, color="red")
                axis.annotate(label, (0, y), xycoords=("axes fraction", "data"), fontsize=7)
            # Many groups: slanted names, so that long ones do not run into each other.
            slant = {"rotation": 15, "ha": "right"} if len(chart.groups) > 5 else {}
            axis.set_xticks(range(len(chart.groups)), list(chart.groups), **slant)
            axis.set_title(chart.title)
            axis.set_ylabel(chart.ylabel)
            if chart.log_scale:
                axis.set_yscale("log")
            if names:
                axis.legend(fontsize=7)
        figure.tight_layout()
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)


def write_results(
    name: str,
    figures: Mapping[str, Any],
    charts: Sequence[BarChart] = (),
    *,
    directory: Path = RESULTS_DIR,
    day: date | None = None,
) -> ResultPaths:
    """Write `<directory>/<name>-<day>.json` (and `.png` when there are charts); returns the
    paths. A second run on the same day replaces that day's files."""
    day = day or datetime.now(UTC).date()
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"{name}-{day.isoformat()}"
    document = {
        "benchmark": name,
        "date": day.isoformat(),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "code": code(),
        "figures": figures,
    }
    json_path = stem.with_suffix(".json")
    json_path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    png_path = None
    if charts:
        png_path = stem.with_suffix(".png")
        _draw(charts, png_path)
    return ResultPaths(json_path, png_path)
