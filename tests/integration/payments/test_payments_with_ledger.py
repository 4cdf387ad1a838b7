"""The billing loop across services, on the real broker, database, Stripe API server and SMTP:
ledger -> payment requests -> payment worker -> Stripe -> payment results -> ledger, and the
reminder e-mail from the ledger's notifications."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import stripe
from typer.testing import CliRunner

from ledger.__main__ import cli
from ledger.adapters.views.recorded_payments import ledger_payments
from ledger.reconcile import compare, gateway_payments
from ledger.settings import LedgerSettings
from payments.bootstrap import bootstrap
from payments.entrypoints import run_notifier, run_worker
from payments.settings import PaymentsSettings
from shared.database import create_engine
from tests.integration.ledger.conftest import (  # noqa: F401  (fixtures)
    Publish,
    balance,
    eventually,
    ledger_api,
    ledger_workers,
    new_partner,
    publish,
)
from tests.integration.payments.conftest import Mailbox, intents_for, saved_method, unique
from tests.support.messages import mailing_sent
from tests.support.settings import KAFKA

pytestmark = pytest.mark.usefixtures("ledger_workers", "payment_services")


@pytest.fixture(scope="module")
async def payment_services(
    database_url: str,
    ledger_settings: LedgerSettings,
    local_stripe: Any,
    smtp: tuple[Mailbox, int],
) -> AsyncIterator[None]:
    """The payment worker and the notifier on the ledger's topics, as `make run` starts them."""
    settings = PaymentsSettings(
        database_url=database_url,
        kafka_bootstrap_servers=KAFKA,
        topic_prefix=ledger_settings.topic_prefix,
        consumer_group=unique("worker"),
        notifier_group=unique("notifier"),
        stripe_api_base=local_stripe.url,
        smtp_port=smtp[1],
        driver_poll_seconds=0.05,
        relay_poll_seconds=0.05,
        retry_base_seconds=0.2,
        worker_metrics_port=0,
        notifier_metrics_port=0,
    )
    worker, notifier = bootstrap(settings), bootstrap(settings)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(run_worker(worker, stop)),
        asyncio.create_task(run_notifier(notifier, stop)),
    ]
    yield
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    await worker.close()
    await notifier.close()


FLOW_PARTNERS: set[str] = set()  # the partners the flows of this module paid for


async def history_types(api: httpx.AsyncClient, partner_id: str) -> list[str]:
    events = (await api.get(f"/v1/partners/{partner_id}/events", params={"limit": 1000})).json()
    return [e["type"] for e in events["events"]]


async def test_a_used_up_prepaid_partner_gets_credits_bought_and_one_reminder_mail(
    ledger_api: httpx.AsyncClient,  # noqa: F811
    publish: Publish,  # noqa: F811
    stripe_client: stripe.StripeClient,
    smtp: tuple[Mailbox, int],
) -> None:
    card = await saved_method(stripe_client, card="4242424242424242")
    partner_id, _ = await new_partner(
        ledger_api,
        billing={
            "billing_mode": "prepaid",
            "reminder_threshold": 1000,
            "auto_purchase": {"credits": 10000},
            "payment_method": card,
        },
    )
    FLOW_PARTNERS.add(partner_id)
    await ledger_api.post(
        f"/v1/partners/{partner_id}/credits/grants", json={"credits": 2000, "reason": "start"}
    )
    # 2,000 recipients = 2,100 credits: the balance crosses the reminder (1,000) and is used up.
    await publish("mailing.sent", mailing_sent(partner_id, "c1", 2000), partner_id)

    async def bought() -> bool:
        return bool((await balance(ledger_api, partner_id))["balance"] == 2000 - 2100 + 10000)

    await eventually(bought, timeout=30, what="the auto-purchase to be paid and credited")
    types = await history_types(ledger_api, partner_id)
    assert types.count("PurchaseRequested") == 1
    assert types.count("PurchaseSucceeded") == 1

    intents = (
        await stripe_client.v1.payment_intents.list_async({"customer": card["customer"]})
    ).data
    assert [(pi.amount, pi.currency, pi.status) for pi in intents] == [(10000, "eur", "succeeded")]

    mine = f"billing+{partner_id}@example.com"

    def my_mails() -> list[Any]:
        return [m for m in smtp[0].messages if mine in str(m["To"])]

    async def two_mails() -> bool:
        return len(my_mails()) >= 2

    # One reminder as the balance falls below 1,000, and one notice as the purchase lifts it
    # back above (the reminder recovered).
    await eventually(two_mails, timeout=20, what="the reminder and the recovery e-mails")
    await asyncio.sleep(1.0)  # a third one would arrive now
    mails = {str(m["Subject"]).split(": ", 1)[1]: m for m in my_mails()}
    assert len(my_mails()) == 2
    assert set(mails) == {
        "Ihr Guthaben ist niedrig",
        "Ihr Guthaben liegt wieder über 1.000 Credits",
    }
    assert "1.000" in mails["Ihr Guthaben ist niedrig"].get_content()


