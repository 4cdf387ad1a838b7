"""Partners bill their customers: usage per customer and day, resale contracts, statements
priced by the real pricing service, the monthly statement run, and tenant isolation."""

import asyncio
import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from babel.numbers import format_currency
from sqlalchemy import text

from ledger.adapters.rebuild import PROJECTION_TABLES, compare, rebuild
from ledger.settings import LedgerSettings
from shared.database import create_engine
from tests.integration.conftest import ADMIN_HEADERS
from tests.integration.ledger.conftest import (
    Publish,
    eventually,
    new_partner,
    read_topic,
    unique,
)
from tests.integration.ledger.test_ledger_ops import run_cli
from tests.support.messages import mailing_sent
from tests.support.price_lists import resale_price_list

pytestmark = pytest.mark.usefixtures("ledger_workers")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def credits_debited(api: httpx.AsyncClient, partner_id: str, customer_id: str) -> list[int]:
    events = (await api.get(f"/v1/partners/{partner_id}/events?limit=1000")).json()["events"]
    return [
        e["payload"]["credits"]
        for e in events
        if e["type"] == "MailingDebited" and e["payload"]["customer_id"] == customer_id
    ]


async def quiet(settings: LedgerSettings, seconds: float = 2.0) -> None:
    """Wait until no event has been appended for ``seconds``."""
    engine = create_engine(settings.database_url)
    try:
        last, since = None, asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - since < seconds:
            async with engine.connect() as connection:
                found = (
                    await connection.execute(text("SELECT max(global_position) FROM events"))
                ).scalar()
            if found != last:
                last, since = found, asyncio.get_running_loop().time()
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def pricing_quote(pricing_url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=pricing_url) as client:
        response = await client.post("/v1/quotes", json=body)
    assert response.status_code == 200, response.text
    quote: dict[str, Any] = response.json()
    return quote


