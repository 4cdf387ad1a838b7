"""The README's "Measured" tables, made from the latest JSON of each benchmark, never by hand.

    .venv/bin/python bench/measured.py           # rewrite the block in README.md (make measured)
    .venv/bin/python bench/measured.py --check   # exit 1 when README.md's block differs

Each benchmark (`bench-pricing`, `bench-ingest`, `bench-history`) writes
`bench/results/<name>-<date>.json` (`bench/report.py`); the newest date of each is read. The
block between BEGIN and END in README.md is replaced by one table per benchmark with the run's
date, file and machine load. A benchmark without a JSON gets its rows marked "not measured
yet"; a figure its JSON lacks (an older run, a part that was skipped) leaves its row out. The
targets are the issues' (issue 10 for ingest); the verdict is computed from the figures.
"""

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
README = REPO / "README.md"
BEGIN = "<!-- measured:begin: made by `make measured` from bench/results; edits are overwritten -->"
END = "<!-- measured:end -->"
NOT_MEASURED = "not measured yet"

Figures = dict[str, Any]


def latest(name: str, directory: Path = RESULTS_DIR) -> tuple[Path, dict[str, Any]] | None:
    """The newest `<name>-<YYYY-MM-DD>.json` and its document, or None."""
    found = sorted(directory.glob(f"{name}-????-??-??.json"))
    if not found:
        return None
    return found[-1], json.loads(found[-1].read_text())


def figure(figures: Figures, *path: str) -> Any:
    """figures[path[0]][path[1]]..., or None when any step is missing."""
    value: Any = figures
    for step in path:
        if not isinstance(value, dict) or step not in value:
            return None
        value = value[step]
    return value


def rate(value: float) -> str:
    return f"{value:,.0f}"


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def at_least(value: float, target: float, shown: str) -> str:
    return f">= {shown}: {verdict(value >= target)}"


@dataclass(frozen=True)
class Row:
    """One line of a table: its label, and a function of the figures giving the other cells
    (None when a figure it needs is missing: the row is left out)."""

    label: str
    cells: Callable[[Figures], list[str] | None]
    # Shown in the target column when the benchmark has not run at all.
    target: str = ""


def _needs(
    *names: str,
) -> Callable[[Callable[..., list[str]]], Callable[[Figures], list[str] | None]]:
    """Cells from the named top-level figures, or None when one is missing."""

    def wrap(make: Callable[..., list[str]]) -> Callable[[Figures], list[str] | None]:
        def cells(figures: Figures) -> list[str] | None:
            values = [figures.get(name) for name in names]
            if any(not isinstance(v, int | float) for v in values):
                return None
            return make(*values)

        return cells

    return wrap


def plain(label: str, name: str, unit: str) -> Row:
    """A figure shown as it is, without a target."""
    return Row(label, _needs(name)(lambda v: [f"{rate(v)} {unit}".rstrip(), ""]))


# --- pricing ------------------------------------------------------------------------------


def _http_latency(figures: Figures) -> list[str] | None:
    cut = figure(figures, "http_latency_ms", "evaluate")
    if not isinstance(cut, dict) or not {"p50", "p99", "max"} <= cut.keys():
        return None
    return [f"{cut['p50']:.2f} / {cut['p99']:.2f} / {cut['max']:.1f} ms", "none"]


PRICING = [
    Row(
        "graduated, 10 tiers, in-process",
        _needs("engine_graduated_per_s")(
            lambda v: [f"{rate(v)} evaluations/s", at_least(v, 200_000, "200,000")]
        ),
        ">= 200,000",
    ),
    Row(
        "`POST /v1/evaluate` vs a trivial FastAPI endpoint",
        _needs("http_evaluate_per_s", "http_ping_per_s")(
            lambda e, p: [
                f"{rate(e)} vs {rate(p)} requests/s ({e / p:.0%})",
                at_least(e / p, 0.60, "60%"),
            ]
        ),
        ">= 60%",
    ),
    Row("`POST /v1/evaluate` p50 / p99 / max, 4 connections", _http_latency, "none"),
    Row(
        "batch quote, in-process",
        _needs("batch_in_process_items_per_s")(
            lambda v: [f"{rate(v)} items/s", at_least(v, 100_000, "100,000")]
        ),
        ">= 100,000",
    ),
    Row(
        "batch quote over HTTP",
        _needs("batch_http_items_per_s")(lambda v: [f"{rate(v)} items/s", "none"]),
        "none",
    ),
]

