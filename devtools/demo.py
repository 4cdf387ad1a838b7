"""`make demo`: a simulated mailing platform sends mailings for a few partners while a live
terminal view shows balances, holds, reminders, purchases and charges as the ledger records them,
and each partner's customers with their usage this month and the running statement the partner
will invoice them from (their contracts are on the partner's own resale price list).

Needs the system running (`make run` in another terminal). Ctrl-C ends the demo.
"""

import asyncio
import contextlib
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import stripe
import typer
from aiokafka import AIOKafkaProducer
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from shared.codec import encode
from tests.support.clients import create_price_lists
from tests.support.messages import mailing_sent
from tests.support.price_lists import CREDIT_PRICE_LIST, MAILING_PRICE_LIST, resale_price_list


class DemoSettings(BaseSettings):
    """Where the running system is (the same variables the services read)."""

    model_config = SettingsConfigDict(env_prefix="LEDGER_")

    ops_token: str = "ops-secret-change-me"
    port: int = 8002
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    pricing_url: str = "http://127.0.0.1:8001"
    # The demo creates its price lists, a write that takes the pricing service's admin token.
    pricing_admin_token: str = Field(
        default="pricing-admin-change-me", validation_alias="PRICING_ADMIN_TOKEN"
    )
    topic_prefix: str = ""
    stripe_api_key: str = "sk_test_local"
    stripe_api_base: str = "http://127.0.0.1:8420"


# The canonical lists (tests/support), and a partner's own price list for its customers.
RESALE_PRICE_LIST_ID = "demo-resale"
PRICE_LISTS: list[dict[str, Any]] = [
    MAILING_PRICE_LIST,
    CREDIT_PRICE_LIST,
    resale_price_list(RESALE_PRICE_LIST_ID),
]

# Each demo customer's plan on the resale list, booked seats too.
CONTRACTS: dict[str, tuple[str, dict[str, str]]] = {
    "newsletter": ("basic_monthly", {}),
    "shop": ("basic_monthly", {"seats": "3"}),
    "events": ("basic_monthly", {"seats": "1"}),
}


def this_month() -> tuple[date, date]:
    start = datetime.now(UTC).date().replace(day=1)
    return start, (start + timedelta(days=32)).replace(day=1)


async def saved_card(settings: DemoSettings) -> dict[str, str]:
    """A customer with a test card at the Stripe API server (`make run` starts a local one),
    as a partner portal would have saved it."""
    client = stripe.StripeClient(
        settings.stripe_api_key,
        base_addresses={"api": settings.stripe_api_base},
        http_client=stripe.HTTPXClient(),
    )
    customer = await client.v1.customers.create_async({"email": "billing@demo.example"})
    method = await client.v1.payment_methods.create_async(
        {
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        }
    )
    await client.v1.payment_methods.attach_async(method.id, {"customer": customer.id})
    return {"type": "card", "customer": customer.id, "payment_method": method.id}


@dataclass
class DemoPartner:
    partner_id: str
    name: str
    billing: dict[str, Any]
    starting_credits: int
    seen_version: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    last: str = ""


def demo_partners(run: str, card: dict[str, str]) -> list[DemoPartner]:
    return [
        DemoPartner(
            f"demo-nord-{run}",
            "Agentur Nord (prepaid, reminder + auto-purchase)",
            {
                "billing_mode": "prepaid",
                "reminder_threshold": 15000,
                "auto_purchase": {"credits": 25000, "trigger_threshold": 5000},
                "payment_method": card,
            },
            40000,
        ),
        DemoPartner(
            f"demo-sued-{run}",
            "Studio Süd (prepaid, reminder only)",
            {"billing_mode": "prepaid", "reminder_threshold": 10000},
            30000,
        ),
        DemoPartner(
            f"demo-ost-{run}",
            "Shop Ost (on demand, card)",
            {"billing_mode": "on_demand", "payment_method": card},
            0,
        ),
    ]


async def register(api: httpx.AsyncClient, partner: DemoPartner) -> None:
    created = await api.post(
        "/v1/partners",
        json={
            "partner_id": partner.partner_id,
            "name": partner.name,
            "credit_price_list_id": CREDIT_PRICE_LIST["id"],
            "mailing_price_list_id": MAILING_PRICE_LIST["id"],
            "billing": partner.billing,
        },
    )
    created.raise_for_status()
    for customer in ("newsletter", "shop", "events"):
        added = await api.post(
            f"/v1/partners/{partner.partner_id}/customers",
            json={"customer_id": customer, "name": customer.title()},
        )
        added.raise_for_status()
    if partner.starting_credits:
        granted = await api.post(
            f"/v1/partners/{partner.partner_id}/credits/grants",
            json={"credits": partner.starting_credits, "reason": "demo starting balance"},
        )
        granted.raise_for_status()
    for customer, (variant, booked) in CONTRACTS.items():
        contracted = await api.put(
            f"/v1/partners/{partner.partner_id}/customers/{customer}/contract",
            json={
                "price_list_id": RESALE_PRICE_LIST_ID,
                "plan_variant_id": variant,
                "starts_on": this_month()[0].isoformat(),
                "booked": booked,
            },
        )
        contracted.raise_for_status()


