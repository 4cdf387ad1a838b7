"""The worker processes are visible: `/metrics` of a running consumer and relay shows lag,
batch times, retries, dead letters, the time since the last commit and the outbox's age, and
`/healthz` turns 503 while a batch is stuck."""

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from ledger.api.app import create_app
from ledger.entrypoints import group_for, run_consumers, run_relay_and_expiry
from ledger.migrations import MIGRATIONS_DIR
from ledger.settings import LedgerSettings
from shared.codec import encode
from shared.database import create_engine
from shared.kafka_admin import ensure_topics
from shared.messaging.outbox import Outbox
from tests.integration.conftest import OPS_TOKEN, free_port
from tests.integration.databases import fresh_migrated_database
from tests.integration.ledger.conftest import balance, eventually, new_partner
from tests.support.clients import app_client
from tests.support.messages import mailing_sent
from tests.support.settings import KAFKA


@pytest.fixture
async def own_system(ledger_settings: LedgerSettings) -> LedgerSettings:
    """Topics, a database and a consumer group of its own, so its metrics are its own."""
    prefix = f"status{uuid.uuid4().hex[:6]}."
    await ensure_topics(KAFKA, prefix=prefix)
    return ledger_settings.model_copy(
        update={
            "database_url": await fresh_migrated_database("ledger_status_test", MIGRATIONS_DIR),
            "topic_prefix": prefix,
            "consumer_group": f"status-{prefix}",
            "consumer_metrics_port": free_port(),
            "relay_metrics_port": free_port(),
        }
    )


@pytest.fixture
async def api(own_system: LedgerSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(own_system)
    async with app_client(app, OPS_TOKEN) as client:
        yield client


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, found by its name and these labels."""
    for line in metrics.splitlines():
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if match is None or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        if labels.items() <= found.items():
            return float(match[3])
    raise AssertionError(f"no sample {name} {labels} in:\n{metrics}")


async def get(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(f"http://127.0.0.1:{port}{path}", timeout=5)


async def test_a_running_consumer_and_relay_show_their_metrics_and_are_healthy(
    own_system: LedgerSettings, api: httpx.AsyncClient, producer: AIOKafkaProducer
) -> None:
    settings = own_system
    partner_id, _ = await new_partner(api)
    topic = settings.topic_prefix + "mailing.sent"
    for message in (b"{not json", encode(mailing_sent(partner_id, "c1", 100))):
        await producer.send_and_wait(topic, message, key=partner_id.encode(), partition=2)

    stop = asyncio.Event()
    workers = [
        asyncio.create_task(run_consumers(settings, stop)),
        asyncio.create_task(run_relay_and_expiry(settings, stop)),
    ]
    try:

        async def debited() -> bool:
            return bool((await balance(api, partner_id))["balance"] == -105)

        await eventually(debited, what="the mailing debited")
        group = group_for(settings, "mailing.sent")
        labels = {"group": group, "topic": "mailing.sent"}

        async def settled() -> bool:
            metrics = (await get(settings.consumer_metrics_port, "/metrics")).text
            return "consumer_lag_messages" in metrics and "consumer_dead_letters_total" in metrics

        await eventually(settled, what="the consumer's metrics")
        response = await get(settings.consumer_metrics_port, "/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        metrics = response.text
        assert sample(metrics, "consumer_lag_messages", partition="2", **labels) == 0
        assert sample(metrics, "consumer_batch_duration_seconds_count", **labels) >= 1
        assert sample(metrics, "consumer_batch_retries_total", **labels) == 0
        assert sample(metrics, "consumer_dead_letters_total", **labels) == 1
        since = sample(metrics, "consumer_seconds_since_last_commit", loop=f"{group}/mailing.sent")
        assert 0 <= since < 30
        health = await get(settings.consumer_metrics_port, "/healthz")
        assert (health.status_code, health.json()["status"]) == (200, "ok")

        relay_metrics = (await get(settings.relay_metrics_port, "/metrics")).text
        assert sample(relay_metrics, "outbox_oldest_unpublished_age_seconds") >= 0
        assert sample(relay_metrics, "worker_batch_open_seconds", loop="ledger.outbox") < 30
        assert (await get(settings.relay_metrics_port, "/healthz")).status_code == 200
        assert (await get(settings.relay_metrics_port, "/nothing")).status_code == 404
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*workers), timeout=15)


async def test_health_turns_503_while_a_batch_is_stuck(
    own_system: LedgerSettings, api: httpx.AsyncClient, producer: AIOKafkaProducer
) -> None:
    # Pricing is down: the consumer retries the batch, as it must, and says it is stuck.
    settings = own_system.model_copy(
        update={"pricing_url": f"http://127.0.0.1:{free_port()}", "worker_stuck_seconds": 1.0}
    )
    partner_id, _ = await new_partner(api)
    await producer.send_and_wait(
        settings.topic_prefix + "mailing.sent",
        encode(mailing_sent(partner_id, "c1", 100)),
        key=partner_id.encode(),
    )
    stop = asyncio.Event()
    consumer = asyncio.create_task(run_consumers(settings, stop))
    try:

        async def serving() -> bool:
            try:
                return (await get(settings.consumer_metrics_port, "/healthz")).status_code > 0
            except httpx.TransportError:
                return False

        await eventually(serving, what="the status server")

        async def unhealthy() -> bool:
            return (await get(settings.consumer_metrics_port, "/healthz")).status_code == 503

        await eventually(unhealthy, what="/healthz answering 503")
        body = (await get(settings.consumer_metrics_port, "/healthz")).json()
        assert body["status"] == "stuck"
        assert any("mailing.sent" in problem for problem in body["problems"])
        metrics = (await get(settings.consumer_metrics_port, "/metrics")).text
        group = group_for(settings, "mailing.sent")
        labels = {"group": group, "topic": "mailing.sent"}
        assert sample(metrics, "consumer_batch_retries_total", **labels) >= 1
        assert sample(metrics, "worker_batch_open_seconds", loop=f"{group}/mailing.sent") > 1
        assert (await balance(api, partner_id))["balance"] == 0
    finally:
        stop.set()
        await asyncio.wait_for(consumer, timeout=15)


async def test_the_outbox_age_is_that_of_the_oldest_message_not_yet_published(
    own_system: LedgerSettings,
) -> None:
    engine = create_engine(own_system.database_url)
    try:
        async with engine.begin() as connection:
            outbox = Outbox(connection)
            assert await outbox.oldest_unpublished_age_seconds() == 0
            await connection.execute(
                text(
                    "INSERT INTO outbox (partner_id, topic, message, created_at, published_at)"
                    " VALUES ('p', 't', 'x', now() - interval '2 hours', now()),"
                    " ('p', 't', 'y', now() - interval '1 hour', NULL),"
                    " ('p', 't', 'z', now(), NULL)"
                )
            )
            assert 3600 <= await outbox.oldest_unpublished_age_seconds() < 3700
    finally:
        await engine.dispose()