async def test_usage_contracts_statements_and_the_statement_run(
    ledger_api: httpx.AsyncClient,
    publish: Publish,
    pricing_url: str,
    ledger_settings: LedgerSettings,
) -> None:
    price_list_id = unique("resale")
    async with httpx.AsyncClient(base_url=pricing_url, headers=ADMIN_HEADERS) as client:
        created = await client.post("/v1/price-lists", json=resale_price_list(price_list_id))
        assert created.status_code == 201, created.text
    partner_id, token = await new_partner(ledger_api, customers=2)
    other_id, other_token = await new_partner(ledger_api)
    customer = f"/v1/partners/{partner_id}/customers/c1"

    # Contracts: checked with the pricing service, the field at fault named.
    terms = {
        "price_list_id": price_list_id,
        "plan_variant_id": "basic_monthly",
        "starts_on": "2026-10-10",
        "booked": {"seats": "2"},
    }
    for wrong, field in (
        ({"price_list_id": "no-such-list"}, "$.price_list_id"),
        ({"plan_variant_id": "gold"}, "$.plan_variant_id"),
        ({"booked": {"rockets": "1"}}, "$.booked.rockets"),
        ({"starts_on": "2019-12-31"}, "$.starts_on"),
    ):
        refused = await ledger_api.put(f"{customer}/contract", json={**terms, **wrong})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == field, refused.text
    assert (await ledger_api.get(f"{customer}/contract")).status_code == 404
    put = await ledger_api.put(f"{customer}/contract", json=terms)
    assert put.status_code == 200, put.text
    contract = put.json()
    assert contract["billing_anchor"] == "2026-10-01"  # calendar months by default
    assert contract["billing_period"] == "P1M"
    assert contract["booked"] == {"seats": "2"}
    assert (await ledger_api.get(f"{customer}/contract")).json() == contract
    again = await ledger_api.put(f"{customer}/contract", json=terms)
    assert again.json() == contract  # the same terms again change nothing
    changed = [
        e
        for e in (await ledger_api.get(f"/v1/partners/{partner_id}/events")).json()["events"]
        if e["type"] == "ContractChanged"
    ]
    assert len(changed) == 1

    # Mailings around a day boundary, one in November, another customer's, and a late event
    # (published last, sent earliest) that must land on its own day.
    sends = [
        ("c1", 800, "2026-10-20T23:59:59"),
        ("c1", 700, "2026-10-21T00:00:01"),
        ("c2", 5000, "2026-10-21T10:00:00"),
        ("c1", 600, "2026-11-03T08:00:00"),
        ("c1", 600, "2026-11-25T08:00:00"),
        ("c1", 300, "2026-10-12T09:00:00"),
    ]
    for customer_id, recipients, sent_at in sends:
        message = mailing_sent(partner_id, customer_id, recipients, sent_at=at(sent_at))
        await publish("mailing.sent", message, partner_id)

    async def all_debited() -> bool:
        return len(await credits_debited(ledger_api, partner_id, "c1")) == 5

    await eventually(all_debited, what="five debits of c1")

    october = await ledger_api.get(f"{customer}/usage?from=2026-10-01&to=2026-11-01")
    assert october.status_code == 200, october.text
    usage = october.json()
    assert usage["from"] == "2026-10-01" and usage["to"] == "2026-11-01"
    assert [(d["date"], d["mailings"], d["recipients"]) for d in usage["days"]] == [
        ("2026-10-12", 1, 300),
        ("2026-10-20", 1, 800),
        ("2026-10-21", 1, 700),
    ]
    assert (usage["mailings"], usage["recipients"]) == (3, 1800)
    assert usage["credits"] == 315 + 840 + 735
    whole = (await ledger_api.get(f"{customer}/usage?from=2026-01-01&to=2027-01-01")).json()
    assert whole["credits"] == sum(await credits_debited(ledger_api, partner_id, "c1"))
    assert whole["recipients"] == 800 + 700 + 600 + 600 + 300

    as_csv = await ledger_api.get(
        f"{customer}/usage?from=2026-10-01&to=2026-11-01", headers={"Accept": "text/csv"}
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["date"], int(r["recipients"])) for r in rows] == [
        ("2026-10-12", 300),
        ("2026-10-20", 800),
        ("2026-10-21", 700),
    ]
    per_customer = await ledger_api.get(
        f"/v1/partners/{partner_id}/usage?from=2026-10-01&to=2026-11-01"
    )
    assert [(c["customer_id"], c["recipients"]) for c in per_customer.json()["customers"]] == [
        ("c1", 1800),
        ("c2", 5000),
    ]
    per_customer_csv = await ledger_api.get(
        f"/v1/partners/{partner_id}/usage?from=2026-10-01&to=2026-11-01",
        headers={"Accept": "text/csv"},
    )
    assert [r["customer_id"] for r in csv.DictReader(io.StringIO(per_customer_csv.text))] == [
        "c1",
        "c2",
    ]

    # October: the first period runs from the contract's start (22 of 31 days, prorated) with
    # the setup fee; it equals the pricing service's own quote of the same mailings.
    first = await ledger_api.get(
        f"{customer}/statement?period_start=2026-10-01&period_end=2026-11-01"
    )
    assert first.status_code == 200, first.text
    statement = first.json()
    own = await pricing_quote(
        pricing_url,
        {
            "price_list_id": price_list_id,
            "plan_variant_id": "basic_monthly",
            "period_start": "2026-10-10",
            "period_end": "2026-11-01",
            "billing_anchor": "2026-10-01",
            "first_invoice": True,
            "booked": {"seats": "2"},
            "usage": {"recipients": ["800", "700", "300"]},  # one report per mailing
        },
    )
    assert statement["quote"] == own
    assert statement["period_start"] == "2026-10-10"
    assert statement["usage"] == {"mailings": 3, "recipients": 1800, "credits": 1890}
    assert own["proration"] == {"days": 22, "period_days": 31}
    kinds = [line["kind"] for line in own["lines"]]
    assert kinds[0] == "setup_fee"
    metered = own["lines"][-1]
    assert (metered["quantity"], metered["evaluation"]["billable_quantity"]) == ("1800", "800")

    # November: a full month, no setup fee; the free quota applies to the period's total
    # (two mailings of 600: each alone is free, together 200 are billable).
    second = (
        await ledger_api.get(f"{customer}/statement?period_start=2026-11-01&period_end=2026-12-01")
    ).json()
    own = await pricing_quote(
        pricing_url,
        {
            "price_list_id": price_list_id,
            "plan_variant_id": "basic_monthly",
            "period_start": "2026-11-01",
            "period_end": "2026-12-01",
            "billing_anchor": "2026-10-01",
            "booked": {"seats": "2"},
            "usage": {"recipients": ["600", "600"]},
        },
    )
    assert second["quote"] == own
    assert own["proration"] is None
    assert "setup_fee" not in [line["kind"] for line in own["lines"]]
    assert own["lines"][-1]["evaluation"]["billable_quantity"] == "200"

    # CSV: one row per quote line, adding up to the total; HTML: the total, German style.
    csv_answer = await ledger_api.get(
        f"{customer}/statement?period_start=2026-10-01&period_end=2026-11-01",
        headers={"Accept": "text/csv"},
    )
    lines = list(csv.DictReader(io.StringIO(csv_answer.text)))
    assert [line["kind"] for line in lines] == kinds
    assert sum(Decimal(line["exact_amount"]) for line in lines) == Decimal(
        statement["quote"]["exact_total"]
    )
    html = await ledger_api.get(
        f"{customer}/statement?period_start=2026-10-01&period_end=2026-11-01",
        headers={"Accept": "text/html"},
    )
    assert html.headers["content-type"].startswith("text/html")
    total = format_currency(Decimal(statement["quote"]["total"]), "EUR", locale="de_DE")
    assert total in html.text and "Abrechnung" in html.text
    assert "10.10.2026 bis 31.10.2026" in html.text

    # Tenants stay apart: another partner's token sees none of it; the partner's own does.
    own_headers = {"Authorization": f"Bearer {token}"}
    other_headers = {"Authorization": f"Bearer {other_token}"}
    for path in (
        f"{customer}/usage?from=2026-10-01&to=2026-11-01",
        f"/v1/partners/{partner_id}/usage?from=2026-10-01&to=2026-11-01",
        f"{customer}/contract",
        f"{customer}/statement?period_start=2026-10-01&period_end=2026-11-01",
    ):
        assert (await ledger_api.get(path, headers=other_headers)).status_code == 404, path
        assert (await ledger_api.get(path, headers=own_headers)).status_code == 200, path
    stolen = await ledger_api.put(f"{customer}/contract", json=terms, headers=other_headers)
    assert stolen.status_code == 404
    assert (
        await ledger_api.get(
            f"/v1/partners/{other_id}/customers/c2/usage?from=2026-10-01&to=2026-11-01",
        )
    ).status_code == 404  # the other partner has no customer c2

    # The statement run issues October once; a second run issues nothing new.
    code, output = await asyncio.to_thread(
        run_cli, ledger_settings, "statements", "--period", "2026-10"
    )
    assert code == 0, output
    assert partner_id in output
    code, output = await asyncio.to_thread(
        run_cli, ledger_settings, "statements", "--period", "2026-10"
    )
    assert code == 0, output
    assert "issued 0," in output
    events = (await ledger_api.get(f"/v1/partners/{partner_id}/events")).json()["events"]
    issued = [e["payload"] for e in events if e["type"] == "StatementIssued"]
    assert len(issued) == 1
    assert issued[0]["quote"] == statement["quote"]
    assert (issued[0]["period_start"], issued[0]["period_end"]) == ("2026-10-10", "2026-11-01")
    messages = await read_topic(ledger_settings, "ledger.statements", key=partner_id, timeout=10)
    data = [orjson.loads(value)["data"] for _, value in messages if value]
    assert [(d["customer_id"], d["total"], d["credits"]) for d in data] == [
        ("c1", statement["quote"]["total"], 1890)
    ]

    # A contract change may not reach back into an invoiced period.
    back = await ledger_api.put(f"{customer}/contract", json={**terms, "starts_on": "2026-10-20"})
    assert back.status_code == 409, back.text

    # Replay rebuilds usage, contracts and statements from the events: no drift for this
    # partner. (Other tests tamper with their own partners' events on purpose, and earlier
    # tests' mailings may still be arriving: a stream written during the replay would differ.)
    await quiet(ledger_settings)
    engine = create_engine(ledger_settings.database_url)
    try:
        await rebuild(engine, "replay_statements")
        drift = await compare(engine, "replay_statements")
    finally:
        await engine.dispose()
    mine = [d for d in drift if d.key == partner_id or d.key.startswith(f"{partner_id}/")]
    assert mine == []
    rebuilt_tables = {"customer_usage_daily", "customer_contracts", "statements"}
    assert rebuilt_tables <= set(PROJECTION_TABLES)
