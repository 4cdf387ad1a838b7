"""Fixtures for the payment worker on the real local stack: PostgreSQL and Kafka from `make up`,
and the local Stripe API server (`devtools.stripe_server`) as a subprocess."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
import stripe
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.stripe_server import LocalStripe
from payments.adapters.stripe_gateway import create_client
from payments.migrations import MIGRATIONS_DIR
from shared.codec import decode, encode
from shared.database import create_engine
from shared.envelope import CloudEvent
from shared.kafka_admin import ensure_topics
from tests.integration.conftest import free_port
from tests.integration.databases import fresh_migrated_database
from tests.support.settings import KAFKA

STRIPE_KEY = "sk_test_local"


class Mailbox:
    """An SMTP handler that keeps what it accepts and refuses some recipients."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("billing+gone"):
            return "550 5.1.1 no such mailbox"
        if address.startswith("billing+busy"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Mailbox, int]]:
    """A local SMTP server (aiosmtpd) for the module's tests: its mailbox and its port."""
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


@pytest.fixture(scope="session")
def local_stripe() -> Iterator[LocalStripe]:
    with LocalStripe() as server:
        yield server


@pytest.fixture(scope="session")
def stripe_client(local_stripe: LocalStripe) -> stripe.StripeClient:
    return create_client(STRIPE_KEY, local_stripe.url, 10.0)


@pytest.fixture(scope="module")
async def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh payments database per test module, so no module drives another's attempts."""
    name = "payments_" + request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_payments_")
    return await fresh_migrated_database(name, MIGRATIONS_DIR)


@pytest.fixture(scope="module")
async def topics() -> str:
    """A topic prefix of the module's own, so no module's worker reads another's requests."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    await ensure_topics(KAFKA, prefix=prefix)
    return prefix


@pytest.fixture(scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


async def saved_method(
    client: stripe.StripeClient, *, card: str | None = None, iban: str | None = None
) -> dict[str, str]:
    """A customer with a saved card or SEPA account, as the ledger stores it."""
    customer = await client.v1.customers.create_async({"email": "billing@partner.example"})
    if card is not None:
        params: dict[str, Any] = {
            "type": "card",
            "card": {"number": card, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        }
    else:
        params = {
            "type": "sepa_debit",
            "sepa_debit": {"iban": iban},
            "billing_details": {"name": "Muster GmbH", "email": "billing@partner.example"},
        }
    method = await client.v1.payment_methods.create_async(params)  # type: ignore[arg-type]
    await client.v1.payment_methods.attach_async(method.id, {"customer": customer.id})
    return {"type": params["type"], "customer": customer.id, "payment_method": method.id}


async def intents_for(client: stripe.StripeClient, customer: str, request_id: str) -> list[Any]:
    """The PaymentIntents the Stripe server holds for one request: the gateway's own records."""
    page = await client.v1.payment_intents.list_async({"customer": customer, "limit": 100})
    return [pi async for pi in page.auto_paging_iter() if pi.metadata["request_id"] == request_id]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def purchase_requested(
    partner_id: str, purchase_id: str, amount_minor: int, method: dict[str, str] | None
) -> CloudEvent:
    return CloudEvent.new(
        "ledger.purchase_requested",
        "/ledger",
        {
            "partner_id": partner_id,
            "purchase_id": purchase_id,
            "credits": amount_minor,
            "amount_minor": amount_minor,
            "currency": "EUR",
            "reason": "auto",
            "payment_method": method,
            "requested_at": "2026-11-23T10:00:00+00:00",
        },
        subject=partner_id,
    )


async def publish(producer: AIOKafkaProducer, topic: str, *events: CloudEvent) -> None:
    for event in events:
        await producer.send_and_wait(topic, encode(event), key=event.data["partner_id"].encode())


async def read_results(
    topic: str, request_ids: set[str], expected: int, settle_seconds: float = 1.0
) -> list[dict[str, Any]]:
    """The results for `request_ids` on `topic` once `expected` have arrived (and nothing more
    came for `settle_seconds`), oldest first."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=KAFKA, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        deadline = asyncio.get_running_loop().time() + 30
        quiet_until = None
        while asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            fresh = [
                {"id": event.id, **event.data}
                for messages in batch.values()
                for message in messages
                if (event := decode(message.value)).data["request_id"] in request_ids
            ]
            found.extend(fresh)
            if len(found) >= expected:
                if fresh or quiet_until is None:
                    quiet_until = asyncio.get_running_loop().time() + settle_seconds
                elif asyncio.get_running_loop().time() >= quiet_until:
                    break
    finally:
        await consumer.stop()
    return found


async def attempt_row(engine: AsyncEngine, request_id: str) -> dict[str, Any] | None:
    async with engine.connect() as connection:
        row = (
            (
                await connection.execute(
                    text(
                        "SELECT status, gateway, gateway_reference, code, retryable, tries"
                        " FROM payment_attempts WHERE request_id = :id"
                    ),
                    {"id": request_id},
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row is not None else None


async def outbox_results(engine: AsyncEngine, request_id: str) -> list[dict[str, Any]]:
    """The results queued for one request, oldest first."""
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT message FROM outbox ORDER BY id"))
        events = [decode(row.message) for row in rows]
    return [e.data for e in events if e.data["request_id"] == request_id]


async def healthy_metrics(port: int) -> str:
    """The `/metrics` page of a worker's status port, once its `/healthz` answered ok."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        health = await client.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        return (await client.get("/metrics")).text