# --- ingest (issue 10) ----------------------------------------------------------------------

INGEST_TARGET = 15_000


def _runs(name: str) -> Callable[[Figures], list[str] | None]:
    """The rates of a repeated run, in the order they ran."""

    def cells(figures: Figures) -> list[str] | None:
        rates = figures.get(f"{name}_events_per_s")
        if not isinstance(rates, list) or not rates:
            return None
        return [", ".join(rate(r) for r in rates) + " events/s", ""]

    return cells


INGEST = [
    plain("raw aiokafka consumer, no processing", "raw_consume_per_s", "events/s"),
    plain("raw asyncpg COPY of the event rows", "raw_copy_rows_per_s", "rows/s"),
    plain(
        "raw COPY of all the rows the ledger writes per event, 1,000 events per transaction",
        "ledger_rows_copy_per_s",
        "events/s",
    ),
    plain(
        "`eventsourcing` PostgreSQL recorder, 100 debits per transaction",
        "eventsourcing_recorder_per_s",
        "events/s",
    ),
    Row(
        "the ledger, one consumer process",
        _needs("ledger_events_per_s")(
            lambda v: [f"{rate(v)} events/s", at_least(v, INGEST_TARGET, "15,000")]
        ),
        ">= 15,000",
    ),
    Row("each run of the one-consumer headline (the median counts)", _runs("ledger_runs")),
    Row(
        "the ledger vs the raw COPY of its rows",
        _needs("ledger_events_per_s", "ledger_rows_copy_per_s")(
            lambda ledger, copy: [f"{ledger / copy:.0%}", at_least(ledger / copy, 0.40, "40%")]
        ),
        ">= 40%",
    ),
    Row(
        "the ledger vs the `eventsourcing` recorder",
        _needs("ledger_events_per_s", "eventsourcing_recorder_per_s")(
            lambda ledger, es: [f"{ledger / es:.0%}", at_least(ledger / es, 1.0, "100%")]
        ),
        ">= 100%",
    ),
    Row(
        "produced to visible in `GET balance` at 50% load, p50 / p99 / max",
        _needs("latency_p50_ms", "latency_p99_ms", "latency_max_ms")(
            lambda p50, p99, top: [f"{p50:,.0f} / {p99:,.0f} / {top:,.0f} ms", ""]
        ),
    ),
    plain(
        "consumer CPU per event in that latency run (fresh events, small batches)",
        "latency_consumer_cpu_us_per_event",
        "µs",
    ),
    plain("consumer CPU per debited event, one consumer", "ledger_consumer_cpu_us_per_event", "µs"),
    plain("PostgreSQL's CPU per debited event, same run", "ledger_postgres_cpu_us_per_event", "µs"),
    plain(
        "all cores' busy time per debited event, same run", "ledger_machine_cpu_us_per_event", "µs"
    ),
    plain("lanes per consumer process (`LEDGER_CONSUMER_LANES`)", "ledger_lanes", ""),
    plain("one consumer with one lane, median", "one_lane_events_per_s", "events/s"),
    Row("each run with one lane", _runs("one_lane_runs")),
    plain(
        "two consumer processes, one group, 6 partitions", "two_consumers_events_per_s", "events/s"
    ),
    plain("one consumer, 12 partitions", "partitions_12_events_per_s", "events/s"),
    plain(
        "two consumer processes, 12 partitions",
        "partitions_12_two_consumers_events_per_s",
        "events/s",
    ),
]

# --- history --------------------------------------------------------------------------------

