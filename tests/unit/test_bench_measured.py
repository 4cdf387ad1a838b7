"""README's "Measured" tables are what `bench/measured.py` makes of the committed results, and
the script neither invents a figure nor breaks on a missing one."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench import measured
from bench.report import code, write_results

REPO = Path(__file__).resolve().parents[2]


def test_the_readme_tables_are_the_ones_made_from_the_committed_results() -> None:
    readme = (REPO / "README.md").read_text()
    assert readme.count(measured.BEGIN) == 1 and readme.count(measured.END) == 1
    assert measured.current_block(readme) == measured.render(REPO / "bench" / "results"), (
        "README.md's Measured tables are stale or edited by hand: run `make measured`"
    )


def test_a_benchmark_without_results_is_not_measured_yet(tmp_path: Path) -> None:
    block = measured.render(tmp_path)
    for benchmark in measured.BENCHMARKS:
        assert f"`make {benchmark.target}` ({benchmark.about}): not measured yet" in block
    ingest = measured.section(measured.BENCHMARKS[1], tmp_path)
    assert "| the ledger, one consumer process | not measured yet | >= 15,000 |" in ingest
    assert not any(char.isdigit() for line in ingest[4:] for char in line.split("|")[2])


def ingest_results(directory: Path, figures: dict[str, Any], day: str) -> None:
    document = {"benchmark": "ingest", "date": day, "machine": {"cpus": 2}, "figures": figures}
    (directory / f"ingest-{day}.json").write_text(json.dumps(document))


def test_the_latest_results_count_and_missing_or_unknown_figures_are_left_out(
    tmp_path: Path,
) -> None:
    ingest_results(tmp_path, {"ledger_events_per_s": 99_999}, "2026-11-30")
    ingest_results(
        tmp_path,
        {
            "ledger_events_per_s": 4217.4,
            "ledger_rows_copy_per_s": 20_000,
            "raw_consume_per_s": 364_817,
            "some_figure_nobody_knows": 1,
        },
        "2026-12-03",
    )
    lines = measured.section(measured.BENCHMARKS[1], tmp_path)

    assert lines[0].startswith("`make bench-ingest` (") and ", 2026-12-03, 2 CPUs:" in lines[0]
    rows = {line.split(" | ")[0].strip("| "): line for line in lines[4:]}
    assert rows["the ledger, one consumer process"] == (
        "| the ledger, one consumer process | 4,217 events/s | >= 15,000: **missed** |"
    )
    assert rows["the ledger vs the raw COPY of its rows"].endswith("| 21% | >= 40%: **missed** |")
    assert "raw aiokafka consumer, no processing" in rows
    # No eventsourcing figure: neither its row nor the ratio to it; no latencies either.
    assert set(rows) == {
        "raw aiokafka consumer, no processing",
        "raw COPY of all the rows the ledger writes per event, 1,000 events per transaction",
        "the ledger, one consumer process",
        "the ledger vs the raw COPY of its rows",
    }


def test_a_target_met_says_so(tmp_path: Path) -> None:
    ingest_results(
        tmp_path,
        {
            "ledger_events_per_s": 16_000,
            "ledger_rows_copy_per_s": 32_000,
            "eventsourcing_recorder_per_s": 15_000,
            "latency_p50_ms": 12.4,
            "latency_p99_ms": 80.2,
            "latency_max_ms": 140.0,
        },
        "2026-12-04",
    )
    block = "\n".join(measured.section(measured.BENCHMARKS[1], tmp_path))
    assert "| 16,000 events/s | >= 15,000: met |" in block
    assert "| 50% | >= 40%: met |" in block
    assert "| 107% | >= 100%: met |" in block
    assert "| 12 / 80 / 140 ms |" in block


def test_the_pricing_results_written_by_report_make_their_rows(tmp_path: Path) -> None:
    figures = {
        "engine_graduated_per_s": 190_000,
        "http_ping_per_s": 4000,
        "http_evaluate_per_s": 3000,
        "http_latency_ms": {"evaluate": {"p50": 0.9, "p99": 9.3, "max": 31.0, "n": 10}},
        "batch_in_process_items_per_s": 116_829,
    }
    write_results("pricing", figures, directory=tmp_path)
    block = "\n".join(measured.section(measured.BENCHMARKS[0], tmp_path))
    assert "| 190,000 evaluations/s | >= 200,000: **missed** |" in block
    assert "| 3,000 vs 4,000 requests/s (75%) | >= 60%: met |" in block
    assert "| 0.90 / 9.30 / 31.0 ms | none |" in block
    assert "| 116,829 items/s | >= 100,000: met |" in block
    assert "batch quote over HTTP" not in block
    assert "load " in block.splitlines()[0]  # report.py records the machine's load
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout
    assert f"code at {commit[:7]}" in block.splitlines()[0]  # and the code's commit


def test_make_measured_rewrites_only_the_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{measured.BEGIN}\nhand-typed 1,000,000/s\n{measured.END}\nafter\n")
    results = tmp_path / "results"
    shutil.copytree(REPO / "bench" / "results", results)
    assert measured.main(["--readme", str(readme), "--results-dir", str(results), "--check"]) == 1
    assert measured.main(["--readme", str(readme), "--results-dir", str(results)]) == 0
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("\nafter\n")
    assert "1,000,000" not in text
    assert measured.main(["--readme", str(readme), "--results-dir", str(results), "--check"]) == 0


def test_a_result_says_its_code_differed_only_when_code_did(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    for name in ("ledger.py", "README.md", "bench/results/ingest.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("first\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "first")
    assert code(tmp_path)["uncommitted_changes"] is False

    # The README's tables and the results themselves are written by the benchmarks' tools.
    (tmp_path / "README.md").write_text("tables\n")
    (tmp_path / "bench/results/ingest.json").write_text("{}\n")
    assert code(tmp_path)["uncommitted_changes"] is False

    (tmp_path / "ledger.py").write_text("changed\n")
    assert code(tmp_path)["uncommitted_changes"] is True
    assert len(code(tmp_path)["commit"]) == 40
