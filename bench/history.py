"""Ledger history benchmark: does a long history slow a partner's account down?

One partner's history grows through the sizes given (default 1,000, 50,000 and 200,000
mailings), written fast straight through the service layer: encoded `mailing.sent` CloudEvents
handed to the ledger's own batch consumer (`bootstrap(settings).mailing_sent_consumer()`) in
transactions of 1,000, priced by the real pricing service running as a process; a reservation is
made over HTTP (and captured by a mailing) every tenth transaction, on three customers. At each
size, against ONE `python -m ledger serve` process, it measures p50 and p99 of
  - a reservation and its release (each command, and the pair),
  - GET /v1/partners/{id}, GET .../balance, and GET .../balance?as_of=<the history's middle>,
  - the consumer's cold start: a fresh `python -m ledger consume` process (its own topic
    prefix), from its start until the debit of one new mailing.sent produced to Kafka shows in
    the balance's version (a restart must not replay the history),
  - the bytes per MailingDebited (`events` with its indexes, after ANALYZE);
then the ratio of each figure at the largest size to the same at the smallest, and `wrk -t2
-c20` on GET balance and GET partner of the largest partner (wrk is installed with apt-get when
missing; skipped when that fails).

Targets: every ratio <= 1.5; p50 of a command < 25 ms at the largest size; wrk >= 1,500
requests/s with p99 < 50 ms. Everything it creates (two databases named bench_history_*, the
Kafka topics it creates, its processes) is removed on every way out. Needs `make up`.

Usage: .venv/bin/python bench/history.py [--sizes 1000,50000,200000] [--requests N]
"""

import argparse
import asyncio
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Run as a script, this folder would come first on the path, and bench/pricing.py would hide
# the pricing package.
sys.path[0] = str(REPO)

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bench.report import RESULTS_DIR, BarChart, write_results
from ledger.bootstrap import LedgerContainer, bootstrap
from ledger.migrations import MIGRATIONS_DIR as LEDGER_MIGRATIONS
from ledger.settings import LedgerSettings
from pricing.migrations import MIGRATIONS_DIR as PRICING_MIGRATIONS
from shared.codec import encode
from shared.kafka_admin import ensure_topics
from shared.messaging.inbox import Inbox, IncomingRecord
from shared.topics import MAILING_SENT
from tests.integration.conftest import ADMIN_HEADERS, PRICING_ADMIN_TOKEN, free_port
from tests.integration.databases import DB_SUFFIX, database_url, fresh_migrated_database
from tests.support.clients import create_price_lists
from tests.support.messages import mailing_sent
from tests.support.price_lists import CREDIT_PRICE_LIST, MAILING_PRICE_LIST
from tests.support.settings import KAFKA

OPS = "bench-history-ops-token"
CUSTOMERS = ("c1", "c2", "c3")
RESERVE_EVERY = 10  # write transactions

RATIO_TARGET = 1.5
COMMAND_P50_TARGET_MS = 25.0
WRK_RATE_TARGET = 1_500.0
WRK_P99_TARGET_MS = 50.0

# Figure name -> (label, is a command); the order of the printed table.
LATENCIES = {
    "reserve_release": ("reservation + release (pair)", False),
    "reserve": ("  POST reservation", True),
    "release": ("  POST release", True),
    "get_partner": ("GET /v1/partners/{id}", False),
    "get_balance": ("GET .../balance", False),
    "get_balance_as_of": ("GET .../balance?as_of=middle", False),
}


# --- processes -------------------------------------------------------------------------------