async def customers_table(api: httpx.AsyncClient, partners: list[DemoPartner]) -> Table:
    """Each partner's customers: usage this month and the running statement (what the partner
    will invoice) against what the same mailings cost the partner in credits."""
    start, end = this_month()
    table = Table(title=f"customers, {start:%B %Y} so far", expand=True)
    for column in ("partner", "customer", "plan", "mailings", "recipients", "credits", "invoice"):
        table.add_column(
            column, justify="left" if column in ("partner", "customer", "plan") else "right"
        )
    for partner in partners:
        for customer, (variant, _) in CONTRACTS.items():
            answer = await api.get(
                f"/v1/partners/{partner.partner_id}/customers/{customer}/statement",
                params={"period_start": start.isoformat(), "period_end": end.isoformat()},
            )
            if answer.status_code != 200:
                continue
            statement = answer.json()
            usage, quote = statement["usage"], statement["quote"]
            table.add_row(
                partner.name.split(" (")[0],
                customer,
                variant,
                f"{usage['mailings']:,}",
                f"{usage['recipients']:,}",
                f"{usage['credits']:,}",
                f"{quote['currency']} {quote['total']}",
            )
    return table


async def send_mailings(
    api: httpx.AsyncClient,
    producer: AIOKafkaProducer,
    topic: str,
    partners: list[DemoPartner],
    stop: asyncio.Event,
) -> None:
    """A few mailings a second; some are announced with a hold first, as a careful platform does."""
    rng = random.Random()
    n = 0
    while not stop.is_set():
        n += 1
        partner = rng.choice(partners)
        recipients = rng.choice([120, 800, 2500, 4000, 6000])
        reservation_id = None
        if n % 4 == 0 and partner.billing["billing_mode"] == "prepaid":
            reservation_id = f"hold-{partner.partner_id}-{n}"
            held = await api.post(
                f"/v1/partners/{partner.partner_id}/reservations",
                json={"reservation_id": reservation_id, "credits": int(recipients * 1.05) + 50},
                headers={"Idempotency-Key": reservation_id},
            )
            if held.status_code != 201:
                reservation_id = None  # not enough available: the platform sends anyway
            await asyncio.sleep(0.4)
        event = mailing_sent(
            partner.partner_id,
            rng.choice(["newsletter", "shop", "events"]),
            recipients,
            reservation_id=reservation_id,
        )
        await producer.send_and_wait(topic, encode(event), key=partner.partner_id.encode())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=rng.uniform(0.3, 1.2))


async def refresh(api: httpx.AsyncClient, partners: list[DemoPartner]) -> Table:
    table = Table(expand=True)
    for column in ("partner", "balance", "held", "available", "debt"):
        table.add_column(column, justify="right" if column != "partner" else "left")
    for column in ("mailings", "reminders", "purchases", "charges", "last event"):
        table.add_column(column, justify="right" if column != "last event" else "left")
    for partner in partners:
        balance = (await api.get(f"/v1/partners/{partner.partner_id}/balance")).json()
        page = (
            await api.get(
                f"/v1/partners/{partner.partner_id}/events",
                params={"after": partner.seen_version, "limit": 1000},
            )
        ).json()
        for event in page["events"]:
            partner.counts[event["type"]] += 1
            partner.seen_version = event["version"]
            partner.last = event["type"]
        style = "red" if balance["balance"] < 0 else "green"
        table.add_row(
            partner.name,
            f"[{style}]{balance['balance']:,}[/]",
            f"{balance['held']:,}",
            f"{balance['available']:,}",
            f"{balance['debt']:,}",
            str(partner.counts["MailingDebited"]),
            str(partner.counts["LowBalanceReached"]),
            f"{partner.counts['PurchaseRequested']} asked / "
            f"{partner.counts['PurchaseSucceeded']} paid",
            str(partner.counts["ChargeRequested"]),
            partner.last,
        )
    return table


async def run(duration: float | None) -> None:
    settings = DemoSettings()
    run_id = datetime.now(UTC).strftime("%H%M%S")
    partners = demo_partners(run_id, await saved_card(settings))
    stop = asyncio.Event()
    async with (
        httpx.AsyncClient(
            base_url=settings.pricing_url,
            headers={"Authorization": f"Bearer {settings.pricing_admin_token}"},
        ) as pricing,
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{settings.port}",
            headers={"Authorization": f"Bearer {settings.ops_token}"},
        ) as api,
    ):
        await create_price_lists(pricing, PRICE_LISTS, existing_ok=True)
        for partner in partners:
            await register(api, partner)
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers, enable_idempotence=True
        )
        await producer.start()
        sender = asyncio.create_task(
            send_mailings(api, producer, settings.topic_prefix + "mailing.sent", partners, stop)
        )
        started = asyncio.get_running_loop().time()
        statements = Table()
        rounds = 0
        try:
            with Live(refresh_per_second=4) as live:
                while duration is None or asyncio.get_running_loop().time() - started < duration:
                    table = await refresh(api, partners)
                    if rounds % 6 == 0:  # statements every 3 s: each one is a pricing quote
                        statements = await customers_table(api, partners)
                    rounds += 1
                    live.update(
                        Group(
                            Panel(
                                "A simulated mailing platform sends mailing.sent to Kafka; the "
                                "ledger debits 1.05 credits per recipient.\nReminders fire once "
                                "per crossing, auto-purchase when the trigger is reached, "
                                "on-demand partners are charged from EUR 0.50. Ctrl-C ends.",
                                title="mailbill demo",
                            ),
                            table,
                            statements,
                        )
                    )
                    await asyncio.sleep(0.5)
        finally:
            stop.set()
            await sender
            await producer.stop()


def main(
    duration: float | None = typer.Option(None, help="Stop after this many seconds"),
) -> None:
    """Simulate a mailing platform and watch the ledger live."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(duration))


if __name__ == "__main__":
    typer.run(main)
