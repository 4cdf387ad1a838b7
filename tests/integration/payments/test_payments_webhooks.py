"""The Stripe webhook endpoint: signed events become results once, in the outbox; and the real
thing, SEPA debits through the local Stripe server settling by webhook."""

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.stripe_server import LocalStripe
from payments.adapters.stripe_gateway import StripeGateway
from payments.adapters.unit_of_work import unit_of_work
from payments.api.app import create_app
from payments.bootstrap import bootstrap
from payments.domain.outcomes import Outcome
from payments.domain.requests import PaymentRequest
from payments.service_layer.outcomes import record_outcome
from payments.settings import PaymentsSettings
from tests.integration.conftest import free_port, serve_in_background
from tests.integration.payments.conftest import (
    attempt_row,
    outbox_results,
    saved_method,
    unique,
)

SECRET = "whsec_test_secret"


def signed(event: dict[str, Any], secret: str = SECRET, at: int | None = None) -> dict[str, Any]:
    """The request Stripe would send: the body and its `Stripe-Signature` header."""
    body = json.dumps(event)
    timestamp = at if at is not None else int(time.time())
    signature = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return {
        "content": body,
        "headers": {"Stripe-Signature": f"t={timestamp},v1={signature.hexdigest()}"},
    }


def event(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"id": unique("evt"), "object": "event", "type": event_type, "data": {"object": obj}}


@pytest.fixture(scope="module")
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(PaymentsSettings(database_url=database_url, stripe_webhook_secret=SECRET))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://payments") as client:
        yield client


async def pending_sepa_attempt(engine: AsyncEngine) -> tuple[str, str]:
    """A SEPA debit the worker sent to Stripe and recorded as pending: (request id, intent)."""
    request_id, intent = unique("ch"), unique("pi")
    request = PaymentRequest(
        request_id,
        "charge",
        "p1",
        5250,
        "EUR",
        {"type": "sepa_debit", "customer": "cus_1", "payment_method": "pm_1"},
        unique("m"),
    )
    async with unit_of_work(engine) as uow:
        await uow.attempts.add(request, "stripe")
        await record_outcome(uow, request_id, Outcome("pending", intent), datetime.now(UTC))
    return request_id, intent