class Processes:
    """Every process the benchmark starts, so that every way out stops them all."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[subprocess.Popen[bytes]] = []
        self.logs: dict[int, Path] = {}

    def start(
        self, name: str, args: list[str], env: dict[str, str], *, capture: bool = False
    ) -> subprocess.Popen[bytes]:
        log = self.log_dir / f"{name}-{len(self.started)}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                args,
                env=env,
                cwd=REPO,
                stdout=subprocess.PIPE if capture else out,
                stderr=out,
            )
        self.started.append(process)
        self.logs[process.pid] = log
        return process

    @staticmethod
    def stop(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    def stop_all(self) -> None:
        for process in reversed(self.started):
            self.stop(process)

    def alive(self) -> list[int]:
        return [p.pid for p in self.started if p.poll() is None]

    def log_tail(self, process: subprocess.Popen[bytes], lines: int = 30) -> str:
        text = self.logs[process.pid].read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def cold_name(run_id: str, size: int) -> str:
    """The topic prefix (with a dot) and consumer group of the cold start at `size`."""
    return f"bench_history_{run_id}_cold{size}"


def python_module(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


async def wait_healthy(url: str, process: subprocess.Popen[bytes], procs: Processes) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"{process.args!r} died:\n{procs.log_tail(process)}")
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} never became healthy")


# --- what the run creates, removed on every way out ------------------------------------------


@dataclass
class Created:
    databases: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)

    async def remove(self) -> None:
        if self.databases:
            admin = await asyncpg.connect(database_url("postgres", "postgresql"))
            try:
                for name in self.databases:
                    for attempt in range(40):
                        try:
                            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                            break
                        except (asyncpg.InsufficientPrivilegeError, asyncpg.ObjectInUseError):
                            # An autovacuum worker may still be busy with it for a moment.
                            if attempt == 39:
                                raise
                            await asyncio.sleep(0.5)
            finally:
                await admin.close()
        if self.topics:
            admin_client = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
            await admin_client.start()
            try:
                await admin_client.delete_topics(self.topics)
            finally:
                await admin_client.close()


# --- the history -----------------------------------------------------------------------------


class HistoryWriter:
    """Grows one partner's history through the ledger's batch consumer, in transactions."""

    def __init__(
        self,
        container: LedgerContainer,
        api: httpx.AsyncClient,
        partner_id: str,
        group: str,
        batch_size: int,
    ) -> None:
        self.container = container
        self.consumer = container.mailing_sent_consumer()
        self.api = api
        self.partner_id = partner_id
        self.group = group
        self.batch_size = batch_size
        self.rng = random.Random(8)
        self.written = 0
        self.transactions = 0
        self.seconds = 0.0
        # Mailings written -> a time after all of them were recorded and before any later one.
        self.marks: dict[int, datetime] = {}

    async def grow_to(self, target: int, cuts: set[int]) -> None:
        while self.written < target:
            next_cut = min(c for c in cuts if c > self.written)
            count = min(self.batch_size, next_cut - self.written)
            reservation = None
            if self.transactions % RESERVE_EVERY == 0:
                reservation = await self._reserve()
            records = []
            for index in range(count):
                event = mailing_sent(
                    self.partner_id,
                    CUSTOMERS[self.rng.randrange(len(CUSTOMERS))],
                    self.rng.randint(1, 5_000),
                    reservation_id=reservation if index == 0 else None,
                )
                records.append(
                    IncomingRecord(
                        MAILING_SENT.name,
                        0,
                        self.written + index,
                        self.partner_id.encode(),
                        encode(event),
                    )
                )
            started = time.perf_counter()
            async with self.container.engine.begin() as connection:
                result = await self.consumer(connection, Inbox(connection, self.group), records)
            self.seconds += time.perf_counter() - started
            if result.applied != count or result.dead_letters:
                raise RuntimeError(f"a write batch did not take effect whole: {result}")
            self.written += count
            self.transactions += 1
            self.marks[self.written] = datetime.now(UTC)

    async def _reserve(self) -> str:
        reservation_id = f"setup-hold-{self.transactions}"
        response = await self.api.post(
            f"/v1/partners/{self.partner_id}/reservations",
            json={"reservation_id": reservation_id, "credits": 3_000},
            headers={"Idempotency-Key": reservation_id},
        )
        if response.status_code != 201:
            raise RuntimeError(f"reservation refused: {response.status_code} {response.text}")
        return reservation_id


# --- figures ---------------------------------------------------------------------------------


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest rank."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summary(samples: Sequence[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(samples), 3),
        "p99": round(percentile(samples, 0.99), 3),
        "n": len(samples),
    }


async def timed(
    request: Coroutine[Any, Any, httpx.Response], samples: list[float] | None
) -> httpx.Response:
    """Await the request (httpx sends nothing before that); its milliseconds go to `samples`."""
    started = time.perf_counter()
    response = await request
    if samples is not None:
        samples.append((time.perf_counter() - started) * 1000)
    return response


def expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}:"
            f" {response.status_code} {response.text[:300]}"
        )


async def measure_latencies(
    api: httpx.AsyncClient, partner_id: str, size: int, requests: int, as_of: datetime
) -> tuple[dict[str, dict[str, float]], int]:
    """Every request kind in turn, `requests` times (after a few unmeasured warm-up rounds);
    returns the summaries and the version of the balance as of the middle."""
    base = f"/v1/partners/{partner_id}"
    samples: dict[str, list[float]] = {name: [] for name in LATENCIES}
    as_of_version = 0
    warm_up = 3
    for round_ in range(-warm_up, requests):
        measured = round_ >= 0
        hold = f"bench-{size}-{round_ + warm_up}"
        started = time.perf_counter()
        reserved = await timed(
            api.post(
                f"{base}/reservations",
                json={"reservation_id": hold, "credits": 10},
                headers={"Idempotency-Key": hold},
            ),
            samples["reserve"] if measured else None,
        )
        expect(reserved, 201)
        released = await timed(
            api.post(f"{base}/reservations/{hold}/release"),
            samples["release"] if measured else None,
        )
        expect(released, 200)
        if measured:
            samples["reserve_release"].append((time.perf_counter() - started) * 1000)
        expect(await timed(api.get(base), samples["get_partner"] if measured else None), 200)
        expect(
            await timed(api.get(f"{base}/balance"), samples["get_balance"] if measured else None),
            200,
        )
        past = await timed(
            api.get(f"{base}/balance", params={"as_of": as_of.isoformat()}),
            samples["get_balance_as_of"] if measured else None,
        )
        expect(past, 200)
        as_of_version = past.json()["version"]
    return {name: summary(values) for name, values in samples.items()}, as_of_version


async def balance_version(api: httpx.AsyncClient, partner_id: str) -> int:
    response = await api.get(f"/v1/partners/{partner_id}/balance")
    expect(response, 200)
    version: int = response.json()["version"]
    return version


@dataclass(frozen=True)
class ColdStart:
    """Seconds from the process's start until it logged `consuming` (imports, wiring), until
    its last `partitions assigned` (the Kafka group joins), and until the debit was visible."""

    consuming: float | None
    assigned: float | None
    debited: float


def _log_times(log: Path, started: datetime) -> dict[str, float]:
    """Seconds after `started` of the first `consuming` and the last `partitions assigned`."""
    times: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError):
            continue
        seconds = (at - started).total_seconds()
        if entry.get("event") == "consuming":
            times.setdefault("consuming", seconds)
        elif entry.get("event") == "partitions assigned":
            times["assigned"] = seconds
    return times


async def cold_start(
    procs: Processes,
    env: dict[str, str],
    name: str,
    producer: AIOKafkaProducer,
    api: httpx.AsyncClient,
    partner_id: str,
) -> ColdStart:
    """From starting a fresh consume process to the debit of one new mailing.sent (produced
    just before) showing in the balance's version.

    The process gets topics (made beforehand) and a consumer group of its own (`name`), so that
    no earlier process's group membership or stored offsets play a part: what it does before the
    debit is start, join, and load the partner's account from the store (its cache is empty).
    """
    prefix = f"{name}."
    env = {
        **env,
        "LEDGER_TOPIC_PREFIX": prefix,
        "LEDGER_CONSUMER_GROUP": name,
        "LEDGER_LOG_LEVEL": "INFO",
        "LEDGER_LOG_JSON": "true",
    }
    before = await balance_version(api, partner_id)
    event = mailing_sent(partner_id, CUSTOMERS[0], 100)
    await producer.send_and_wait(prefix + MAILING_SENT.name, encode(event), key=partner_id.encode())
    wall = datetime.now(UTC)
    started = time.perf_counter()
    process = procs.start("consume", python_module("ledger", "consume"), env)
    try:
        while await balance_version(api, partner_id) <= before:
            if process.poll() is not None:
                raise RuntimeError(f"the consumer died:\n{procs.log_tail(process)}")
            if time.perf_counter() - started > 120:
                raise RuntimeError(f"no debit after 120 s:\n{procs.log_tail(process)}")
            await asyncio.sleep(0.05)
        debited = time.perf_counter() - started
    finally:
        procs.stop(process)
    times = _log_times(procs.logs[process.pid], wall)
    assigned = times.get("assigned")
    # The payments.results consumer may be assigned after the debit; that one does not count.
    return ColdStart(
        times.get("consuming"), None if assigned is None else min(assigned, debited), debited
    )


@dataclass(frozen=True)
class Storage:
    events: int
    debits: int
    events_bytes: int
    database_bytes: int


async def storage(plain_url: str) -> Storage:
    connection = await asyncpg.connect(plain_url)
    try:
        # The history was written in a burst just now; vacuum it and gather statistics (as
        # autovacuum soon would) before measuring, so that the latencies are those of an account
        # with this history, not of the minute after writing it.
        await connection.execute("VACUUM (ANALYZE)")
        row = await connection.fetchrow(
            "SELECT count(*) AS events, count(*) FILTER (WHERE type = 'MailingDebited') AS debits,"
            " pg_total_relation_size('events') AS events_bytes,"
            " pg_database_size(current_database()) AS database_bytes FROM events"
        )
    finally:
        await connection.close()
    return Storage(row["events"], row["debits"], row["events_bytes"], row["database_bytes"])


# --- wrk -------------------------------------------------------------------------------------


def ensure_wrk() -> str | None:
    """wrk's path; installs Debian's package when it is missing. None when that fails."""
    if shutil.which("wrk") is None and shutil.which("apt-get") is not None:
        print("  wrk is missing: apt-get install -y wrk", flush=True)
        for command in ("install -y wrk", "update", "install -y wrk"):
            try:
                subprocess.run(
                    ["apt-get", *command.split()], capture_output=True, timeout=600, check=False
                )
            except (OSError, subprocess.TimeoutExpired):
                break
            if shutil.which("wrk") is not None:
                break
    return shutil.which("wrk")


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, p50 and p99 (ms), and the count of non-2xx answers and socket errors."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rate is None:
        raise RuntimeError(f"wrk printed no Requests/sec:\n{output}")
    figures = {"requests_per_s": round(float(rate.group(1)), 1)}
    for name, label in (("p50_ms", "50%"), ("p99_ms", "99%")):
        found = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
        if found is None:
            raise RuntimeError(f"wrk printed no {label} latency:\n{output}")
        figures[name] = round(float(found.group(1)) * _UNITS_MS[found.group(2)], 3)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    figures["errors"] = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(g) for g in errors.groups()) if errors else 0
    )
    return figures


async def run_wrk(
    procs: Processes, wrk: str, url: str, token: str, seconds: int
) -> dict[str, float]:
    process = procs.start(
        "wrk",
        [
            wrk,
            "-t2",
            "-c20",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        dict(os.environ),
        capture=True,
    )
    try:
        output, _ = await asyncio.to_thread(process.communicate, timeout=seconds + 60)
    finally:
        procs.stop(process)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{procs.log_tail(process)}")
    return parse_wrk(output.decode())


# --- the run ---------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


async def register_partner(api_url: str, partner_id: str) -> str:
    """The partner, its customers and plenty of credits, as ops would; returns its token."""
    async with httpx.AsyncClient(
        base_url=api_url, headers={"Authorization": f"Bearer {OPS}"}, timeout=30
    ) as ops:
        answer = await ops.post(
            "/v1/partners",
            json={
                "partner_id": partner_id,
                "name": "History Benchmark GmbH",
                "credit_price_list_id": CREDIT_PRICE_LIST["id"],
                "mailing_price_list_id": MAILING_PRICE_LIST["id"],
            },
        )
        expect(answer, 201)
        token: str = answer.json()["token"]
        for customer in CUSTOMERS:
            expect(
                await ops.post(
                    f"/v1/partners/{partner_id}/customers",
                    json={"customer_id": customer, "name": customer},
                ),
                201,
            )
        expect(
            await ops.post(
                f"/v1/partners/{partner_id}/credits/grants",
                json={"credits": 10**12, "reason": "history benchmark"},
            ),
            201,
        )
    return token


def _or_dash(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_table(
    sizes: list[int],
    latencies: dict[int, dict[str, dict[str, float]]],
    ratios: dict[str, float],
    cold: dict[int, ColdStart],
    stored: dict[int, Storage],
    checks: dict[str, bool],
) -> None:
    largest = sizes[-1]
    head = "".join(f"{s:>12,}" for s in sizes)
    print()
    print(f"  {'figure (ms unless said)':<38}{head}{'ratio':>8}   target")
    for name, (label, command) in LATENCIES.items():
        for p in ("p50", "p99"):
            values = "".join(f"{latencies[s][name][p]:>12.2f}" for s in sizes)
            key = f"{name}.{p}"
            target = f"ratio <= {RATIO_TARGET}: {verdict(checks[key + '.ratio'])}"
            if command and p == "p50":
                target += (
                    f"; < {COMMAND_P50_TARGET_MS:.0f} ms at {largest:,}:"
                    f" {verdict(checks[key + '.absolute'])}"
                )
            print(f"  {label + ' ' + p:<38}{values}{ratios[key]:>8.2f}   {target}")
    values = "".join(f"{cold[s].debited:>12.2f}" for s in sizes)
    print(
        f"  {'consumer cold start (s)':<38}{values}{ratios['cold_start']:>8.2f}"
        f"   ratio <= {RATIO_TARGET}: {verdict(checks['cold_start.ratio'])}"
    )
    for label, phase in (
        ("  until it logs `consuming`", "consuming"),
        ("  until its partitions are assigned", "assigned"),
    ):
        values = "".join(f"{_or_dash(getattr(cold[s], phase)):>12}" for s in sizes)
        print(f"  {label:<38}{values}")
    values = "".join(f"{stored[s].events:>12,}" for s in sizes)
    print(f"  {'events rows':<38}{values}")
    values = "".join(f"{stored[s].events_bytes / stored[s].debits:>12,.0f}" for s in sizes)
    print(f"  {'bytes per MailingDebited (events+idx)':<38}{values}")
    values = "".join(f"{stored[s].database_bytes / stored[s].debits:>12,.0f}" for s in sizes)
    print(f"  {'database bytes per MailingDebited':<38}{values}   (all tables, information)")


async def run(arguments: argparse.Namespace) -> dict[str, Any]:
    sizes: list[int] = arguments.sizes
    run_id = uuid.uuid4().hex[:8]
    partner_id = f"history-{run_id}"
    created = Created()
    log_dir = Path(tempfile.mkdtemp(prefix="bench_history_"))
    procs = Processes(log_dir)
    container: LedgerContainer | None = None
    producer: AIOKafkaProducer | None = None
    ok = False
    began = time.perf_counter()

    def clock() -> float:
        return time.perf_counter() - began

    print(
        f"history benchmark: one partner ({partner_id}) at {', '.join(f'{s:,}' for s in sizes)}"
        f" mailings, {arguments.requests} requests per figure",
        flush=True,
    )
    try:
        created.databases.append(f"bench_history_{run_id}_pricing{DB_SUFFIX}")
        pricing_db = await fresh_migrated_database(
            f"bench_history_{run_id}_pricing", PRICING_MIGRATIONS
        )
        base_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("LEDGER_", "PRICING_"))
        }
        pricing_port = free_port()
        pricing = procs.start(
            "pricing",
            python_module("pricing", "serve"),
            {
                **base_env,
                "PRICING_DATABASE_URL": pricing_db,
                "PRICING_PORT": str(pricing_port),
                "PRICING_ADMIN_TOKEN": PRICING_ADMIN_TOKEN,
                "PRICING_LOG_LEVEL": "WARNING",
            },
        )
        pricing_url = f"http://127.0.0.1:{pricing_port}"
        # The ledger's database and the topics while pricing starts.
        created.databases.append(f"bench_history_{run_id}_ledger{DB_SUFFIX}")
        ledger_db = await fresh_migrated_database(
            f"bench_history_{run_id}_ledger", LEDGER_MIGRATIONS
        )
        for size in sizes:
            created.topics += await ensure_topics(KAFKA, prefix=cold_name(run_id, size) + ".")
        api_port = free_port()
        settings = LedgerSettings(
            database_url=ledger_db,
            pricing_url=pricing_url,
            kafka_bootstrap_servers=KAFKA,
            topic_prefix=f"bench_history_{run_id}.",
            consumer_group=f"bench-history-{run_id}",
            ops_token=OPS,
            port=api_port,
            log_level="WARNING",
        )
        ledger_env = {
            **base_env,
            **{f"LEDGER_{k.upper()}": str(v) for k, v in settings.model_dump().items()},
        }
        ledger = procs.start("ledger-serve", python_module("ledger", "serve"), ledger_env)
        await wait_healthy(pricing_url, pricing, procs)
        async with httpx.AsyncClient(base_url=pricing_url, headers=ADMIN_HEADERS) as client:
            await create_price_lists(client)
        api_url = f"http://127.0.0.1:{api_port}"
        await wait_healthy(api_url, ledger, procs)

        token = await register_partner(api_url, partner_id)
        print(f"  [{clock():5.1f} s] set up", flush=True)

        container = bootstrap(settings)
        producer = AIOKafkaProducer(bootstrap_servers=KAFKA, enable_idempotence=True)
        await producer.start()
        cuts = {s for s in sizes} | {s // 2 for s in sizes if s >= 2}
        plain_url = ledger_db.replace("postgresql+asyncpg", "postgresql")
        latencies: dict[int, dict[str, dict[str, float]]] = {}
        as_of_versions: dict[int, int] = {}
        cold: dict[int, ColdStart] = {}
        stored: dict[int, Storage] = {}
        async with httpx.AsyncClient(
            base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as api:
            writer = HistoryWriter(container, api, partner_id, settings.consumer_group, 1_000)
            for size in sizes:
                await writer.grow_to(size, cuts)
                print(
                    f"  [{clock():5.1f} s] {size:,} mailings written"
                    f" ({writer.written / writer.seconds:,.0f} events/s through the consumer)",
                    flush=True,
                )
                stored[size] = await storage(plain_url)
                latencies[size], as_of_versions[size] = await measure_latencies(
                    api, partner_id, size, arguments.requests, writer.marks[size // 2]
                )
                cold[size] = await cold_start(
                    procs,
                    ledger_env,
                    cold_name(run_id, size),
                    producer,
                    api,
                    partner_id,
                )
                print(f"  [{clock():5.1f} s] measured at {size:,}", flush=True)

            wrk_figures: dict[str, dict[str, float]] | None = None
            wrk = ensure_wrk() if arguments.wrk_seconds > 0 else None
            if wrk is not None:
                wrk_figures = {}
                for name, path in (
                    ("get_balance", f"/v1/partners/{partner_id}/balance"),
                    ("get_partner", f"/v1/partners/{partner_id}"),
                ):
                    wrk_figures[name] = await run_wrk(
                        procs, wrk, api_url + path, token, arguments.wrk_seconds
                    )

        smallest, largest = sizes[0], sizes[-1]
        ratios: dict[str, float] = {}
        checks: dict[str, bool] = {}
        for name, (_, command) in LATENCIES.items():
            for p in ("p50", "p99"):
                key = f"{name}.{p}"
                ratios[key] = round(latencies[largest][name][p] / latencies[smallest][name][p], 3)
                checks[key + ".ratio"] = ratios[key] <= RATIO_TARGET
                if command and p == "p50":
                    checks[key + ".absolute"] = latencies[largest][name][p] < COMMAND_P50_TARGET_MS
        ratios["cold_start"] = round(cold[largest].debited / cold[smallest].debited, 3)
        checks["cold_start.ratio"] = ratios["cold_start"] <= RATIO_TARGET

        print_table(sizes, latencies, ratios, cold, stored, checks)
        for size in sizes:
            print(
                f"  as_of the middle of {size:,}: balance version {as_of_versions[size]:,}"
                f" (of {stored[size].events:,} events then)"
            )
        print()
        if wrk_figures is None:
            reason = "--wrk-seconds 0" if arguments.wrk_seconds <= 0 else "no wrk, apt-get failed"
            print(f"  wrk: skipped ({reason})")
        else:
            print(
                f"  wrk -t2 -c20 -d{arguments.wrk_seconds}s, one API process, partner of"
                f" {largest:,} mailings"
            )
            for name, figures in wrk_figures.items():
                good = (
                    figures["requests_per_s"] >= WRK_RATE_TARGET
                    and figures["p99_ms"] < WRK_P99_TARGET_MS
                    and figures["errors"] == 0
                )
                checks[f"wrk.{name}"] = good
                print(
                    f"  {LATENCIES[name][0]:<38}{figures['requests_per_s']:>10,.0f} req/s"
                    f"  p50 {figures['p50_ms']:>6.2f} ms  p99 {figures['p99_ms']:>6.2f} ms"
                    f"  errors {figures['errors']:.0f}   >= {WRK_RATE_TARGET:,.0f} req/s,"
                    f" p99 < {WRK_P99_TARGET_MS:.0f} ms: {verdict(good)}"
                )
        ok = True
        return {
            "partner_id": partner_id,
            "sizes": sizes,
            "requests": arguments.requests,
            "write_events_per_s": round(writer.written / writer.seconds, 1),
            "latency_ms": {name: {str(s): latencies[s][name] for s in sizes} for name in LATENCIES},
            "ratios_largest_to_smallest": ratios,
            "cold_start_s": {str(s): round(cold[s].debited, 3) for s in sizes},
            "cold_start_phases_s": {
                str(s): {"consuming": cold[s].consuming, "assigned": cold[s].assigned}
                for s in sizes
            },
            "as_of_version": {str(s): as_of_versions[s] for s in sizes},
            "events_rows": {str(s): stored[s].events for s in sizes},
            "mailing_debited_rows": {str(s): stored[s].debits for s in sizes},
            "bytes_per_mailing_debited": {
                str(s): round(stored[s].events_bytes / stored[s].debits, 1) for s in sizes
            },
            "database_bytes_per_mailing_debited": {
                str(s): round(stored[s].database_bytes / stored[s].debits, 1) for s in sizes
            },
            "wrk": wrk_figures,
            "wrk_seconds": arguments.wrk_seconds,
            "targets": {
                "ratio_max": RATIO_TARGET,
                "command_p50_ms_max": COMMAND_P50_TARGET_MS,
                "wrk_requests_per_s_min": WRK_RATE_TARGET,
                "wrk_p99_ms_max": WRK_P99_TARGET_MS,
            },
            "checks": checks,
            "all_met": all(checks.values()),
        }
    finally:
        if producer is not None:
            await producer.stop()
        if container is not None:
            await container.close()
        procs.stop_all()
        left = procs.alive()
        if arguments.keep:
            print(f"  kept (drop them yourself): {', '.join(created.databases + created.topics)}")
        else:
            await created.remove()
        started = " ".join(str(p.pid) for p in procs.started)
        print(f"  processes started: {started}", flush=True)
        print(f"  processes left: {' '.join(map(str, left)) if left else 'none'}", flush=True)
        if ok:
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            print(f"  the processes' logs: {log_dir}", flush=True)


def charts(figures: dict[str, Any]) -> list[BarChart]:
    sizes = [f"{s:,}" for s in figures["sizes"]]
    result = [
        BarChart(
            title=f"Latency {p} by history size (mailings), one API process",
            ylabel="ms",
            groups=sizes,
            series={
                LATENCIES[name][0].strip(): [
                    figures["latency_ms"][name][str(s)][p] for s in figures["sizes"]
                ]
                for name in LATENCIES
            },
            lines={f"command p50 target {COMMAND_P50_TARGET_MS:.0f} ms": COMMAND_P50_TARGET_MS}
            if p == "p50"
            else {},
        )
        for p in ("p50", "p99")
    ]
    result.append(
        BarChart(
            title="Consumer cold start by history size",
            ylabel="s",
            groups=sizes,
            series={
                "start to first debit": [figures["cold_start_s"][str(s)] for s in figures["sizes"]]
            },
        )
    )
    if figures["wrk"]:
        result.append(
            BarChart(
                title=f"wrk -t2 -c20, partner of {figures['sizes'][-1]:,} mailings",
                ylabel="requests/s",
                groups=[LATENCIES[name][0] for name in figures["wrk"]],
                series={"requests/s": [w["requests_per_s"] for w in figures["wrk"].values()]},
                lines={f"target {WRK_RATE_TARGET:,.0f}/s": WRK_RATE_TARGET},
            )
        )
        result.append(
            BarChart(
                title=f"wrk -t2 -c20 latency, partner of {figures['sizes'][-1]:,} mailings",
                ylabel="ms",
                groups=[LATENCIES[name][0] for name in figures["wrk"]],
                series={p: [w[f"{p}_ms"] for w in figures["wrk"].values()] for p in ("p50", "p99")},
                lines={f"p99 target {WRK_P99_TARGET_MS:.0f} ms": WRK_P99_TARGET_MS},
            )
        )
    return result


async def main(arguments: argparse.Namespace) -> int:
    task = asyncio.current_task()
    assert task is not None
    # SIGTERM cancels the run like Ctrl-C does, so its clean-up runs either way.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    figures = await run(arguments)
    paths = write_results("history", figures, charts(figures), directory=arguments.results_dir)
    print(f"\n  results: {paths.json}")
    print(f"  chart:   {paths.png}")
    print(f"  all targets met: {figures['all_met']}")
    return 0


def sizes_flag(value: str) -> list[int]:
    sizes = [int(part.replace("_", "")) for part in value.split(",") if part.strip()]
    if not sizes or any(s < 2 for s in sizes) or sizes != sorted(set(sizes)):
        raise argparse.ArgumentTypeError("increasing sizes of at least 2, e.g. 1000,50000")
    return sizes


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=sizes_flag, default=[1_000, 50_000, 200_000])
    parser.add_argument("--requests", type=int, default=500, help="per figure and size")
    parser.add_argument("--wrk-seconds", type=int, default=10, help="per wrk run; 0 leaves wrk out")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--keep", action="store_true", help="leave the databases and topics for a look"
    )
    raise SystemExit(asyncio.run(main(parser.parse_args())))
