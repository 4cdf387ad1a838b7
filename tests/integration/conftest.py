"""Fixtures on the real local stack: PostgreSQL and Kafka from `make up`, the pricing service
served by uvicorn on a free port, and the ledger wired to them with a topic prefix of its own."""

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer

from ledger.migrations import MIGRATIONS_DIR as LEDGER_MIGRATIONS
from ledger.settings import LedgerSettings
from pricing.api.app import create_app as create_pricing_app
from pricing.migrations import MIGRATIONS_DIR as PRICING_MIGRATIONS
from pricing.settings import PricingSettings
from shared.kafka_admin import ensure_topics
from tests.integration.databases import fresh_migrated_database
from tests.support.clients import create_price_lists
from tests.support.settings import KAFKA

OPS_TOKEN = "ops-token-for-tests"
PRICING_ADMIN_TOKEN = "pricing-admin-token-for-tests"
ADMIN_HEADERS = {"Authorization": f"Bearer {PRICING_ADMIN_TOKEN}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def serve_in_background(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    return server, task


@pytest.fixture(scope="session")
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="session")
async def kafka_topics(topic_prefix: str) -> str:
    await ensure_topics(KAFKA, prefix=topic_prefix)
    return topic_prefix


@pytest.fixture(scope="session")
async def pricing_url() -> AsyncIterator[str]:
    """The real pricing service over HTTP, with the two price lists the ledger needs."""
    database_url = await fresh_migrated_database("pricing_for_ledger_test", PRICING_MIGRATIONS)
    port = free_port()
    server, task = await serve_in_background(
        create_pricing_app(
            PricingSettings(database_url=database_url, admin_token=PRICING_ADMIN_TOKEN)
        ),
        port,
    )
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, headers=ADMIN_HEADERS) as client:
        await create_price_lists(client)
    yield url
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
async def ledger_settings(pricing_url: str, kafka_topics: str) -> LedgerSettings:
    database_url = await fresh_migrated_database("ledger_test", LEDGER_MIGRATIONS)
    return LedgerSettings(
        database_url=database_url,
        pricing_url=pricing_url,
        kafka_bootstrap_servers=KAFKA,
        topic_prefix=kafka_topics,
        ops_token=OPS_TOKEN,
        consumer_group=f"ledger-{kafka_topics}",
        relay_poll_seconds=0.05,
        # Fixed ports would collide with other runs on this machine; tests that look at
        # /metrics pick a free port of their own.
        consumer_metrics_port=0,
        relay_metrics_port=0,
    )


@pytest.fixture(scope="session")
async def producer() -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, enable_idempotence=True)
    await producer.start()
    yield producer
    await producer.stop()