async def test_settled_then_disputed(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    request_id, intent = await pending_sepa_attempt(engine)
    succeeded = event("payment_intent.succeeded", {"id": intent, "status": "succeeded"})

    first = await client.post("/v1/webhooks/stripe", **signed(succeeded))
    again = await client.post("/v1/webhooks/stripe", **signed(succeeded))
    disputed = await client.post(
        "/v1/webhooks/stripe",
        **signed(
            event(
                "charge.dispute.created",
                {"id": "dp_1", "payment_intent": intent, "reason": "debit_not_authorized"},
            )
        ),
    )

    assert (first.status_code, first.json()["result"]) == (200, "succeeded")
    assert (again.status_code, again.json()["result"]) == (200, None)
    assert (disputed.status_code, disputed.json()["result"]) == (200, "returned")
    results = await outbox_results(engine, request_id)
    assert [(r["status"], r["code"], r["gateway_reference"], r["kind"]) for r in results] == [
        ("pending", None, intent, "charge"),
        ("succeeded", None, intent, "charge"),
        ("returned", "dispute_debit_not_authorized", intent, "charge"),
    ]


async def test_a_failed_debit(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    request_id, intent = await pending_sepa_attempt(engine)
    failed = event(
        "payment_intent.payment_failed",
        {
            "id": intent,
            "status": "requires_payment_method",
            "metadata": {"request_id": request_id},
            "last_payment_error": {"code": "insufficient_funds", "message": "Insufficient funds"},
        },
    )

    response = await client.post("/v1/webhooks/stripe", **signed(failed))

    assert response.json() == {"received": True, "event_id": failed["id"], "result": "failed"}
    assert await attempt_row(engine, request_id) == {
        "status": "failed",
        "gateway": "stripe",
        "gateway_reference": intent,
        "code": "insufficient_funds",
        "retryable": True,
        "tries": 0,
    }


async def test_forged_and_stale_events_are_refused(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    request_id, intent = await pending_sepa_attempt(engine)
    succeeded = event("payment_intent.succeeded", {"id": intent, "status": "succeeded"})

    forged = await client.post("/v1/webhooks/stripe", **signed(succeeded, secret="whsec_other"))
    stale = await client.post("/v1/webhooks/stripe", **signed(succeeded, at=int(time.time()) - 301))
    unsigned = await client.post("/v1/webhooks/stripe", content=json.dumps(succeeded))

    for response in (forged, stale, unsigned):
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
    assert "No signatures found matching the expected signature" in forged.json()["detail"]
    assert "Timestamp outside the tolerance zone" in stale.json()["detail"]
    assert (await attempt_row(engine, request_id))["status"] == "pending"  # type: ignore[index]


async def test_events_for_payments_not_ours_are_acknowledged(client: httpx.AsyncClient) -> None:
    foreign = event("payment_intent.succeeded", {"id": "pi_unknown", "status": "succeeded"})
    other = event("customer.created", {"id": "cus_1"})
    for sent in (foreign, other):
        response = await client.post("/v1/webhooks/stripe", **signed(sent))
        assert (response.status_code, response.json()["result"]) == (200, None)


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.json() == {"status": "ok", "service": "payments"}


async def test_sepa_debits_settle_by_webhook_from_the_stripe_server(
    database_url: str,
    engine: AsyncEngine,
    local_stripe: LocalStripe,
    stripe_client: stripe.StripeClient,
) -> None:
    port = free_port()
    server, task = await serve_in_background(
        create_app(PaymentsSettings(database_url=database_url, stripe_webhook_secret=SECRET)),
        port,
    )
    local_stripe.register_webhook(
        f"http://127.0.0.1:{port}/v1/webhooks/stripe", SECRET, name=unique("hook")
    )
    worker = bootstrap(
        PaymentsSettings(database_url=database_url, retry_base_seconds=1, retry_max_seconds=1),
        gateways={"stripe": StripeGateway(stripe_client)},
    )
    driver = worker.driver()
    # localstripe: this IBAN's debit stays processing, then fails; a good one settles at once.
    failing = await saved_method(stripe_client, iban="DE62370400440532013001")
    good = await saved_method(stripe_client, iban="DE89370400440532013000")
    requests = {
        name: PaymentRequest(unique("ch"), "charge", "p1", 5250, "EUR", method, unique("m"))
        for name, method in (("failing", failing), ("good", good))
    }
    try:
        statuses = {}
        for name, request in requests.items():
            async with worker.unit_of_work() as uow:
                await uow.attempts.add(request, "stripe")
            statuses[name] = await driver.drive(request.request_id)
        assert statuses == {"failing": "pending", "good": "succeeded"}

        async def settled() -> bool:
            row = await attempt_row(engine, requests["failing"].request_id)
            return row is not None and row["status"] == "failed"

        for _ in range(100):
            if await settled():
                break
            await asyncio.sleep(0.1)
        # The good debit's webhook left the server before the failing one's: let it land.
        await asyncio.sleep(0.5)
        async with engine.connect() as connection:
            seen = await connection.execute(
                text("SELECT count(*) FROM stripe_events WHERE type = 'payment_intent.succeeded'")
            )
            assert seen.scalar_one() >= 2  # ours and the server's
    finally:
        server.should_exit = True
        await task
        await worker.close()

    failed = await outbox_results(engine, requests["failing"].request_id)
    assert [(r["status"], r["code"], r["retryable"]) for r in failed] == [
        ("pending", None, False),
        ("failed", "card_declined", False),
    ]
    # The good debit's webhook came after its synchronous success: nothing more published.
    assert [r["status"] for r in await outbox_results(engine, requests["good"].request_id)] == [
        "succeeded"
    ]
