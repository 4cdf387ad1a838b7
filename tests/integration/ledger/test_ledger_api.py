"""The ledger's HTTP API against the real database and pricing service."""

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from ledger.bootstrap import bootstrap
from ledger.entrypoints import expire_due_reservations
from ledger.settings import LedgerSettings
from tests.integration.ledger.conftest import balance, new_partner, unique
from tests.support.price_lists import CREDIT_PRICE_LIST, MAILING_PRICE_LIST


async def test_ops_registers_a_partner_and_its_token_sees_only_its_own_account(
    ledger_api: httpx.AsyncClient,
) -> None:
    partner_id, token = await new_partner(ledger_api)
    other_id, _ = await new_partner(ledger_api)
    as_partner = {"Authorization": f"Bearer {token}"}

    own = await ledger_api.get(f"/v1/partners/{partner_id}/balance", headers=as_partner)
    assert own.status_code == 200
    assert own.json() == {
        "partner_id": partner_id,
        "balance": 0,
        "held": 0,
        "available": 0,
        "debt": 0,
        "debt_minor": 0,
        "version": 2,  # registered, one customer attached
    }
    other = await ledger_api.get(f"/v1/partners/{other_id}/balance", headers=as_partner)
    assert other.status_code == 404
    assert other.headers["content-type"] == "application/problem+json"

    forbidden = await ledger_api.post(
        "/v1/partners",
        headers=as_partner,
        json={
            "partner_id": unique("p"),
            "name": "x",
            "credit_price_list_id": CREDIT_PRICE_LIST["id"],
            "mailing_price_list_id": MAILING_PRICE_LIST["id"],
        },
    )
    assert forbidden.status_code == 403

    anonymous = await ledger_api.get(
        f"/v1/partners/{partner_id}/balance", headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401
    wrong = await ledger_api.get(
        f"/v1/partners/{partner_id}/balance", headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401


async def test_a_partner_cannot_be_registered_twice(ledger_api: httpx.AsyncClient) -> None:
    partner_id, _ = await new_partner(ledger_api)
    again = await ledger_api.post(
        "/v1/partners",
        json={
            "partner_id": partner_id,
            "name": "again",
            "credit_price_list_id": CREDIT_PRICE_LIST["id"],
            "mailing_price_list_id": MAILING_PRICE_LIST["id"],
        },
    )
    assert again.status_code == 409
    assert again.json()["type"].endswith("partner_already_registered")


async def test_invalid_bodies_name_the_field_at_fault(ledger_api: httpx.AsyncClient) -> None:
    partner_id, _ = await new_partner(ledger_api)
    response = await ledger_api.put(
        f"/v1/partners/{partner_id}/billing",
        json={"billing_mode": "prepaid", "reminder_threshold": -5},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "$.reminder_threshold"
    unknown = await ledger_api.put(
        f"/v1/partners/{partner_id}/billing", json={"billing_mode": "postpaid"}
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "$.billing_mode"


async def test_grants_adjustments_and_the_event_history(ledger_api: httpx.AsyncClient) -> None:
    partner_id, _ = await new_partner(ledger_api)
    granted = await ledger_api.post(
        f"/v1/partners/{partner_id}/credits/grants", json={"credits": 1000, "reason": "welcome"}
    )
    assert granted.status_code == 201
    assert granted.json()["balance"] == 1000
    adjusted = await ledger_api.post(
        f"/v1/partners/{partner_id}/credits/adjustments", json={"delta": -250, "reason": "fix"}
    )
    assert adjusted.json()["balance"] == 750

    first = await ledger_api.get(f"/v1/partners/{partner_id}/events", params={"limit": 3})
    page = first.json()
    assert [e["type"] for e in page["events"]] == [
        "PartnerRegistered",
        "CustomerAttached",
        "CreditsGranted",
    ]
    assert page["next_after"] == 3
    rest = await ledger_api.get(
        f"/v1/partners/{partner_id}/events", params={"after": page["next_after"]}
    )
    assert [e["type"] for e in rest.json()["events"]] == ["CreditsAdjusted"]
    assert rest.json()["next_after"] is None
    assert rest.json()["events"][0]["metadata"]["actor"] == "ops"


async def test_a_purchase_with_the_same_key_answers_the_same_and_another_body_conflicts(
    ledger_api: httpx.AsyncClient, ledger_settings: LedgerSettings
) -> None:
    partner_id, token = await new_partner(ledger_api)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "buy-1"}
    url = f"/v1/partners/{partner_id}/purchases"

    first = await ledger_api.post(url, json={"credits": 20000}, headers=headers)
    assert first.status_code == 202, first.text
    # 20,000 credits fall into the 0.008 EUR tier: EUR 160.00.
    assert first.json()["amount_minor"] == 16000
    assert first.json()["currency"] == "EUR"
    again = await ledger_api.post(url, json={"credits": 20000}, headers=headers)
    assert again.status_code == 202
    assert again.json() == first.json()
    other = await ledger_api.post(url, json={"credits": 5}, headers=headers)
    assert other.status_code == 409

    history = await ledger_api.get(f"/v1/partners/{partner_id}/events")
    requested = [e for e in history.json()["events"] if e["type"] == "PurchaseRequested"]
    assert len(requested) == 1
    missing_key = await ledger_api.post(
        url, json={"credits": 1}, headers={"Authorization": f"Bearer {token}"}
    )
    assert missing_key.status_code == 422


async def test_concurrent_twins_with_one_key_make_one_purchase(
    ledger_api: httpx.AsyncClient,
) -> None:
    partner_id, _ = await new_partner(ledger_api)
    url = f"/v1/partners/{partner_id}/purchases"
    answers = await asyncio.gather(
        *[
            ledger_api.post(url, json={"credits": 1000}, headers={"Idempotency-Key": "twin"})
            for _ in range(5)
        ]
    )
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["purchase_id"] for a in answers}) == 1
    history = await ledger_api.get(f"/v1/partners/{partner_id}/events")
    assert [e["type"] for e in history.json()["events"]].count("PurchaseRequested") == 1


async def test_the_same_package_bought_again_with_a_new_key_is_a_second_purchase(
    ledger_api: httpx.AsyncClient,
) -> None:
    partner_id, token = await new_partner(ledger_api)
    url = f"/v1/partners/{partner_id}/purchases"
    answers = [
        await ledger_api.post(
            url,
            json={"credits": 5000},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        )
        for key in ("monday", "tuesday")
    ]
    assert [a.status_code for a in answers] == [202, 202]
    assert [a.json()["status"] for a in answers] == ["requested", "requested"]
    assert answers[0].json()["purchase_id"] != answers[1].json()["purchase_id"]
    history = await ledger_api.get(f"/v1/partners/{partner_id}/events")
    requested = [e["payload"] for e in history.json()["events"] if e["type"] == "PurchaseRequested"]
    assert [(p["purchase_id"], p["credits"]) for p in requested] == [
        (a.json()["purchase_id"], 5000) for a in answers
    ]


async def test_reservations_hold_release_and_refuse_what_is_not_available(
    ledger_api: httpx.AsyncClient,
) -> None:
    partner_id, _ = await new_partner(ledger_api)
    await ledger_api.post(
        f"/v1/partners/{partner_id}/credits/grants", json={"credits": 10000, "reason": "test"}
    )
    url = f"/v1/partners/{partner_id}/reservations"
    held = await ledger_api.post(
        url, json={"reservation_id": "r1", "credits": 6000}, headers={"Idempotency-Key": "r1"}
    )
    assert held.status_code == 201, held.text
    assert (await balance(ledger_api, partner_id))["available"] == 4000

    too_much = await ledger_api.post(
        url, json={"reservation_id": "r2", "credits": 5000}, headers={"Idempotency-Key": "r2"}
    )
    assert too_much.status_code == 409
    assert too_much.json()["type"].endswith("insufficient_credits")

    released = await ledger_api.post(f"{url}/r1/release")
    assert released.status_code == 200
    assert released.json()["status"] == "released"
    assert (await balance(ledger_api, partner_id))["available"] == 10000


async def test_billing_settings_are_stored_and_read_back(ledger_api: httpx.AsyncClient) -> None:
    partner_id, _ = await new_partner(ledger_api)
    settings = {
        "billing_mode": "prepaid",
        "reminder_threshold": 5000,
        "auto_purchase": {"credits": 10000, "trigger_threshold": 1000},
        "payment_method": {"type": "card", "customer": "cus_1", "payment_method": "pm_card_visa"},
    }
    stored = await ledger_api.put(f"/v1/partners/{partner_id}/billing", json=settings)
    assert stored.status_code == 200, stored.text
    read = await ledger_api.get(f"/v1/partners/{partner_id}/billing")
    assert read.json() == {
        **settings,
        "auto_purchase": {"credits": 10000, "trigger_threshold": 1000, "suspended": False},
    }


async def test_an_unused_hold_expires_and_its_credits_are_available_again(
    ledger_api: httpx.AsyncClient, ledger_settings: LedgerSettings
) -> None:
    partner_id, _ = await new_partner(ledger_api)
    await ledger_api.post(
        f"/v1/partners/{partner_id}/credits/grants", json={"credits": 1000, "reason": "test"}
    )
    held = await ledger_api.post(
        f"/v1/partners/{partner_id}/reservations",
        json={"reservation_id": "soon-gone", "credits": 400, "ttl_seconds": 1},
        headers={"Idempotency-Key": f"expiry-{partner_id}"},
    )
    assert held.status_code == 201, held.text
    assert (await balance(ledger_api, partner_id))["available"] == 600

    container = bootstrap(ledger_settings)
    engine = container.engine
    try:
        assert await expire_due_reservations(container, datetime.now(UTC)) == 0  # not yet
        later = datetime.now(UTC) + timedelta(seconds=2)
        assert await expire_due_reservations(container, later) >= 1
        async with engine.connect() as connection:
            queued = (
                await connection.execute(
                    text(
                        "SELECT count(*) FROM outbox WHERE partner_id = :p"
                        " AND topic = 'ledger.notifications'"
                    ),
                    {"p": partner_id},
                )
            ).scalar_one()
    finally:
        await container.close()
    assert (await balance(ledger_api, partner_id))["available"] == 1000
    reservation = await ledger_api.get(f"/v1/partners/{partner_id}/reservations/soon-gone")
    assert reservation.json()["status"] == "expired"
    assert queued == 1  # ledger.reservation_expired, for the partner's systems
