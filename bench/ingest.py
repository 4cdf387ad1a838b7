"""Ledger ingest benchmark: `mailing.sent` events for 50 partners, Kafka -> pricing -> PostgreSQL.

In one run, side by side:
  raw limits    an aiokafka consumer reading the topic without processing; asyncpg COPY of the
                event rows alone; (a) COPY of exactly the rows the ledger writes per event (event
                with its hash, inbox) into the ledger's own tables, one transaction per
                1,000 events; (b) the `eventsourcing` library's PostgreSQL recorder appending the
                same debits, 100 per transaction;
  the ledger    real `python -m ledger consume` processes (and the real pricing service), each run
                on a fresh database: 1 consumer on 6 partitions (the headline, with the ledger's
                default LEDGER_CONSUMER_LANES, and again with one lane: each `--repeat` times,
                interleaved, the median counting), 2 consumers, and 12 partitions with 1 and
                2 consumers. Events/s is the steady rate, from the first
                batch committed to the last (process start-up is printed apart);
  latency       at a steady offered load of 50% of the measured maximum, the time from producing
                a `mailing.sent` to its debit being visible in `GET /v1/partners/{id}/balance`
                (polled every 5 ms): p50, p99, max.

Every process it starts gets its own process group and is stopped (SIGTERM, then SIGKILL) when
the benchmark ends, however it ends (finally, SIGTERM/SIGINT, and PR_SET_PDEATHSIG should the
benchmark itself be killed). Results: bench/results/ingest-<date>.json and .png.

Usage: .venv/bin/python bench/ingest.py [--events N] [--partners N] [--consumers N] [--quick]
(--consumers N runs only the ledger with N consumers: no raw limits, latency or scale-out;
--latency-at RATE [RATE ...] only the latency, at each rate, with the consumer's CPU per event.)
"""

import argparse
import asyncio
import contextlib
import ctypes
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

REPO = Path(__file__).resolve().parents[1]
# Run as a script, this folder would come first on the path, and bench/pricing.py would hide
# the pricing package.
sys.path[0] = str(REPO)

from bench.report import BarChart, write_results
from ledger.adapters.event_store import EVENT_COLUMNS
from ledger.adapters.stored_events import chain_hash, to_row
from ledger.api.app import create_app
from ledger.domain import MailingDebited
from ledger.migrations import MIGRATIONS_DIR as LEDGER_MIGRATIONS
from ledger.settings import LedgerSettings
from pricing.migrations import MIGRATIONS_DIR as PRICING_MIGRATIONS
from shared.codec import encode
from shared.kafka_admin import delete_topics, ensure_topics
from shared.topics import ALL_TOPICS, MAILING_SENT
from tests.integration.conftest import free_port
from tests.integration.databases import database_url, fresh_migrated_database
from tests.support.clients import create_price_lists
from tests.support.messages import mailing_sent
from tests.support.price_lists import CREDIT_PRICE_LIST, MAILING_PRICE_LIST
from tests.support.settings import KAFKA

OPS = "bench-ops-token-0123"
PRICING_ADMIN = "bench-pricing-admin-token"
TARGET = 15_000
DEFAULT_LANES = LedgerSettings.model_fields["consumer_lanes"].default
CORES = os.cpu_count() or 1
# Marks every process this run starts (in its environment), so a test can find leftovers.
RUN_MARK = "MAILBILL_BENCH_RUN"


def line(label: str, value: float, unit: str, note: str = "") -> None:
    print(f"  {label:<52} {value:>12,.0f} {unit:<9} {note}", flush=True)


def load() -> float:
    return os.getloadavg()[0]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc): a figure the other
    processes on a busy machine disturb far less than a rate."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process, of its children that have ended (reaped: PostgreSQL's short-lived
    backends) and of those still running (its connections): PostgreSQL's whole share."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = [
            int(child)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()
        ]
    except OSError:
        return 0.0
    own = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(child) for child in children)


def parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/status").read_text().split("PPid:", 1)[1].split()[0])


