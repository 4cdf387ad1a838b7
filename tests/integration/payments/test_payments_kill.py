"""A worker killed (SIGKILL) after the gateway charged and before it recorded the answer: after
a restart the payment is looked up, not charged again, and its result is published once."""

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import stripe
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.stripe_server import LocalStripe
from tests.integration.payments.conftest import (
    STRIPE_KEY,
    attempt_row,
    intents_for,
    publish,
    purchase_requested,
    read_results,
    saved_method,
    unique,
)
from tests.support.settings import KAFKA

ROOT = Path(__file__).resolve().parents[3]


def start_worker(
    environment: dict[str, str], module: tuple[str, ...] = ("payments", "work")
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", *module],
        env={**os.environ, "PAYMENTS_WORKER_METRICS_PORT": "0", **environment},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_for(check: Callable[[], Awaitable[bool]], seconds: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def test_a_killed_worker_charges_once(
    tmp_path: Path,
    database_url: str,
    engine: AsyncEngine,
    topics: str,
    local_stripe: LocalStripe,
    stripe_client: stripe.StripeClient,
    producer: AIOKafkaProducer,
) -> None:
    method = await saved_method(stripe_client, card="4242424242424242")
    purchase_id = unique("pu")
    hold = tmp_path / "held"
    environment = {
        "PAYMENTS_DATABASE_URL": database_url,
        "PAYMENTS_KAFKA_BOOTSTRAP_SERVERS": KAFKA,
        "PAYMENTS_TOPIC_PREFIX": topics,
        "PAYMENTS_CONSUMER_GROUP": unique("payments-kill-test"),
        "PAYMENTS_CONSUMER_SESSION_TIMEOUT_MS": "6000",
        "PAYMENTS_STRIPE_API_BASE": local_stripe.url,
        "PAYMENTS_STRIPE_API_KEY": STRIPE_KEY,
        "PAYMENTS_RETRY_BASE_SECONDS": "0.2",
        "PAYMENTS_DRIVER_POLL_SECONDS": "0.1",
        "PAYMENTS_RELAY_POLL_SECONDS": "0.05",
        "PAYMENTS_LOG_LEVEL": "WARNING",
    }
    # The same worker with a fault injected (tests/integration/payments/held_worker.py): it
    # announces the moment after the gateway answered by creating `hold`, then hangs.
    first = start_worker(environment, ("tests.integration.payments.held_worker", str(hold)))
    try:
        await publish(
            producer,
            topics + "ledger.payment-requests",
            purchase_requested("p-kill", purchase_id, 2500, method),
        )
        await wait_for(lambda: asyncio.to_thread(hold.exists))
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()

    # Killed between the gateway's answer and the worker's own write: Stripe charged, the
    # database still says `charging`, and nothing was published.
    intents = await intents_for(stripe_client, method["customer"], purchase_id)
    assert [(pi.status, pi.amount) for pi in intents] == [("succeeded", 2500)]
    assert await attempt_row(engine, purchase_id) == {
        "status": "charging",
        "gateway": "stripe",
        "gateway_reference": None,
        "code": None,
        "retryable": None,
        "tries": 1,
    }
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM outbox"))).scalar() == 0

    second = start_worker(environment)
    try:
        results = await read_results(
            topics + "payments.results", {purchase_id}, 1, settle_seconds=1.5
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=20)

    assert [(r["status"], r["gateway_reference"], r["amount_minor"]) for r in results] == [
        ("succeeded", intents[0].id, 2500)
    ]
    assert len(await intents_for(stripe_client, method["customer"], purchase_id)) == 1
    row = await attempt_row(engine, purchase_id)
    assert row is not None
    assert (row["status"], row["tries"]) == ("succeeded", 2)
    assert second.returncode == 0