async def test_a_declined_card_is_visible_to_the_ledger_as_a_failed_purchase(
    ledger_api: httpx.AsyncClient,  # noqa: F811
    publish: Publish,  # noqa: F811
    stripe_client: stripe.StripeClient,
) -> None:
    card = await saved_method(stripe_client, card="4000000000000341")
    partner_id, _ = await new_partner(
        ledger_api,
        billing={
            "billing_mode": "prepaid",
            "auto_purchase": {"credits": 10000},
            "payment_method": card,
        },
    )
    FLOW_PARTNERS.add(partner_id)
    await publish("mailing.sent", mailing_sent(partner_id, "c1", 100), partner_id)

    async def failed() -> bool:
        return "PurchaseFailed" in await history_types(ledger_api, partner_id)

    await eventually(failed, timeout=30, what="the declined purchase to reach the ledger")
    events = (await ledger_api.get(f"/v1/partners/{partner_id}/events")).json()["events"]
    [failure] = [e["payload"] for e in events if e["type"] == "PurchaseFailed"]
    assert failure["code"] == "card_declined"
    assert (await balance(ledger_api, partner_id))["balance"] == -105


async def test_an_on_demand_mailing_is_charged_once(
    ledger_api: httpx.AsyncClient,  # noqa: F811
    publish: Publish,  # noqa: F811
    stripe_client: stripe.StripeClient,
) -> None:
    card = await saved_method(stripe_client, card="4242424242424242")
    partner_id, _ = await new_partner(
        ledger_api, billing={"billing_mode": "on_demand", "payment_method": card}
    )
    FLOW_PARTNERS.add(partner_id)
    mailing = mailing_sent(partner_id, "c1", 5000)
    await publish("mailing.sent", mailing, partner_id)
    await publish("mailing.sent", mailing, partner_id)  # delivered twice

    async def charged() -> bool:
        return "ChargeSucceeded" in await history_types(ledger_api, partner_id)

    await eventually(charged, timeout=30, what="the charge to succeed")
    charge_id = f"{partner_id}:charge:{mailing.data['mailing_id']}"
    intents = await intents_for(stripe_client, card["customer"], charge_id)
    # 5,000 recipients = 5,250 credits = EUR 52.50, charged once.
    assert [(pi.amount, pi.status) for pi in intents] == [(5250, "succeeded")]
    types = await history_types(ledger_api, partner_id)
    assert types.count("ChargeRequested") == 1
    assert types.count("ChargeSucceeded") == 1


async def test_reconcile_finds_a_payment_the_ledger_does_not_know(
    ledger_api: httpx.AsyncClient,  # noqa: F811
    ledger_settings: LedgerSettings,
    local_stripe: Any,
    stripe_client: stripe.StripeClient,
) -> None:
    settings = ledger_settings.model_copy(update={"stripe_api_base": local_stripe.url})
    engine = create_engine(settings.database_url)
    try:
        # Other tests of the session pay through the same Stripe server without this ledger (and
        # some hand the ledger made-up results): those differences exist already. Every payment
        # the flows above made must agree, and what this test plants must be the only new one.
        ledger_side = await ledger_payments(engine)
        before = compare(ledger_side, await gateway_payments(stripe_client))
        ours = {r for r, p in ledger_side.items() if p.partner_id in FLOW_PARTNERS}
        assert len(ours) >= 3
        assert [m for m in before if m.request_id in ours] == []

        card = await saved_method(stripe_client, card="4242424242424242")
        stray = unique("stray")
        await stripe_client.v1.payment_intents.create_async(
            {
                "amount": 777,
                "currency": "eur",
                "customer": card["customer"],
                "payment_method": card["payment_method"],
                "off_session": True,
                "confirm": True,
                "metadata": {"request_id": stray, "partner_id": "p-stray"},
            }
        )
        after = compare(await ledger_payments(engine), await gateway_payments(stripe_client))
    finally:
        await engine.dispose()
    new = [(m.request_id, m.partner_id, m.problem) for m in after if m not in before]
    assert new == [(stray, "p-stray", "paid at the gateway, unknown to the ledger")]
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["ops", "reconcile"],
        env={
            "LEDGER_DATABASE_URL": settings.database_url,
            "LEDGER_STRIPE_API_BASE": local_stripe.url,
        },
    )
    assert result.exit_code == 1, result.output
    assert stray in result.output
