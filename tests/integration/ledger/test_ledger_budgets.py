"""Customer budgets and balance alert levels against the real PostgreSQL, Kafka and pricing:
the budget refuses the reservation that would pass it (two racing ones never both pass), a
debit past the budget is recorded and alerted, each alert level fires once per crossing and
recovers, and every alert leaves on `ledger.notifications` valid against its JSON Schema."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from ledger.api.app import create_app
from ledger.settings import LedgerSettings
from shared.codec import decode
from tests.integration.conftest import OPS_TOKEN
from tests.integration.ledger.conftest import (
    Publish,
    balance,
    eventually,
    new_partner,
    read_topic,
)
from tests.support.clients import app_client
from tests.support.messages import mailing_sent

pytestmark = pytest.mark.usefixtures("ledger_workers")


@pytest.fixture
async def second_worker(ledger_settings: LedgerSettings) -> AsyncIterator[httpx.AsyncClient]:
    """Another API worker: its own app, engine and connections, as a second process has."""
    app = create_app(ledger_settings)
    async with app_client(app, OPS_TOKEN, base_url="http://ledger-2") as client:
        yield client


async def grant(api: httpx.AsyncClient, partner_id: str, credits: int) -> None:
    granted = await api.post(
        f"/v1/partners/{partner_id}/credits/grants", json={"credits": credits, "reason": "x"}
    )
    assert granted.status_code == 201, granted.text


async def adjust(api: httpx.AsyncClient, partner_id: str, delta: int) -> None:
    adjusted = await api.post(
        f"/v1/partners/{partner_id}/credits/adjustments", json={"delta": delta, "reason": "x"}
    )
    assert adjusted.status_code == 201, adjusted.text


async def set_budget(
    api: httpx.AsyncClient, partner_id: str, monthly: int | None, percents: list[int]
) -> dict[str, Any]:
    put = await api.put(
        f"/v1/partners/{partner_id}/customers/c1/budget",
        json={"monthly_credits": monthly, "alert_percents": percents},
    )
    assert put.status_code == 200, put.text
    body: dict[str, Any] = put.json()
    return body


async def reserve(
    api: httpx.AsyncClient, partner_id: str, rid: str, credits: int, customer: str = "c1"
) -> httpx.Response:
    return await api.post(
        f"/v1/partners/{partner_id}/reservations",
        headers={"Idempotency-Key": rid},
        json={"reservation_id": rid, "credits": credits, "customer_id": customer},
    )


async def history_types(api: httpx.AsyncClient, partner_id: str) -> list[dict[str, Any]]:
    page = await api.get(f"/v1/partners/{partner_id}/events", params={"limit": 1000})
    assert page.status_code == 200, page.text
    events: list[dict[str, Any]] = page.json()["events"]
    return events


async def notifications(settings: LedgerSettings, partner_id: str, count: int) -> list[Any]:
    """The partner's messages on `ledger.notifications`, once ``count`` are there; decoding
    checks each against its JSON Schema."""

    async def arrived() -> bool:
        return len(await read_topic(settings, "ledger.notifications", key=partner_id)) >= count

    await eventually(arrived, what=f"{count} notifications of {partner_id}")
    found = await read_topic(settings, "ledger.notifications", key=partner_id)
    return [decode(value, list(headers.items())) for headers, value in found]


async def test_a_budget_is_set_read_and_validated_and_only_by_its_partner(
    ledger_api: httpx.AsyncClient,
) -> None:
    partner_id, token = await new_partner(ledger_api)
    other_id, other_token = await new_partner(ledger_api)
    month = datetime.now(UTC).strftime("%Y-%m")
    empty = await ledger_api.get(f"/v1/partners/{partner_id}/customers/c1/budget")
    assert empty.json() == {
        "partner_id": partner_id,
        "customer_id": "c1",
        "monthly_credits": None,
        "alert_percents": [],
        "used": 0,
        "held": 0,
        "remaining": None,
        "month": month,
    }
    own = {"Authorization": f"Bearer {token}"}
    put = await ledger_api.put(
        f"/v1/partners/{partner_id}/customers/c1/budget",
        headers=own,
        json={"monthly_credits": 5000, "alert_percents": [80, 100]},
    )
    assert put.status_code == 200, put.text
    assert (put.json()["monthly_credits"], put.json()["remaining"]) == (5000, 5000)

    for body, field in (
        ({"monthly_credits": -1, "alert_percents": []}, "$.monthly_credits"),
        ({"monthly_credits": 10, "alert_percents": [100, 80]}, "$.alert_percents"),
        ({"monthly_credits": 10, "alert_percents": [0]}, "$.alert_percents[0]"),
        ({"monthly_credits": 10, "alert_percents": [1001]}, "$.alert_percents[0]"),
        ({"alert_percents": [80]}, "$.monthly_credits"),
    ):
        refused = await ledger_api.put(
            f"/v1/partners/{partner_id}/customers/c1/budget", headers=own, json=body
        )
        assert refused.status_code == 422, body
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["field"] == field, refused.json()

    stranger = {"Authorization": f"Bearer {other_token}"}
    for method in ("GET", "PUT"):
        foreign = await ledger_api.request(
            method,
            f"/v1/partners/{partner_id}/customers/c1/budget",
            headers=stranger,
            json={"monthly_credits": 1, "alert_percents": []} if method == "PUT" else None,
        )
        assert foreign.status_code == 404, (method, foreign.text)
    unknown = await ledger_api.get(f"/v1/partners/{other_id}/customers/nobody/budget")
    assert unknown.status_code == 404
    removed = await set_budget(ledger_api, partner_id, None, [])
    assert (removed["monthly_credits"], removed["remaining"]) == (None, None)


async def test_the_reservation_that_would_pass_the_budget_is_refused(
    ledger_api: httpx.AsyncClient,
) -> None:
    partner_id, _ = await new_partner(ledger_api)
    await grant(ledger_api, partner_id, 100_000)
    await set_budget(ledger_api, partner_id, 1_000, [80, 100])
    held = await reserve(ledger_api, partner_id, "r-1", 700)
    assert held.status_code == 201
    # The hold names whose budget it counts against, when created and when read back.
    assert held.json()["customer_id"] == "c1"
    read = await ledger_api.get(f"/v1/partners/{partner_id}/reservations/r-1")
    assert read.json()["customer_id"] == "c1"
    refused = await reserve(ledger_api, partner_id, "r-2", 301)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"].endswith("budget-exceeded")
    assert (problem["used"], problem["held"], problem["remaining"]) == (0, 700, 300)
    # Holds without a customer are outside every budget.
    unbudgeted = await ledger_api.post(
        f"/v1/partners/{partner_id}/reservations",
        headers={"Idempotency-Key": "r-3"},
        json={"reservation_id": "r-3", "credits": 5_000},
    )
    assert unbudgeted.status_code == 201, unbudgeted.text
    assert (await reserve(ledger_api, partner_id, "r-4", 300)).status_code == 201
    view = (await ledger_api.get(f"/v1/partners/{partner_id}/customers/c1/budget")).json()
    assert (view["used"], view["held"], view["remaining"]) == (0, 1_000, 0)


async def test_two_racing_reservations_never_both_pass_the_budget(
    ledger_api: httpx.AsyncClient, second_worker: httpx.AsyncClient
) -> None:
    for round_ in range(3):
        partner_id, _ = await new_partner(ledger_api)
        await grant(ledger_api, partner_id, 100_000)
        await set_budget(ledger_api, partner_id, 1_000, [])
        # Six reservations of 300 at once, through two API workers: three fit, never four.
        answers = await asyncio.gather(
            *(
                reserve(ledger_api if n % 2 else second_worker, partner_id, f"r{round_}-{n}", 300)
                for n in range(6)
            )
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses in ([201] * 3 + [409] * 3, [201] * 3 + [409] * 2 + [503]), statuses
        view = (await ledger_api.get(f"/v1/partners/{partner_id}/customers/c1/budget")).json()
        assert (view["held"], view["remaining"]) == (900, 100)
        assert (await balance(ledger_api, partner_id))["held"] == 900


async def test_a_debit_past_the_budget_is_recorded_and_alerted(
    ledger_api: httpx.AsyncClient, publish: Publish, ledger_settings: LedgerSettings
) -> None:
    partner_id, _ = await new_partner(ledger_api)
    await grant(ledger_api, partner_id, 100_000)
    await set_budget(ledger_api, partner_id, 2_000, [50, 100])
    # 2,000 recipients cost 2,100 credits: past the budget, and sent all the same.
    await publish("mailing.sent", mailing_sent(partner_id, "c1", 2_000), partner_id)

    async def debited() -> bool:
        return bool((await balance(ledger_api, partner_id))["balance"] == 100_000 - 2_100)

    await eventually(debited, what="the debit past the budget")
    alerts = [
        e["payload"]
        for e in await history_types(ledger_api, partner_id)
        if e["type"] == "CustomerBudgetAlert"
    ]
    month = datetime.now(UTC).strftime("%Y-%m")
    assert [(a["percent"], a["used"], a["monthly_credits"], a["month"]) for a in alerts] == [
        (50, 2_100, 2_000, month),
        (100, 2_100, 2_000, month),
    ]
    view = (await ledger_api.get(f"/v1/partners/{partner_id}/customers/c1/budget")).json()
    assert (view["used"], view["remaining"]) == (2_100, 0)
    refused = await reserve(ledger_api, partner_id, "r-after", 1)
    assert refused.status_code == 409 and refused.json()["used"] == 2_100

    messages = await notifications(ledger_settings, partner_id, 2)
    assert [(m.type, m.data["percent"]) for m in messages] == [
        ("ledger.customer_budget_alert", 50),
        ("ledger.customer_budget_alert", 100),
    ]
    assert messages[0].data["customer_name"] == "C1"


async def test_a_budget_without_alert_percents_alerts_at_80_and_100_percent(
    ledger_api: httpx.AsyncClient, publish: Publish
) -> None:
    partner_id, _ = await new_partner(ledger_api, customers=2)
    await grant(ledger_api, partner_id, 100_000)
    base = f"/v1/partners/{partner_id}/customers"
    default = await ledger_api.put(f"{base}/c1/budget", json={"monthly_credits": 2_000})
    assert default.status_code == 200, default.text
    assert default.json()["alert_percents"] == [80, 100]
    silent = await ledger_api.put(
        f"{base}/c2/budget", json={"monthly_credits": 2_000, "alert_percents": []}
    )
    assert silent.status_code == 200, silent.text
    assert silent.json()["alert_percents"] == []
    # 2,000 recipients cost 2,100 credits each: both customers go past their budgets.
    for customer in ("c1", "c2"):
        await publish("mailing.sent", mailing_sent(partner_id, customer, 2_000), partner_id)

    async def debited() -> bool:
        return bool((await balance(ledger_api, partner_id))["balance"] == 100_000 - 4_200)

    await eventually(debited, what="both debits past the budgets")
    alerts = [
        (e["payload"]["customer_id"], e["payload"]["percent"])
        for e in await history_types(ledger_api, partner_id)
        if e["type"] == "CustomerBudgetAlert"
    ]
    assert alerts == [("c1", 80), ("c1", 100)]


async def test_each_alert_level_fires_once_per_crossing_and_recovers(
    ledger_api: httpx.AsyncClient, ledger_settings: LedgerSettings
) -> None:
    partner_id, _ = await new_partner(
        ledger_api, billing={"billing_mode": "prepaid", "reminder_thresholds": [1_000, 2_000]}
    )
    billing = (await ledger_api.get(f"/v1/partners/{partner_id}/billing")).json()
    assert billing["reminder_thresholds"] == [2_000, 1_000]
    # 0 -> 3,000: both levels were set above the balance and never fired: armed, no recovery
    await grant(ledger_api, partner_id, 3_000)
    for delta in (-1_500, -100, -1_000, 1_500, -1_000):
        await adjust(ledger_api, partner_id, delta)
    # 3,000 -> 1,500 (2,000 falls) -> 1,400 -> 400 (1,000 falls) -> 1,900 (1,000 recovers)
    # -> 900 (1,000 falls again; 2,000 stays fallen)
    expected = [
        ("BalanceThresholdCrossed", 2_000, 1_500),
        ("BalanceThresholdCrossed", 1_000, 400),
        ("BalanceRecovered", 1_000, 1_900),
        ("BalanceThresholdCrossed", 1_000, 900),
    ]
    alerts = [
        (e["type"], e["payload"]["threshold"], e["payload"]["balance"])
        for e in await history_types(ledger_api, partner_id)
        if e["type"] in ("BalanceThresholdCrossed", "BalanceRecovered", "BalanceThresholdArmed")
    ]
    assert alerts == [
        ("BalanceThresholdArmed", 1_000, 3_000),
        ("BalanceThresholdArmed", 2_000, 3_000),
        *expected,
    ]
    messages = await notifications(ledger_settings, partner_id, len(expected))
    kinds = {
        "ledger.balance_threshold_crossed": "BalanceThresholdCrossed",
        "ledger.balance_recovered": "BalanceRecovered",
    }
    assert [(kinds[m.type], m.data["threshold"], m.data["balance"]) for m in messages] == expected
