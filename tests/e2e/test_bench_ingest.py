"""`bench/ingest.py` at a tiny size: `--consumers N` really starts N consumer processes in one
group, every event is debited once, and no process the benchmark started is left afterwards, when
it ends normally and when it is stopped by a signal halfway; nor any topic it created."""

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from tests.support.settings import KAFKA

REPO = Path(__file__).resolve().parents[2]
MARK = "MAILBILL_BENCH_RUN"


def marked(run_id: str) -> list[int]:
    """Processes whose environment carries this run's mark (the benchmark's children have it)."""
    needle = f"{MARK}={run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if needle in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def wait_gone(run_id: str, seconds: float = 10) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := marked(run_id)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


async def topics_of(run_id: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        return [t for t in await admin.list_topics() if t.startswith(f"bench{run_id}")]
    finally:
        await admin.close()


def topics_left(run_id: str, seconds: float = 10) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := asyncio.run(topics_of(run_id))) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def bench(run_id: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "bench/ingest.py", *args],
        cwd=REPO,
        env={**os.environ, MARK: run_id},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_latency_at_given_rates_reports_each_and_leaves_nothing_behind() -> None:
    run_id = uuid.uuid4().hex[:6]
    process = bench(
        run_id, "--events", "300", "--partners", "3", "--latency-at", "100", "200",
        "--latency-seconds", "2",
    )  # fmt: skip
    try:
        output, _ = process.communicate(timeout=240)
    finally:
        process.kill()
    assert process.returncode == 0, output
    # One consumer per rate, each on a topic and database of its own.
    assert len(re.findall(r"started pid \d+: -m ledger consume", output)) == 2, output
    lines = re.findall(
        r"latency at ([\d,]+) events/s offered, .*?, (\d+) samples: p50 \d+ ms, p99 \d+ ms,"
        r" max \d+ ms \(load [\d.]+; consumer CPU (\d+) us per event\)",
        output,
    )
    offered = [int(rate.replace(",", "")) for rate, _, _ in lines]
    assert len(offered) == 2 and 90 <= offered[0] <= 100 and 180 <= offered[1] <= 200, output
    assert all(int(samples) > 0 and int(cpu) > 0 for _, samples, cpu in lines), output
    assert wait_gone(run_id) == []
    assert topics_left(run_id) == []


def test_two_consumers_start_finish_and_leave_nothing_behind() -> None:
    run_id = uuid.uuid4().hex[:6]
    process = bench(run_id, "--events", "300", "--partners", "3", "--consumers", "2")
    try:
        output, _ = process.communicate(timeout=240)
    finally:
        process.kill()
    assert process.returncode == 0, output
    started = re.findall(r"started pid (\d+): -m ledger consume", output)
    assert len(started) == 2, output  # two consumers, not one whatever N is
    assert re.search(
        r"ledger, 2 consumer\(s\), 6 partitions, \d+ lane\(s\) each\s+[\d,]+ events/s", output
    ), output
    assert wait_gone(run_id) == []
    assert topics_left(run_id) == []


def test_a_signal_halfway_stops_every_process_it_started() -> None:
    run_id = uuid.uuid4().hex[:6]
    # Enough events that the consumers are still at work when the signal comes.
    process = bench(run_id, "--events", "20000", "--partners", "3", "--consumers", "2")
    assert process.stdout is not None
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if len(re.findall(r"started pid \d+: -m ledger consume", "".join(lines))) == 2:
                break
        assert len(marked(run_id)) >= 3, "".join(lines)  # pricing and the two consumers
        process.send_signal(signal.SIGTERM)
        output = "".join(lines) + process.communicate(timeout=120)[0]
    finally:
        process.kill()
    assert "every process it started was stopped" in output, output
    assert process.returncode != 0
    assert wait_gone(run_id) == []
    assert topics_left(run_id) == []