LATENCIES = {
    "reserve": "reservation p50 / p99",
    "release": "release p50 / p99",
    "get_partner": "`GET /v1/partners/{id}` p50 / p99",
    "get_balance": "`GET balance` p50 / p99",
    "get_balance_as_of": "`GET balance?as_of=` (middle) p50 / p99",
}
BYTES_TARGET = 400


def _checks(figures: Figures, prefix: str) -> str:
    found = [ok for name, ok in (figures.get("checks") or {}).items() if name.startswith(prefix)]
    return verdict(all(found)) if found else ""


def _sizes(figures: Figures) -> tuple[str, str] | None:
    sizes = figures.get("sizes")
    if not isinstance(sizes, list) or len(sizes) < 2:
        return None
    return str(sizes[0]), str(sizes[-1])


def _latency_row(name: str) -> Callable[[Figures], list[str] | None]:
    def cells(figures: Figures) -> list[str] | None:
        sizes = _sizes(figures)
        if sizes is None:
            return None
        cuts = [figure(figures, "latency_ms", name, size) for size in sizes]
        ratios = [
            figure(figures, "ratios_largest_to_smallest", f"{name}.{p}") for p in ("p50", "p99")
        ]
        if any(not isinstance(c, dict) for c in cuts) or None in ratios:
            return None
        shown = [f"{c['p50']:.1f} / {c['p99']:.1f} ms" for c in cuts]
        target = f"ratio <= {figure(figures, 'targets', 'ratio_max')}"
        if name in ("reserve", "release"):
            target += f", p50 < {figure(figures, 'targets', 'command_p50_ms_max'):.0f} ms"
        return [
            *shown,
            f"{ratios[0]:.2f} / {ratios[1]:.2f}",
            f"{target}: {_checks(figures, name + '.')}",
        ]

    return cells


def _cold_start(figures: Figures) -> list[str] | None:
    sizes = _sizes(figures)
    seconds = [figure(figures, "cold_start_s", s) for s in sizes] if sizes else [None]
    ratio = figure(figures, "ratios_largest_to_smallest", "cold_start")
    if None in seconds or ratio is None:
        return None
    target = f"ratio <= {figure(figures, 'targets', 'ratio_max')}"
    return [
        *(f"{s:.1f} s" for s in seconds),
        f"{ratio:.2f}",
        f"{target}: {_checks(figures, 'cold_start.')}",
    ]


def _bytes(figures: Figures) -> list[str] | None:
    sizes = _sizes(figures)
    values = [figure(figures, "bytes_per_mailing_debited", s) for s in sizes or ()]
    if not values or None in values:
        return None
    largest: float = values[-1]
    target = f"<= {BYTES_TARGET}: {verdict(largest <= BYTES_TARGET)}"
    return [*(f"{v:,.0f}" for v in values), "", target]


def _wrk(name: str) -> Callable[[Figures], list[str] | None]:
    def cells(figures: Figures) -> list[str] | None:
        found = figure(figures, "wrk", name)
        if not isinstance(found, dict):
            return None
        rate_min = figure(figures, "targets", "wrk_requests_per_s_min")
        p99_max = figure(figures, "targets", "wrk_p99_ms_max")
        shown = f"{rate(found['requests_per_s'])} req/s, p99 {found['p99_ms']:.1f} ms"
        target = f">= {rate(rate_min)}, p99 < {p99_max:.0f} ms: {_checks(figures, 'wrk.' + name)}"
        return ["", shown, "", target]

    return cells


HISTORY = [
    *(Row(label, _latency_row(name), "ratio <= 1.5") for name, label in LATENCIES.items()),
    Row("consumer cold start (to the first debit)", _cold_start, "ratio <= 1.5"),
    Row("bytes per `MailingDebited` (events table with its indexes)", _bytes, f"<= {BYTES_TARGET}"),
    Row("`wrk -t2 -c20` `GET balance` at the largest size", _wrk("get_balance"), ">= 1,500"),
    Row(
        "`wrk -t2 -c20` `GET /v1/partners/{id}` at the largest size",
        _wrk("get_partner"),
        ">= 1,500",
    ),
]