def machine_busy_seconds() -> float:
    """CPU time all cores spent busy so far (/proc/stat: all but idle and iowait)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


# --- processes ------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child: be sent SIGTERM if the benchmark dies (even by SIGKILL). Linux only."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Processes:
    """Every process the benchmark starts, each in a process group of its own; `stop_all`
    ends them all (and anything they started), whatever state they are in."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, args: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            list(args),
            env={**env, RUN_MARK: self.run_id},
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=None,
            start_new_session=True,  # its own process group: stopped as one, not by a Ctrl-C
            preexec_fn=_die_with_parent,
        )
        self.started.append(process)
        print(f"  started pid {process.pid}: {' '.join(args[1:])}", flush=True)
        return process

    def stop(self, processes: Sequence[subprocess.Popen[bytes]]) -> None:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)
            # The group too: a child of the process may outlive it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop_all(self) -> None:
        self.stop(self.started)


# --- setup ----------------------------------------------------------------------------------


@dataclass
class Stack:
    processes: Processes
    pricing_url: str
    partners: int


async def start_pricing(processes: Processes) -> str:
    pricing_db = await fresh_migrated_database("pricing_bench", PRICING_MIGRATIONS)
    port = free_port()
    processes.start(
        [sys.executable, "-m", "pricing", "serve"],
        {
            **os.environ,
            "PRICING_DATABASE_URL": pricing_db,
            "PRICING_PORT": str(port),
            "PRICING_ADMIN_TOKEN": PRICING_ADMIN,
            "PRICING_LOG_LEVEL": "WARNING",
        },
    )
    url = f"http://127.0.0.1:{port}"
    admin = {"Authorization": f"Bearer {PRICING_ADMIN}"}
    async with httpx.AsyncClient(base_url=url, headers=admin) as client:
        for _ in range(150):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/healthz")).status_code == 200:
                    break
            await asyncio.sleep(0.2)
        await create_price_lists(client)
    return url


def ledger_api(settings: LedgerSettings) -> Any:
    app = create_app(settings)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://ledger",
        headers={"Authorization": f"Bearer {OPS}"},
    )
    return app, client


async def fresh_ledger(stack: Stack, prefix: str) -> str:
    """A new ledger database with the partners registered, their customer and credits."""
    url = await fresh_migrated_database("ledger_bench", LEDGER_MIGRATIONS)
    settings = LedgerSettings(database_url=url, pricing_url=stack.pricing_url, ops_token=OPS)
    app, api = ledger_api(settings)
    async with app.router.lifespan_context(app), api:
        for n in range(stack.partners):
            partner_id = f"{prefix}p{n}"
            created = await api.post(
                "/v1/partners",
                json={
                    "partner_id": partner_id,
                    "name": partner_id,
                    "credit_price_list_id": CREDIT_PRICE_LIST["id"],
                    "mailing_price_list_id": MAILING_PRICE_LIST["id"],
                },
            )
            assert created.status_code == 201, created.text
            await api.post(
                f"/v1/partners/{partner_id}/customers", json={"customer_id": "c1", "name": "c1"}
            )
            await api.post(
                f"/v1/partners/{partner_id}/credits/grants",
                json={"credits": 10**12, "reason": "bench"},
            )
    return url


# The topics this run created, deleted when it ends: thousands of left-over partitions made the
# broker's restart (a fault of `make soak`) outlast the stack's readiness wait.
CREATED_TOPICS: list[str] = []


async def topics(prefix: str, partitions: int) -> str:
    chosen = tuple(
        replace(t, partitions=partitions) if t == MAILING_SENT else t for t in ALL_TOPICS
    )
    CREATED_TOPICS.extend(await ensure_topics(KAFKA, chosen, prefix=prefix))
    return prefix + MAILING_SENT.name


