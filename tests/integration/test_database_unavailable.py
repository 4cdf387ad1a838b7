"""While the database is out of reach, or has no connection free, every service answers 503
problem details with Retry-After (nothing was done; the request may be sent again), never a
500 that would blame the request."""

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from ledger.api.app import create_app as create_ledger_app
from ledger.settings import LedgerSettings
from payments.api.app import create_app as create_payments_app
from payments.settings import PaymentsSettings
from pricing.api.app import create_app as create_pricing_app
from pricing.settings import PricingSettings
from shared.database import POOL_TIMEOUT_SECONDS
from tests.integration.conftest import OPS_TOKEN, PRICING_ADMIN_TOKEN, free_port
from tests.integration.ledger.conftest import new_partner
from tests.integration.payments.test_payments_webhooks import SECRET, event, signed
from tests.support.clients import app_client


def nowhere(database: str) -> str:
    """A database URL on a port where nothing listens."""
    return f"postgresql+asyncpg://mailbill:mailbill@127.0.0.1:{free_port()}/{database}"


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["type"] == "https://mailbill.dev/problems/database-unavailable"
    assert (body["status"], body["instance"]) == (503, response.request.url.path)


@pytest.fixture
async def ledger_without_database(
    ledger_settings: LedgerSettings,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = ledger_settings.model_copy(update={"database_url": nowhere("ledger")})
    async with app_client(create_ledger_app(settings), OPS_TOKEN) as api:
        yield api


async def test_the_ledger_answers_503_for_reads_commands_and_partner_tokens(
    ledger_without_database: httpx.AsyncClient,
) -> None:
    api = ledger_without_database
    assert_unavailable(await api.get("/v1/partners/p1/balance"))  # the read pool
    assert_unavailable(
        await api.post("/v1/partners/p1/customers", json={"customer_id": "c1", "name": "C1"})
    )
    # A partner's token is looked up in the database before the route runs.
    assert_unavailable(
        await api.get("/v1/partners/p1/balance", headers={"Authorization": "Bearer pt_x"})
    )


async def test_pricing_answers_503_without_its_database() -> None:
    settings = PricingSettings(database_url=nowhere("pricing"), admin_token=PRICING_ADMIN_TOKEN)
    async with app_client(
        create_pricing_app(settings), PRICING_ADMIN_TOKEN, "http://pricing"
    ) as pricing:
        assert_unavailable(await pricing.get("/v1/price-lists/credits"))


async def test_payments_answers_503_to_a_stripe_webhook_without_its_database() -> None:
    settings = PaymentsSettings(database_url=nowhere("payments"), stripe_webhook_secret=SECRET)
    app = create_payments_app(settings)
    async with app_client(app, "unused", "http://payments") as payments:
        succeeded = event("payment_intent.succeeded", {"id": "pi_1", "status": "succeeded"})
        # 503 makes Stripe send the event again later; 500 would too, but says it is our bug.
        assert_unavailable(await payments.post("/v1/webhooks/stripe", **signed(succeeded)))


async def test_a_used_up_connection_pool_answers_503_within_the_pool_timeout(
    ledger_settings: LedgerSettings,
) -> None:
    # One pooled connection (and one of overflow); both held by "other requests".
    settings = ledger_settings.model_copy(update={"db_pool_size": 1})
    app = create_ledger_app(settings)
    async with app_client(app, OPS_TOKEN) as api:
        partner_id, _ = await new_partner(api)
        customer = f"/v1/partners/{partner_id}/customers"
        engine = app.state.container.engine
        async with engine.connect() as first, engine.connect() as second:
            for held in (first, second):
                await held.execute(text("SELECT 1"))
            started = time.monotonic()
            refused = await api.post(customer, json={"customer_id": "c2", "name": "C2"})
            waited = time.monotonic() - started
        assert_unavailable(refused)
        assert POOL_TIMEOUT_SECONDS <= waited < POOL_TIMEOUT_SECONDS + 5
        # Nothing was done: with the connections back, the same request creates the customer.
        accepted = await api.post(customer, json={"customer_id": "c2", "name": "C2"})
        assert accepted.status_code == 201, accepted.text
        listed = await api.get(customer)
        assert [c["customer_id"] for c in listed.json()["customers"]] == ["c1", "c2"]
