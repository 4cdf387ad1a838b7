"""A purchase is named by its Idempotency-Key, not by its body: a new key buys again, the same
key and body answers the first answer, the same key with another body is a conflict."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.integration.ledger.conftest import Publish, eventually, new_partner

CARD = {"type": "card", "customer": "cus_keys", "payment_method": "pm_keys"}


async def requested_purchases(api: httpx.AsyncClient, partner_id: str) -> list[dict[str, Any]]:
    events = (await api.get(f"/v1/partners/{partner_id}/events")).json()["events"]
    return [e["payload"] for e in events if e["type"] == "PurchaseRequested"]


async def test_two_keys_with_the_same_body_buy_twice(ledger_api: httpx.AsyncClient) -> None:
    partner_id, token = await new_partner(ledger_api, billing={"billing_mode": "prepaid"})
    url = f"/v1/partners/{partner_id}/purchases"
    as_partner = {"Authorization": f"Bearer {token}"}

    first = await ledger_api.post(
        url, json={"credits": 500}, headers={**as_partner, "Idempotency-Key": "k1"}
    )
    second = await ledger_api.post(
        url, json={"credits": 500}, headers={**as_partner, "Idempotency-Key": "k2"}
    )

    assert (first.status_code, second.status_code) == (202, 202), second.text
    assert first.json()["purchase_id"] != second.json()["purchase_id"]
    purchases = await requested_purchases(ledger_api, partner_id)
    assert [p["purchase_id"] for p in purchases] == [
        first.json()["purchase_id"],
        second.json()["purchase_id"],
    ]


async def test_the_same_key_answers_the_first_answer_and_another_body_conflicts(
    ledger_api: httpx.AsyncClient,
) -> None:
    partner_id, _ = await new_partner(ledger_api)
    url = f"/v1/partners/{partner_id}/purchases"
    key = {"Idempotency-Key": "once"}

    first = await ledger_api.post(url, json={"credits": 500}, headers=key)
    again = await ledger_api.post(url, json={"credits": 500}, headers=key)
    other = await ledger_api.post(url, json={"credits": 501}, headers=key)

    assert first.status_code == 202, first.text
    assert again.status_code == 202
    assert again.json() == first.json()
    assert other.status_code == 409
    assert other.json()["type"].endswith("idempotency_key_reused")
    assert len(await requested_purchases(ledger_api, partner_id)) == 1


@pytest.mark.usefixtures("ledger_workers")
async def test_after_a_declined_card_a_new_key_buys_again(
    ledger_api: httpx.AsyncClient, publish: Publish
) -> None:
    partner_id, _ = await new_partner(
        ledger_api, billing={"billing_mode": "prepaid", "payment_method": CARD}
    )
    url = f"/v1/partners/{partner_id}/purchases"
    declined = await ledger_api.post(url, json={"credits": 500}, headers={"Idempotency-Key": "a"})
    purchase_id = declined.json()["purchase_id"]
    now = datetime.now(UTC).isoformat()
    await publish(
        "payments.results",
        {
            "specversion": "1.0",
            "id": f"result-{purchase_id}",
            "source": "/payments",
            "type": "payments.payment_result",
            "time": now,
            "datacontenttype": "application/json",
            "data": {
                "partner_id": partner_id,
                "request_id": purchase_id,
                "kind": "purchase",
                "status": "failed",
                "amount_minor": 500,
                "currency": "EUR",
                "retryable": False,
                "reason": "card_declined",
                "gateway": "test",
                "occurred_at": now,
            },
        },
        partner_id,
    )

    async def recorded_as_failed() -> bool:
        events = (await ledger_api.get(f"/v1/partners/{partner_id}/events")).json()["events"]
        return any(e["type"] == "PurchaseFailed" for e in events)

    await eventually(recorded_as_failed, what="the declined purchase recorded")

    retried = await ledger_api.post(url, json={"credits": 500}, headers={"Idempotency-Key": "b"})

    assert retried.status_code == 202, retried.text
    assert retried.json()["purchase_id"] != purchase_id
    assert retried.json()["status"] == "requested"
    assert len(await requested_purchases(ledger_api, partner_id)) == 2