def make_events(prefix: str, events: int, partners: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(1)
    messages = []
    for _ in range(events):
        partner_id = f"{prefix}p{rng.randrange(partners)}"
        value = encode(mailing_sent(partner_id, "c1", rng.randint(1, 5000)))
        messages.append((partner_id.encode(), value))
    return messages


def renamed(messages: list[tuple[bytes, bytes]], old: str, new: str) -> list[tuple[bytes, bytes]]:
    """The same events for another run's partners (new event ids, so nothing is a duplicate)."""
    out = []
    for key, value in messages:
        event = orjson.loads(value)
        event["id"] = uuid.uuid4().hex
        event["data"]["partner_id"] = event["data"]["partner_id"].replace(old, new, 1)
        event["subject"] = event["data"]["partner_id"]
        out.append((key.decode().replace(old, new, 1).encode(), orjson.dumps(event)))
    return out


async def produce(topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=KAFKA, enable_idempotence=True, linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    started = time.perf_counter()
    try:
        futures = [await producer.send(topic, value=v, key=k) for k, v in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(messages) / (time.perf_counter() - started)


# --- raw limits -----------------------------------------------------------------------------


async def raw_consume(topic: str, expected: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=KAFKA,
        group_id=f"raw-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=1000,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    seen = 0
    started = time.perf_counter()
    try:
        while seen < expected:
            for batch in (await consumer.getmany(timeout_ms=1000, max_records=1000)).values():
                seen += len(batch)
    finally:
        elapsed = time.perf_counter() - started
        await consumer.stop()
    return seen / elapsed


async def raw_copy(messages: list[tuple[bytes, bytes]]) -> float:
    """COPY rows shaped like the ledger's events (stream, version, type, payload, metadata)."""
    connection = await asyncpg.connect(database_url("ledger_bench", "postgresql"))
    try:
        await connection.execute(
            "CREATE TEMP TABLE copy_probe (originator_id text, originator_version int,"
            " type text, payload jsonb, metadata jsonb)"
        )
        versions: dict[str, int] = {}
        rows = []
        for key, value in messages:
            partner = key.decode()
            versions[partner] = versions.get(partner, 0) + 1
            data = orjson.loads(value)["data"]
            rows.append(
                (
                    partner,
                    versions[partner],
                    "MailingDebited",
                    orjson.dumps(data).decode(),
                    '{"actor": "mailing-platform"}',
                )
            )
        started = time.perf_counter()
        await connection.copy_records_to_table("copy_probe", records=rows)
        return len(rows) / (time.perf_counter() - started)
    finally:
        await connection.close()


@dataclass
class Debit:
    partner_id: str
    version: int
    event_id: str
    source: str
    mailing_id: str
    payload: dict[str, Any]
    metadata: dict[str, Any]
    credits: int


def debits(messages: list[tuple[bytes, bytes]], now: datetime) -> list[Debit]:
    """The debits the ledger records for the messages (credits = recipients, as the bench's
    price list prices them one to one), with the payload and metadata it stores."""
    versions: dict[str, int] = {}
    out = []
    for key, value in messages:
        partner = key.decode()
        versions[partner] = versions.get(partner, 3) + 1  # after registration, customer, grant
        event = orjson.loads(value)
        data = event["data"]
        debit = MailingDebited(
            mailing_id=data["mailing_id"],
            customer_id=data["customer_id"],
            recipients=data["recipients"],
            credits=data["recipients"],
            price_list_id=MAILING_PRICE_LIST["id"],
            price_list_version=1,
            reservation_id=None,
            captured_credits=0,
            released_credits=0,
            charge_minor=None,
            sent_at=now.replace(microsecond=0),
        )
        _, _, payload = to_row(debit, now)
        metadata = {
            "causation_id": event["id"],
            "correlation_id": data["mailing_id"],
            "actor": event["source"],
        }
        out.append(
            Debit(
                partner,
                versions[partner],
                event["id"],
                event["source"],
                data["mailing_id"],
                payload,
                metadata,
                data["recipients"],
            )
        )
    return out


async def copy_ledger_rows(url: str, rows: list[Debit], per_transaction: int = 1000) -> float:
    """(a) COPY exactly the rows the ledger writes per event (the event with its hash and the
    inbox row) into the ledger's own tables and indexes, a transaction per
    `per_transaction` events. The hash is computed as the ledger's writer computes it."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    now = datetime.now(UTC)
    heads: dict[str, bytes | None] = {}
    try:
        # Partners' first events, so the debits' versions follow a stream as in the ledger.
        started = time.perf_counter()
        for start in range(0, len(rows), per_transaction):
            chunk = rows[start : start + per_transaction]
            events, inbox = [], []
            for d in chunk:
                link = chain_hash(
                    heads.get(d.partner_id),
                    d.partner_id,
                    d.version,
                    "MailingDebited",
                    d.payload,
                    d.metadata,
                    now,
                )
                heads[d.partner_id] = link
                events.append(
                    (
                        d.partner_id,
                        d.version,
                        "MailingDebited",
                        3,
                        orjson.dumps(d.payload).decode(),
                        orjson.dumps(d.metadata).decode(),
                        link,
                        now,
                    )
                )
                inbox.append((d.source, d.event_id, MAILING_SENT.name))
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "events", records=events, columns=EVENT_COLUMNS
                )
                await connection.copy_records_to_table(
                    "inbox", records=inbox, columns=["source", "message_id", "topic"]
                )
        return len(rows) / (time.perf_counter() - started)
    finally:
        await connection.close()


def eventsourcing_recorder(url: str, rows: list[Debit], per_transaction: int = 100) -> float:
    """(b) The `eventsourcing` library's PostgreSQL application recorder appending the same
    debits (payload as the event's state, the partner as the originator), 100 per call."""
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    plain = url.split("://", 1)[1]
    credentials, location = plain.split("@", 1)
    user, password = credentials.split(":", 1)
    host_port, dbname = location.split("/", 1)
    host, port = host_port.split(":")
    datastore = PostgresDatastore(dbname, host, port, user, password, originator_id_type="text")
    try:
        recorder = PostgresApplicationRecorder(datastore)
        recorder.create_table()
        stored = [
            StoredEvent(
                d.partner_id,
                d.version,
                "ledger.domain.events:MailingDebited",
                orjson.dumps({**d.payload, "metadata": d.metadata}),
            )
            for d in rows
        ]
        started = time.perf_counter()
        for start in range(0, len(stored), per_transaction):
            recorder.insert_events(stored[start : start + per_transaction])
        return len(stored) / (time.perf_counter() - started)
    finally:
        datastore.close()


# --- the ledger -----------------------------------------------------------------------------


def consumer_env(url: str, stack: Stack, prefix: str, lanes: int | None = None) -> dict[str, str]:
    """The consumer's settings; `lanes`: LEDGER_CONSUMER_LANES (None: the ledger's default)."""
    chosen = {"LEDGER_CONSUMER_LANES": str(lanes)} if lanes is not None else {}
    return {
        **os.environ,
        **chosen,
        "LEDGER_DATABASE_URL": url,
        "LEDGER_PRICING_URL": stack.pricing_url,
        "LEDGER_TOPIC_PREFIX": prefix,
        "LEDGER_KAFKA_BOOTSTRAP_SERVERS": KAFKA,
        "LEDGER_LOG_LEVEL": "WARNING",
        "LEDGER_CONSUMER_METRICS_PORT": "0",  # several consumer processes may run
    }


async def consumed(connection: asyncpg.Connection) -> int:
    """Messages of mailing.sent the ledger has taken (applied, duplicate or dead letter): the
    stored offsets, a cheap read while the consumers work."""
    value = await connection.fetchval(
        "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE topic = $1",
        MAILING_SENT.name,
    )
    return int(value)


def median_run(runs: list["LedgerRun"]) -> "LedgerRun":
    """The run with the median rate (the lower middle one of an even count)."""
    ordered = sorted(runs, key=lambda r: r.events_per_s)
    return ordered[(len(ordered) - 1) // 2]


@dataclass
class LedgerRun:
    label: str
    events_per_s: float
    wall_events_per_s: float
    startup_s: float
    load: float
    cpu_us_per_event: float  # the consumer processes' CPU after start-up, per event
    postgres_cpu_us_per_event: float  # PostgreSQL's (server and backends), same window
    machine_cpu_us_per_event: float  # every core's busy time, same window (all processes)


async def ledger_run(
    stack: Stack,
    messages: list[tuple[bytes, bytes]],
    base_prefix: str,
    *,
    consumers: int,
    partitions: int,
    label: str,
    lanes: int | None = None,
) -> LedgerRun:
    prefix = f"{base_prefix[:-1]}{label.replace(' ', '')}."
    url = await fresh_ledger(stack, prefix)
    topic = await topics(prefix, partitions)
    run_messages = renamed(messages, base_prefix, prefix)
    await produce(topic, run_messages)
    events = len(run_messages)
    env = consumer_env(url, stack, prefix, lanes)
    plain = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    started_processes: list[subprocess.Popen[bytes]] = []
    try:
        started = time.perf_counter()
        started_processes = [
            stack.processes.start([sys.executable, "-m", "ledger", "consume"], env)
            for _ in range(consumers)
        ]
        first: tuple[float, int] | None = None
        cpu_at_first = postgres_at_first = machine_at_first = 0.0
        postmaster = parent_pid(await plain.fetchval("SELECT pg_backend_pid()"))
        done = 0
        while done < events:
            await asyncio.sleep(0.05)
            if any(p.poll() is not None for p in started_processes):
                raise SystemExit("a ledger consumer died")
            done = await consumed(plain)
            now = time.perf_counter()
            if first is None and done > 0:
                first = (now, done)
                cpu_at_first = sum(cpu_seconds(p.pid) for p in started_processes)
                postgres_at_first = tree_cpu_seconds(postmaster)
                machine_at_first = machine_busy_seconds()
            if now - started > 600:
                raise SystemExit(f"gave up after 10 minutes at {done:,} events")
        ended = time.perf_counter()
        cpu = sum(cpu_seconds(p.pid) for p in started_processes) - cpu_at_first
        postgres_cpu = tree_cpu_seconds(postmaster) - postgres_at_first
        machine_cpu = machine_busy_seconds() - machine_at_first
        average_load = load()
        debited = await plain.fetchval("SELECT count(*) FROM events WHERE type = 'MailingDebited'")
        if debited != events:
            raise SystemExit(f"{label}: {debited:,} debits for {events:,} events")
    finally:
        stack.processes.stop(started_processes)
        await plain.close()
    assert first is not None
    steady = (events - first[1]) / max(ended - first[0], 1e-9)
    return LedgerRun(
        label,
        steady,
        events / (ended - started),
        first[0] - started,
        average_load,
        cpu / max(events - first[1], 1) * 1e6,
        postgres_cpu / max(events - first[1], 1) * 1e6,
        machine_cpu / max(events - first[1], 1) * 1e6,
    )


@dataclass(frozen=True)
class LatencyRun:
    latencies_ms: list[float]  # the probe partner's debits, produced -> visible
    offered_per_s: float
    load: float
    # The consumer's CPU per event offered, from the first event offered until the last
    # probe debit was visible: fresh events in small batches cost more than a backlog.
    consumer_cpu_us_per_event: float


async def latency_run(stack: Stack, base_prefix: str, rate: float, seconds: float) -> LatencyRun:
    """Offer `rate` events/s for `seconds`: the produce-to-visible latencies of the probe
    partner's debits, the rate actually offered, the load and the consumer's CPU per event.
    The events are produced as they happen, so their times are fresh, as on a live stream."""
    prefix = f"{base_prefix[:-1]}lat{rate:.0f}."  # a topic and database per run
    url = await fresh_ledger(stack, prefix)
    topic = await topics(prefix, MAILING_SENT.partitions)
    env = consumer_env(url, stack, prefix)
    probe = f"{prefix}p0"
    settings = LedgerSettings(database_url=url, pricing_url=stack.pricing_url, ops_token=OPS)
    app, api = ledger_api(settings)
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, enable_idempotence=True, linger_ms=2)
    rng = random.Random(2)
    started_processes: list[subprocess.Popen[bytes]] = []
    async with app.router.lifespan_context(app), api:
        await producer.start()
        try:
            started_processes = [
                stack.processes.start([sys.executable, "-m", "ledger", "consume"], env)
            ]

            async def version() -> int:
                body = (await api.get(f"/v1/partners/{probe}/balance")).json()
                return int(body["version"])

            base = await version()
            # Warm up: the consumer has joined its group and debited one event.
            await producer.send_and_wait(
                topic, encode(mailing_sent(probe, "c1", 1)), probe.encode()
            )
            while await version() == base:  # noqa: ASYNC110 (polling the HTTP API is the point)
                await asyncio.sleep(0.05)
            base += 1
            produced_at: list[float] = []
            latencies: list[float] = []
            stop = asyncio.Event()

            async def poll() -> None:
                seen = 0
                while not stop.is_set() or seen < len(produced_at):
                    visible = await version() - base
                    now = time.perf_counter()
                    while seen < min(visible, len(produced_at)):
                        latencies.append((now - produced_at[seen]) * 1000)
                        seen += 1
                    await asyncio.sleep(0.005)

            poller = asyncio.create_task(poll())
            sent = 0
            consumer_cpu = cpu_seconds(started_processes[0].pid)
            begin = time.perf_counter()
            while (elapsed := time.perf_counter() - begin) < seconds:
                due = int(elapsed * rate) - sent
                for _ in range(due):
                    n = rng.randrange(stack.partners)
                    partner = f"{prefix}p{n}"
                    value = encode(mailing_sent(partner, "c1", rng.randint(1, 5000)))
                    if n == 0:
                        produced_at.append(time.perf_counter())
                    await producer.send(topic, value=value, key=partner.encode())
                sent += due
                await asyncio.sleep(0.002)
            offered = sent / (time.perf_counter() - begin)
            stop.set()
            await asyncio.wait_for(poller, timeout=120)
            consumer_cpu = cpu_seconds(started_processes[0].pid) - consumer_cpu
            average_load = load()
        finally:
            await producer.stop()
            stack.processes.stop(started_processes)
    return LatencyRun(latencies, offered, average_load, consumer_cpu / max(sent, 1) * 1e6)


def print_latency(run: LatencyRun, note: str = "") -> None:
    print(
        f"  latency at {run.offered_per_s:,.0f} events/s offered{note},"
        f" produce -> visible in GET balance, {len(run.latencies_ms)} samples:"
        f" p50 {percentile(run.latencies_ms, 0.50):.0f} ms,"
        f" p99 {percentile(run.latencies_ms, 0.99):.0f} ms,"
        f" max {max(run.latencies_ms):.0f} ms (load {run.load:.2f};"
        f" consumer CPU {run.consumer_cpu_us_per_event:.0f} us per event)",
        flush=True,
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --- main -----------------------------------------------------------------------------------


async def main(arguments: argparse.Namespace) -> int:
    # A caller may name the run (a test looks for its processes afterwards).
    run_id = os.environ.get(RUN_MARK) or uuid.uuid4().hex[:6]
    base_prefix = f"bench{run_id}."
    events, partners = arguments.events, arguments.partners
    only = arguments.consumers
    print(
        f"ingest benchmark: {events:,} mailing.sent events for {partners} partners"
        f" (load average {load():.2f} at start; {os.cpu_count()} CPUs)",
        flush=True,
    )
    processes = Processes(run_id)
    main_task = asyncio.current_task()
    assert main_task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, main_task.cancel)
    figures: dict[str, Any] = {"events": events, "partners": partners}
    try:
        stack = Stack(processes, await start_pricing(processes), partners)
        if arguments.latency_at:
            for rate in arguments.latency_at:
                print_latency(
                    await latency_run(stack, base_prefix, rate, arguments.latency_seconds)
                )
            return 0
        messages = make_events(base_prefix, events, partners)
        if only is not None:
            run = await ledger_run(
                stack, messages, base_prefix, consumers=only, partitions=6, label=f"{only}c"
            )
            print()
            line(
                f"ledger, {only} consumer(s), 6 partitions,"
                f" {os.environ.get('LEDGER_CONSUMER_LANES', DEFAULT_LANES)} lane(s) each",
                run.events_per_s,
                "events/s",
                f"(load {run.load:.2f}; start-up {run.startup_s:.1f} s;"
                f" CPU per event: consumer {run.cpu_us_per_event:.0f} us,"
                f" PostgreSQL {run.postgres_cpu_us_per_event:.0f} us,"
                f" machine {run.machine_cpu_us_per_event:.0f} us)",
            )
            return 0

        # The raw limits, on the headline run's topic and a scratch database.
        raw_topic = await topics(base_prefix, 6)
        produce_rate = await produce(raw_topic, messages)
        figures["produce_per_s"] = produce_rate
        figures["raw_consume_per_s"] = await raw_consume(raw_topic, events)
        await fresh_migrated_database("ledger_bench", LEDGER_MIGRATIONS)
        figures["raw_copy_rows_per_s"] = await raw_copy(messages)
        rows = debits(messages, datetime.now(UTC))
        scratch = await fresh_migrated_database("ledger_bench_rows", LEDGER_MIGRATIONS)
        figures["ledger_rows_copy_per_s"] = await copy_ledger_rows(scratch, rows)
        figures["raw_load"] = load()
        es_url = await fresh_migrated_database("eventsourcing_bench", LEDGER_MIGRATIONS)
        figures["eventsourcing_recorder_per_s"] = await asyncio.to_thread(
            eventsourcing_recorder, es_url, rows[: max(1000, min(len(rows), 50_000))]
        )

        runs: list[LedgerRun] = []
        # (consumers, partitions, lanes per consumer: None is the ledger's default, label).
        # This machine's speed drifts by a fifth from minute to minute: the headline and its
        # one-lane counterpart run `--repeat` times, interleaved, and their medians count.
        plan: list[tuple[int, int, int | None, str]] = [
            entry
            for r in range(1, arguments.repeat + 1)
            for entry in ((1, 6, None, f"1c6p-{r}"), (1, 6, 1, f"1c6p1l-{r}"))
        ]
        plan += [(2, 6, None, "2c6p"), (1, 12, None, "1c12p"), (2, 12, None, "2c12p")]
        if arguments.quick:
            plan = plan[: 2 * arguments.repeat + 1]
        for consumers, partitions, lanes, label in plan:
            run = await ledger_run(
                stack,
                messages,
                base_prefix,
                consumers=consumers,
                partitions=partitions,
                label=label,
                lanes=lanes,
            )
            runs.append(run)
            print(f"  {label}: {run.events_per_s:,.0f} events/s (load {run.load:.2f})", flush=True)
        by = {r.label: r for r in runs}
        headline = median_run([r for r in runs if r.label.startswith("1c6p-")])
        one_lane = median_run([r for r in runs if r.label.startswith("1c6p1l-")])
        figures.update(
            {
                "ledger_events_per_s": headline.events_per_s,
                "ledger_wall_events_per_s": headline.wall_events_per_s,
                "ledger_startup_s": headline.startup_s,
                "ledger_load": headline.load,
                "ledger_consumer_cpu_us_per_event": headline.cpu_us_per_event,
                "ledger_postgres_cpu_us_per_event": headline.postgres_cpu_us_per_event,
                "ledger_machine_cpu_us_per_event": headline.machine_cpu_us_per_event,
                "ledger_lanes": DEFAULT_LANES,
                "ledger_runs_events_per_s": [
                    r.events_per_s for r in runs if r.label.startswith("1c6p-")
                ],
                "one_lane_events_per_s": one_lane.events_per_s,
                "one_lane_cpu_us_per_event": one_lane.cpu_us_per_event,
                "one_lane_runs_events_per_s": [
                    r.events_per_s for r in runs if r.label.startswith("1c6p1l-")
                ],
                "two_consumers_events_per_s": by["2c6p"].events_per_s,
                "two_consumers_load": by["2c6p"].load,
                "two_consumers_cpu_us_per_event": by["2c6p"].cpu_us_per_event,
            }
        )
        if "1c12p" in by:
            figures["partitions_6_events_per_s"] = headline.events_per_s
            figures["partitions_12_events_per_s"] = by["1c12p"].events_per_s
            figures["partitions_12_two_consumers_events_per_s"] = by["2c12p"].events_per_s

        rate = 0.5 * headline.events_per_s
        at_half = await latency_run(stack, base_prefix, rate, arguments.latency_seconds)
        figures.update(
            {
                "latency_offered_per_s": at_half.offered_per_s,
                "latency_samples": len(at_half.latencies_ms),
                "latency_p50_ms": percentile(at_half.latencies_ms, 0.50),
                "latency_p99_ms": percentile(at_half.latencies_ms, 0.99),
                "latency_max_ms": max(at_half.latencies_ms),
                "latency_load": at_half.load,
                "latency_consumer_cpu_us_per_event": at_half.consumer_cpu_us_per_event,
            }
        )
    finally:
        processes.stop_all()
        with contextlib.suppress(Exception):  # cleaning up must not hide how the run went
            await asyncio.wait_for(delete_topics(KAFKA, CREATED_TOPICS), 30)

    ledger_rate = figures["ledger_events_per_s"]
    for name in ("raw_consume_per_s", "ledger_rows_copy_per_s", "eventsourcing_recorder_per_s"):
        figures[f"ratio_to_{name.removesuffix('_per_s')}"] = ledger_rate / figures[name]
    print()
    line("producing to Kafka (setup, not judged)", figures["produce_per_s"], "events/s")
    line("raw aiokafka consumer, no processing", figures["raw_consume_per_s"], "events/s")
    line("raw asyncpg COPY of event rows alone", figures["raw_copy_rows_per_s"], "rows/s")
    line(
        "(a) COPY of the ledger's rows per event, 1,000/tx",
        figures["ledger_rows_copy_per_s"],
        "events/s",
        f"(load {figures['raw_load']:.2f})",
    )
    line(
        "(b) eventsourcing PostgreSQL recorder, 100/tx",
        figures["eventsourcing_recorder_per_s"],
        "events/s",
    )
    verdict = "PASS" if ledger_rate >= TARGET else f"MISS (target {TARGET:,})"
    line(
        f"ledger, 1 consumer, 6 partitions (median of {len(figures['ledger_runs_events_per_s'])})",
        ledger_rate,
        "events/s",
        f"{verdict} (load {figures['ledger_load']:.2f})",
    )
    print(f"    each run: {', '.join(f'{r:,.0f}' for r in figures['ledger_runs_events_per_s'])}")
    line(
        "  the same from process start (start-up included)",
        figures["ledger_wall_events_per_s"],
        "events/s",
        f"(start-up {figures['ledger_startup_s']:.1f} s)",
    )
    line(
        "  consumer CPU per event, 1 consumer / 2 consumers",
        figures["ledger_consumer_cpu_us_per_event"],
        "us",
        f"/ {figures['two_consumers_cpu_us_per_event']:.0f} us",
    )
    line(
        "  PostgreSQL's CPU / all cores' busy time per event",
        figures["ledger_postgres_cpu_us_per_event"],
        "us",
        f"/ {figures['ledger_machine_cpu_us_per_event']:.0f} us ({CORES} cores: at most"
        f" {CORES * 1e6 / figures['ledger_machine_cpu_us_per_event']:,.0f} events/s at this cost)",
    )
    line(
        "  one lane (LEDGER_CONSUMER_LANES=1), median",
        figures["one_lane_events_per_s"],
        "events/s",
        f"(default {DEFAULT_LANES} lanes; CPU {figures['one_lane_cpu_us_per_event']:.0f} us/event)",
    )
    line(
        "ledger, 2 consumers, 6 partitions",
        figures["two_consumers_events_per_s"],
        "events/s",
        f"(load {figures['two_consumers_load']:.2f})",
    )
    if "partitions_12_events_per_s" in figures:
        line("ledger, 1 consumer, 12 partitions", figures["partitions_12_events_per_s"], "events/s")
        line(
            "ledger, 2 consumers, 12 partitions",
            figures["partitions_12_two_consumers_events_per_s"],
            "events/s",
        )
    ratio_a = figures["ratio_to_ledger_rows_copy"]
    ratio_b = figures["ratio_to_eventsourcing_recorder"]
    print(f"  ratio to the raw consumer:             {figures['ratio_to_raw_consume']:7.1%}")
    print(
        f"  ratio to (a) COPY of the ledger's rows: {ratio_a:7.1%}  "
        f"{'PASS' if ratio_a >= 0.4 else 'MISS (target 40%)'}"
    )
    print(
        f"  ratio to (b) the eventsourcing recorder: {ratio_b:7.1%}  "
        f"{'PASS' if ratio_b >= 1 else 'MISS (target 100%)'}"
    )
    print_latency(at_half, " (50% of max)")
    paths = write_results("ingest", figures, charts(figures), directory=arguments.results_dir)
    print(f"  results: {paths.json}")
    return 0


def charts(figures: dict[str, Any]) -> list[BarChart]:
    groups = ["raw consume", "(a) ledger rows COPY", "(b) eventsourcing", "ledger 1c", "ledger 2c"]
    values = [
        figures["raw_consume_per_s"],
        figures["ledger_rows_copy_per_s"],
        figures["eventsourcing_recorder_per_s"],
        figures["ledger_events_per_s"],
        figures["two_consumers_events_per_s"],
    ]
    return [
        BarChart(
            "mailing.sent ingest beside the raw limits",
            "events/s",
            groups,
            {"events/s": values},
            lines={f"target {TARGET:,}/s": TARGET},
            log_scale=True,
        ),
        BarChart(
            f"produce -> visible in GET balance at {figures['latency_offered_per_s']:,.0f}/s",
            "ms",
            ["p50", "p99", "max"],
            {"latency": [figures[f"latency_{p}_ms"] for p in ("p50", "p99", "max")]},
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partners", type=int, default=50)
    parser.add_argument(
        "--consumers", type=int, default=None, help="only the ledger, with N consumer processes"
    )
    parser.add_argument("--quick", action="store_true", help="skip the 12-partition runs")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of the headline (and with one lane)"
    )
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument(
        "--latency-at",
        type=float,
        nargs="+",
        metavar="RATE",
        help="only the latency, at each of these offered rates (events/s)",
    )
    parser.add_argument("--results-dir", type=Path, default=REPO / "bench" / "results")
    arguments = parser.parse_args()
    try:
        raise SystemExit(asyncio.run(main(arguments)))
    except asyncio.CancelledError:
        raise SystemExit("stopped by a signal; every process it started was stopped") from None
