"""The ledger running in-process against the real stack: API client, consumers and relay."""

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from ledger.api.app import create_app
from ledger.entrypoints import run_consumers, run_relay_and_expiry
from ledger.settings import LedgerSettings
from shared.codec import encode
from shared.envelope import CloudEvent
from tests.integration.conftest import OPS_TOKEN
from tests.support.clients import app_client
from tests.support.price_lists import CREDIT_PRICE_LIST, MAILING_PRICE_LIST
from tests.support.settings import KAFKA

_ids = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}-{datetime.now(UTC).strftime('%H%M%S%f')}"


@pytest.fixture(scope="session")
async def ledger_api(ledger_settings: LedgerSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ledger_settings)
    async with app_client(app, OPS_TOKEN) as client:
        yield client


@pytest.fixture(scope="session")
async def ledger_workers(ledger_settings: LedgerSettings) -> AsyncIterator[None]:
    """The consumers and the relay, as `make run` starts them, but as tasks of this loop."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(run_consumers(ledger_settings, stop)),
        asyncio.create_task(run_relay_and_expiry(ledger_settings, stop)),
    ]
    yield
    stop.set()
    await asyncio.gather(*tasks)


Message = CloudEvent | bytes | dict[str, Any]
"""An event, encoded by the codec; or bytes / a JSON document as a careless publisher sends."""
Publish = Callable[[str, Message, str], Awaitable[None]]


@pytest.fixture
def publish(producer: AIOKafkaProducer, ledger_settings: LedgerSettings) -> Publish:
    async def send(topic: str, message: Message, key: str) -> None:
        if isinstance(message, CloudEvent):
            value = encode(message)
        else:
            value = message if isinstance(message, bytes) else orjson.dumps(message)
        await producer.send_and_wait(
            ledger_settings.topic_prefix + topic, value=value, key=key.encode()
        )

    return send


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 20.0, what: str = "condition"
) -> None:
    """Poll until `check` holds; fail with `what` after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def read_topic(
    settings: LedgerSettings, topic: str, *, key: str | None = None, timeout: float = 3.0
) -> list[tuple[dict[str, bytes], bytes | None]]:
    """Every message on a topic so far (headers, value), optionally only one partner's."""
    consumer = AIOKafkaConsumer(
        settings.topic_prefix + topic,
        bootstrap_servers=KAFKA,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for messages in batch.values():
                for m in messages:
                    if key is None or m.key == key.encode():
                        found.append(({k: v for k, v in m.headers}, m.value))
            if not batch and found:
                break
    finally:
        await consumer.stop()
    return found


async def new_partner(
    api: httpx.AsyncClient, *, billing: dict[str, Any] | None = None, customers: int = 1
) -> tuple[str, str]:
    """Register a partner with customers c1..cN; returns (partner id, its token)."""
    partner_id = unique("partner")
    body: dict[str, Any] = {
        "partner_id": partner_id,
        "name": f"Agency {partner_id}",
        "locale": "de",
        "credit_price_list_id": CREDIT_PRICE_LIST["id"],
        "mailing_price_list_id": MAILING_PRICE_LIST["id"],
    }
    if billing:
        body["billing"] = billing
    response = await api.post("/v1/partners", json=body)
    assert response.status_code == 201, response.text
    for n in range(1, customers + 1):
        created = await api.post(
            f"/v1/partners/{partner_id}/customers", json={"customer_id": f"c{n}", "name": f"C{n}"}
        )
        assert created.status_code == 201, created.text
    return partner_id, response.json()["token"]


async def balance(api: httpx.AsyncClient, partner_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/partners/{partner_id}/balance")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