# --- the tables -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Benchmark:
    name: str  # bench/results/<name>-<date>.json
    target: str  # the make target
    about: str
    rows: Sequence[Row]
    columns: Callable[[Figures | None], list[str]]


def _two_columns(_: Figures | None) -> list[str]:
    return ["figure", "measured", "target"]


def _history_columns(figures: Figures | None) -> list[str]:
    sizes = _sizes(figures) if figures else None
    smallest, largest = ("smallest", "largest") if sizes is None else (f"{int(s):,}" for s in sizes)
    return ["figure", smallest, largest, "ratio", "target"]


BENCHMARKS = [
    Benchmark(
        "pricing", "bench-pricing", "evaluations, HTTP and batch quotes", PRICING, _two_columns
    ),
    Benchmark(
        "ingest",
        "bench-ingest",
        "`mailing.sent` into the ledger, beside the raw limits of the same run",
        INGEST,
        _two_columns,
    ),
    Benchmark(
        "history",
        "bench-history",
        "one partner's history growing; one API process",
        HISTORY,
        _history_columns,
    ),
]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _machine(document: dict[str, Any]) -> str:
    machine = document.get("machine") or {}
    parts = [f"{machine['cpus']} CPUs"] if machine.get("cpus") else []
    load = machine.get("load_average")
    if load:
        parts.append("load " + " / ".join(f"{x:.1f}" for x in load) + " (1/5/15 min)")
    return ", ".join(parts)


def _code(document: dict[str, Any]) -> str:
    code = document.get("code") or {}
    if not code.get("commit"):
        return ""
    dirty = " with uncommitted changes" if code.get("uncommitted_changes") else ""
    return f", code at {code['commit'][:7]}{dirty}"


def section(benchmark: Benchmark, directory: Path = RESULTS_DIR) -> list[str]:
    """One benchmark's intro line and table, from its latest JSON (or "not measured yet")."""
    found = latest(benchmark.name, directory)
    header = benchmark.columns(found[1]["figures"] if found else None)
    if found is None:
        intro = (
            f"`make {benchmark.target}` ({benchmark.about}): {NOT_MEASURED}"
            f" (no `bench/results/{benchmark.name}-*.json`)."
        )
        blank = [""] * (len(header) - 3)
        rows = [[row.label, NOT_MEASURED, *blank, row.target] for row in benchmark.rows]
        return [intro, "", *_table(header, rows)]
    path, document = found
    figures = document["figures"]
    machine = _machine(document)
    intro = (
        f"`make {benchmark.target}` ({benchmark.about}), {document['date']}"
        f"{', ' + machine if machine else ''}{_code(document)}: `bench/results/{path.name}`"
        f"{' and `.png`' if path.with_suffix('.png').exists() else ''}."
    )
    rows = []
    for row in benchmark.rows:
        cells = row.cells(figures)
        if cells is not None:
            rows.append([row.label, *cells])
    return [intro, "", *_table(header, rows)]


def render(directory: Path = RESULTS_DIR) -> str:
    """The whole block, markers included."""
    lines = [BEGIN]
    for benchmark in BENCHMARKS:
        lines += ["", *section(benchmark, directory)]
    return "\n".join([*lines, "", END])


def replace_block(readme: str, block: str) -> str:
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[:start] + block + readme[end:]


def current_block(readme: str) -> str:
    return readme[readme.index(BEGIN) : readme.index(END) + len(END)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when README.md differs")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    arguments = parser.parse_args(argv)
    readme = arguments.readme.read_text()
    block = render(arguments.results_dir)
    if arguments.check:
        if current_block(readme) != block:
            print(f"{arguments.readme}: the Measured tables are stale; run `make measured`")
            return 1
        return 0
    arguments.readme.write_text(replace_block(readme, block))
    print(f"{arguments.readme}: Measured tables written from {arguments.results_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
