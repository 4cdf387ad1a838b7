"""Ledger ingest benchmark: 200,000 `mailing.sent` events for 50 partners.

In one run it measures
  1. the ledger: a real `python -m ledger consume` process (with the real pricing service as a
     process), timed from its start until every debit is in PostgreSQL;
  2. the raw rate of an aiokafka consumer reading the same topic without processing;
  3. the raw rate of inserting the same number of event rows with asyncpg COPY;
and prints events/s and the ledger's ratio to both raw rates.

Targets: >= 10,000 events/s, and >= 50% of the slower raw rate. Needs `make up`.
Usage: .venv/bin/python bench/ingest.py [--events N] [--partners N]
"""

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

REPO = Path(__file__).resolve().parents[1]
# Run as a script, this folder would come first on the path, and bench/pricing.py would hide
# the pricing package.
sys.path[0] = str(REPO)

from ledger.api.app import create_app
from ledger.migrations import MIGRATIONS_DIR as LEDGER_MIGRATIONS
from ledger.settings import LedgerSettings
from pricing.migrations import MIGRATIONS_DIR as PRICING_MIGRATIONS
from shared.codec import encode
from shared.kafka_admin import ensure_topics
from shared.messages import mailing_sent
from tests.integration.conftest import (
    CREDIT_PRICE_LIST,
    KAFKA,
    MAILING_PRICE_LIST,
    free_port,
)
from tests.integration.databases import database_url, fresh_migrated_database

OPS = "bench-ops-token-0123"
PRICING_ADMIN = "bench-pricing-admin-token"


def line(label: str, value: float, unit: str, note: str = "") -> None:
    print(f"  {label:<44} {value:>12,.0f} {unit:<10} {note}")


async def setup(prefix: str, partners: int) -> tuple[str, str, subprocess.Popen[bytes]]:
    pricing_db = await fresh_migrated_database("pricing_bench", PRICING_MIGRATIONS)
    ledger_db = await fresh_migrated_database("ledger_bench", LEDGER_MIGRATIONS)
    await ensure_topics(KAFKA, prefix=prefix)
    port = free_port()
    pricing = subprocess.Popen(
        [sys.executable, "-m", "pricing", "serve"],
        env={
            **os.environ,
            "PRICING_DATABASE_URL": pricing_db,
            "PRICING_PORT": str(port),
            "PRICING_ADMIN_TOKEN": PRICING_ADMIN,
        },
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pricing_url = f"http://127.0.0.1:{port}"
    admin = {"Authorization": f"Bearer {PRICING_ADMIN}"}
    async with httpx.AsyncClient(base_url=pricing_url, headers=admin) as client:
        for _ in range(100):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
        for price_list in (MAILING_PRICE_LIST, CREDIT_PRICE_LIST):
            assert (await client.post("/v1/price-lists", json=price_list)).status_code == 201
    settings = LedgerSettings(database_url=ledger_db, pricing_url=pricing_url, ops_token=OPS)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://ledger",
            headers={"Authorization": f"Bearer {OPS}"},
        ) as api,
    ):
        for n in range(partners):
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
                json={"credits": 10**9, "reason": "bench"},
            )
    return ledger_db, pricing_url, pricing


def make_events(prefix: str, events: int, partners: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(1)
    messages = []
    for _ in range(events):
        partner_id = f"{prefix}p{rng.randrange(partners)}"
        value = encode(mailing_sent(partner_id, "c1", rng.randint(1, 5000)))
        messages.append((partner_id.encode(), value))
    return messages


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


async def debit_count(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        value: int = await connection.fetchval(
            "SELECT count(*) FROM events WHERE type = 'MailingDebited'"
        )
        return value
    finally:
        await connection.close()


async def main(events: int, partners: int, processes: int) -> int:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    topic = prefix + "mailing.sent"
    print(
        f"ingest benchmark: {events:,} mailing.sent events for {partners} partners,"
        f" {processes} ledger consumer process(es) in one consumer group"
    )
    ledger_db, pricing_url, pricing = await setup(prefix, partners)
    consumers: list[subprocess.Popen[bytes]] = []
    try:
        messages = make_events(prefix, events, partners)
        produce_rate = await produce(topic, messages)
        consume_rate = await raw_consume(topic, events)
        copy_rate = await raw_copy(messages)

        env = {
            **os.environ,
            "LEDGER_DATABASE_URL": ledger_db,
            "LEDGER_PRICING_URL": pricing_url,
            "LEDGER_TOPIC_PREFIX": prefix,
            "LEDGER_KAFKA_BOOTSTRAP_SERVERS": KAFKA,
            "LEDGER_LOG_LEVEL": "WARNING",
            "LEDGER_CONSUMER_METRICS_PORT": "0",  # several consumer processes may run
        }
        plain_url = ledger_db.replace("postgresql+asyncpg", "postgresql")
        started = time.perf_counter()
        # Listed for the clean-up below (a forgotten one kept running after the benchmark).
        consumers += [
            subprocess.Popen([sys.executable, "-m", "ledger", "consume"], env=env, cwd=REPO)
            for _ in range(processes)
        ]
        done = 0
        while done < events:
            await asyncio.sleep(0.25)
            if any(consumer.poll() is not None for consumer in consumers):
                raise SystemExit("a ledger consumer died")
            done = await debit_count(plain_url)
            if time.perf_counter() - started > 900:
                raise SystemExit(f"gave up after 15 minutes at {done:,} debits")
        ledger_rate = events / (time.perf_counter() - started)
    finally:
        for process in [*consumers, pricing]:
            process.terminate()
        for process in [*consumers, pricing]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    slower_raw = min(consume_rate, copy_rate)
    print()
    line("producing to Kafka (setup, not judged)", produce_rate, "events/s")
    line("raw aiokafka consumer, no processing", consume_rate, "events/s")
    line("raw asyncpg COPY of the event rows", copy_rate, "rows/s")
    line(
        f"ledger ({processes} consumer(s)): debits in PostgreSQL",
        ledger_rate,
        "events/s",
        "PASS" if ledger_rate >= 10_000 else "MISS (target 10,000)",
    )
    print(f"  ratio to the raw consumer:  {ledger_rate / consume_rate:6.1%}")
    print(f"  ratio to raw COPY:          {ledger_rate / copy_rate:6.1%}")
    verdict = "PASS" if ledger_rate >= 0.5 * slower_raw else "MISS (target 50%)"
    print(f"  ratio to the slower raw:    {ledger_rate / slower_raw:6.1%}  {verdict}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partners", type=int, default=50)
    parser.add_argument("--consumers", type=int, default=1, help="consumer processes")
    arguments = parser.parse_args()
    raise SystemExit(asyncio.run(main(arguments.events, arguments.partners, arguments.consumers)))
