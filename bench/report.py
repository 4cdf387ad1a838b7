"""Keep a benchmark's figures: `bench/results/<name>-<YYYY-MM-DD>.json` and a PNG of its charts.

Any benchmark can use it:

    from bench.report import BarChart, write_results
    paths = write_results("ingest", {"events_per_s": 4283.0}, [BarChart(...)])

The JSON holds the figures as given (plus the name, the date and the machine); the PNG has one
panel of grouped bars per chart (matplotlib with the Agg backend: no display needed).
"""

import json
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

RESULTS_DIR = Path(__file__).resolve().parent / "results"


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


@dataclass(frozen=True)
class ResultPaths:
    json: Path
    png: Path | None


def _draw(charts: Sequence[BarChart], path: Path) -> None:
    figure, axes = plt.subplots(len(charts), 1, figsize=(10, 4 * len(charts)), squeeze=False)
    try:
        for axis, chart in zip(axes[:, 0], charts, strict=True):
            names = list(chart.series)
            width = 0.8 / max(len(names), 1)
            for index, name in enumerate(names):
                values = list(chart.series[name])
                if len(values) != len(chart.groups):
                    raise ValueError(f"{chart.title}: {name} has {len(values)} values")
                xs = [g + (index - (len(names) - 1) / 2) * width for g in range(len(values))]
                present = [(x, v) for x, v in zip(xs, values, strict=True) if v is not None]
                bars = axis.bar([x for x, _ in present], [v for _, v in present], width, label=name)
                axis.bar_label(bars, fmt="%.3g", fontsize=7)
            for label, y in chart.lines.items():
                axis.axhline(y, linestyle="--", linewidth=1, color="red")
                axis.annotate(label, (0, y), xycoords=("axes fraction", "data"), fontsize=7)
            axis.set_xticks(range(len(chart.groups)), list(chart.groups))
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
        "machine": {
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "figures": figures,
    }
    json_path = stem.with_suffix(".json")
    json_path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    png_path = None
    if charts:
        png_path = stem.with_suffix(".png")
        _draw(charts, png_path)
    return ResultPaths(json_path, png_path)
