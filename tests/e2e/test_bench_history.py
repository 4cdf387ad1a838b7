"""`bench/history.py` at a tiny size: it runs to the end, prints its figures, writes its JSON and
chart, and leaves none of the processes it started behind."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIMIT_SECONDS = 60

PRINTED = [
    "reservation + release (pair) p50",
    "POST reservation p50",
    "POST release p99",
    "GET /v1/partners/{id} p50",
    "GET .../balance p99",
    "GET .../balance?as_of=middle p50",
    "consumer cold start (s)",
    "events rows",
    "bytes per MailingDebited",
    "ratio <= 1.5",
    "< 25 ms at 1,000",
]
LATENCIES = [
    "reserve_release",
    "reserve",
    "release",
    "get_partner",
    "get_balance",
    "get_balance_as_of",
]


def still_running(pid: int) -> bool:
    """Is `pid` alive and still one of ours (not a number the system gave out again)?"""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return any(word in command for word in (b"ledger", b"pricing", b"wrk"))


def test_history_benchmark_at_a_tiny_size(tmp_path: Path) -> None:
    started = time.monotonic()
    # A session of its own: should it hang, the whole group can be stopped.
    bench = subprocess.Popen(
        [
            sys.executable,
            "bench/history.py",
            "--sizes",
            "200,1000",
            "--requests",
            "10",
            "--wrk-seconds",
            "1",
            "--results-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output_bytes, _ = bench.communicate(timeout=LIMIT_SECONDS)
    except subprocess.TimeoutExpired:
        bench.send_signal(signal.SIGTERM)  # its clean-up stops what it started
        try:
            output_bytes, _ = bench.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(bench.pid, signal.SIGKILL)
            output_bytes, _ = bench.communicate()
        raise AssertionError(
            f"over {LIMIT_SECONDS} s:\n{output_bytes.decode(errors='replace')}"
        ) from None
    elapsed = time.monotonic() - started
    output = output_bytes.decode(errors="replace")
    print(output)
    assert bench.returncode == 0, output
    assert elapsed < LIMIT_SECONDS

    for label in PRINTED:
        assert label in output, label
    wrk_installed = shutil.which("wrk") is not None
    if wrk_installed:
        assert re.search(r"GET \.\.\./balance\s+[\d,]+ req/s", output), output
    else:
        assert "wrk: skipped" in output

    started_line = re.search(r"processes started: ([\d ]+)", output)
    assert started_line is not None
    pids = [int(pid) for pid in started_line[1].split()]
    assert len(pids) >= 4  # pricing, the API, a consumer per size
    assert "processes left: none" in output
    assert not [pid for pid in pids if still_running(pid)]
    listed = subprocess.run(
        ["pgrep", "-af", "python -m ledger"], capture_output=True, text=True, check=False
    ).stdout
    assert not [line for line in listed.splitlines() if int(line.split()[0]) in pids]

    [results] = tmp_path.glob("history-*.json")
    [chart] = tmp_path.glob("history-*.png")
    assert str(results) in output and str(chart) in output
    assert chart.stat().st_size > 0
    document = json.loads(results.read_text())
    figures = document["figures"]
    assert figures["sizes"] == [200, 1000]
    for name in LATENCIES:
        for size in ("200", "1000"):
            assert set(figures["latency_ms"][name][size]) >= {"p50", "p99"}
        assert f"{name}.p50" in figures["ratios_largest_to_smallest"]
    assert "cold_start" in figures["ratios_largest_to_smallest"]
    assert set(figures["cold_start_s"]) == {"200", "1000"}
    assert figures["mailing_debited_rows"]["1000"] >= 1000
    assert figures["events_rows"]["1000"] > figures["events_rows"]["200"]
    assert figures["bytes_per_mailing_debited"]["1000"] > 0
    assert isinstance(figures["checks"], dict) and "all_met" in figures
    if wrk_installed:
        assert set(figures["wrk"]) == {"get_balance", "get_partner"}
        assert figures["wrk"]["get_balance"]["requests_per_s"] > 0
