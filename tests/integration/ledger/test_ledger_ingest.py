"""mailing.sent through Kafka into the ledger, and what the ledger publishes in return."""

import httpx
import orjson
import pytest
from sqlalchemy import text

from ledger.settings import LedgerSettings
from shared.database import create_engine
from tests.integration.ledger.conftest import (
    Message,
    Publish,
    balance,
    eventually,
    new_partner,
    read_topic,
)
from tests.support.messages import as_published, mailing_sent
from tests.support.price_lists import MAILING_PRICE_LIST

pytestmark = pytest.mark.usefixtures("ledger_workers")


async def wait_for_balance(api: httpx.AsyncClient, partner_id: str, expected: int) -> None:
    async def reached() -> bool:
        return bool((await balance(api, partner_id))["balance"] == expected)

    await eventually(reached, what=f"balance {expected} of {partner_id}")


async def test_each_mailing_debits_its_credits_once_even_when_delivered_twice(
    ledger_api: httpx.AsyncClient, publish: Publish
) -> None:
    partner_id, _ = await new_partner(ledger_api)
    await ledger_api.post(
        f"/v1/partners/{partner_id}/credits/grants", json={"credits": 50000, "reason": "bought"}
    )
    first = mailing_sent(partner_id, "c1", 5000)
    await publish("mailing.sent", first, partner_id)
    await publish("mailing.sent", first, partner_id)  # redelivered
    await publish("mailing.sent", mailing_sent(partner_id, "c1", 1), partner_id)
    # 5,000 x 1.05 = 5,250 credits; 1 x 1.05 = 1.05, rounded half-up once: 1 credit.
    await wait_for_balance(ledger_api, partner_id, 50000 - 5250 - 1)

    history = await ledger_api.get(f"/v1/partners/{partner_id}/events")
    debits = [e for e in history.json()["events"] if e["type"] == "MailingDebited"]
    assert len(debits) == 2
    assert debits[0]["payload"]["credits"] == 5250
    assert debits[0]["payload"]["price_list_id"] == MAILING_PRICE_LIST["id"]
    assert debits[0]["payload"]["price_list_version"] == 1
    assert debits[0]["metadata"]["causation_id"] == first.id
    assert debits[0]["metadata"]["correlation_id"] == first.data["mailing_id"]


async def test_a_debit_is_recorded_even_below_zero(
    ledger_api: httpx.AsyncClient, publish: Publish
) -> None:
    partner_id, _ = await new_partner(ledger_api)
    await publish("mailing.sent", mailing_sent(partner_id, "c1", 100), partner_id)
    await wait_for_balance(ledger_api, partner_id, -105)


async def test_poison_messages_go_to_the_dead_letter_topic_with_their_reason(
    ledger_api: httpx.AsyncClient, publish: Publish, ledger_settings: LedgerSettings
) -> None:
    partner_id, _ = await new_partner(ledger_api)
    await ledger_api.post(
        f"/v1/partners/{partner_id}/credits/grants", json={"credits": 1000, "reason": "x"}
    )
    poison: list[Message] = [
        b"{not json",
        as_published(mailing_sent(partner_id, "c1", 10), recipients=-3),
        mailing_sent("no-such-partner", "c1", 10),
        mailing_sent(partner_id, "no-such-customer", 10),
    ]
    for message in poison:
        await publish("mailing.sent", message, partner_id)
    await publish("mailing.sent", mailing_sent(partner_id, "c1", 10), partner_id)
    # The good message after the poison ones still takes effect: 10 x 1.05 = 10.5 -> 11.
    await wait_for_balance(ledger_api, partner_id, 1000 - 11)

    async def four_dead_letters() -> bool:
        return len(await read_topic(ledger_settings, "mailing.sent.dlq", key=partner_id)) == 4

    await eventually(four_dead_letters, what="four dead letters")
    letters = await read_topic(ledger_settings, "mailing.sent.dlq", key=partner_id)
    reasons = [headers["dlq.reason"].decode() for headers, _ in letters]
    assert "not JSON" in reasons[0]
    assert reasons[1].startswith("$.data.recipients")
    assert "unknown partner 'no-such-partner'" in reasons[2]
    assert "no-such-customer" in reasons[3]
    assert letters[0][1] == b"{not json"  # the original bytes, unchanged

    engine = create_engine(ledger_settings.database_url)
    async with engine.connect() as connection:
        recorded = (
            await connection.execute(
                text("SELECT count(*) FROM dead_letters WHERE message_key = :k"),
                {"k": partner_id.encode()},
            )
        ).scalar_one()
    await engine.dispose()
    assert recorded == 4


async def test_the_reminder_fires_once_per_crossing_and_reaches_the_notifications_topic(
    ledger_api: httpx.AsyncClient, publish: Publish, ledger_settings: LedgerSettings
) -> None:
    partner_id, _ = await new_partner(
        ledger_api, billing={"billing_mode": "prepaid", "reminder_threshold": 1000}
    )
    await ledger_api.post(
        f"/v1/partners/{partner_id}/credits/grants", json={"credits": 3000, "reason": "x"}
    )
    for _ in range(3):  # 3000 -> 1950 -> 900 (crossing) -> -150 (no second reminder)
        await publish("mailing.sent", mailing_sent(partner_id, "c1", 1000), partner_id)
    await wait_for_balance(ledger_api, partner_id, 3000 - 3 * 1050)

    async def one_reminder() -> bool:
        found = await read_topic(ledger_settings, "ledger.notifications", key=partner_id)
        return len(found) == 1

    await eventually(one_reminder, what="one low-balance notification")
    [(_, value)] = await read_topic(ledger_settings, "ledger.notifications", key=partner_id)
    message = orjson.loads(value or b"")
    assert message["type"] == "ledger.low_balance_reached"
    assert message["data"]["balance"] == 900
    assert message["data"]["threshold"] == 1000


async def test_auto_purchase_is_requested_when_used_up_and_credited_when_paid(
    ledger_api: httpx.AsyncClient, publish: Publish, ledger_settings: LedgerSettings
) -> None:
    partner_id, _ = await new_partner(
        ledger_api,
        billing={
            "billing_mode": "prepaid",
            "auto_purchase": {"credits": 10000},
            "payment_method": {"type": "card", "customer": "cus_1", "payment_method": "pm_1"},
        },
    )
    await ledger_api.post(
        f"/v1/partners/{partner_id}/credits/grants", json={"credits": 2000, "reason": "x"}
    )
    await publish("mailing.sent", mailing_sent(partner_id, "c1", 2000), partner_id)  # -100
    await wait_for_balance(ledger_api, partner_id, -100)

    async def one_request() -> bool:
        found = await read_topic(ledger_settings, "ledger.payment-requests", key=partner_id)
        return len(found) == 1

    await eventually(one_request, what="one purchase request")
    [(_, value)] = await read_topic(ledger_settings, "ledger.payment-requests", key=partner_id)
    request = orjson.loads(value or b"")
    assert request["type"] == "ledger.purchase_requested"
    assert request["data"]["credits"] == 10000
    assert request["data"]["amount_minor"] == 10000  # 10,000 x EUR 0.01
    assert request["data"]["reason"] == "auto"

    # Another mailing while the purchase is in flight does not ask again.
    await publish("mailing.sent", mailing_sent(partner_id, "c1", 100), partner_id)
    await wait_for_balance(ledger_api, partner_id, -205)

    result = {
        "specversion": "1.0",
        "id": f"result-{request['data']['purchase_id']}",
        "source": "/payments",
        "type": "payments.payment_result",
        "time": request["time"],
        "datacontenttype": "application/json",
        "data": {
            "partner_id": partner_id,
            "request_id": request["data"]["purchase_id"],
            "kind": "purchase",
            "status": "succeeded",
            "amount_minor": 10000,
            "currency": "EUR",
            "retryable": False,
            "gateway": "test",
            "occurred_at": request["time"],
        },
    }
    await publish("payments.results", result, partner_id)
    await publish("payments.results", result, partner_id)  # delivered twice
    await wait_for_balance(ledger_api, partner_id, -205 + 10000)
    assert len(await read_topic(ledger_settings, "ledger.payment-requests", key=partner_id)) == 1


async def test_an_on_demand_partner_is_charged_once_the_minimum_is_reached(
    ledger_api: httpx.AsyncClient, publish: Publish, ledger_settings: LedgerSettings
) -> None:
    partner_id, _ = await new_partner(
        ledger_api,
        billing={
            "billing_mode": "on_demand",
            "payment_method": {"type": "card", "customer": "cus_2", "payment_method": "pm_2"},
        },
    )
    # 20 recipients = 21 credits = EUR 0.21: below the EUR 0.50 minimum, carried over.
    await publish("mailing.sent", mailing_sent(partner_id, "c1", 20), partner_id)
    # 5,000 recipients = 5,250 credits = EUR 52.50; charged together with the 0.21.
    await publish("mailing.sent", mailing_sent(partner_id, "c1", 5000), partner_id)

    async def one_charge() -> bool:
        found = await read_topic(ledger_settings, "ledger.payment-requests", key=partner_id)
        return len(found) == 1

    await eventually(one_charge, what="one charge request")
    [(_, value)] = await read_topic(ledger_settings, "ledger.payment-requests", key=partner_id)
    charge = orjson.loads(value or b"")
    assert charge["type"] == "ledger.charge_requested"
    assert charge["data"]["credits"] == 21 + 5250
    assert charge["data"]["amount_minor"] == 21 + 5250
    assert len(charge["data"]["mailing_ids"]) == 2


async def test_a_mailing_captures_its_hold_and_releases_the_rest(
    ledger_api: httpx.AsyncClient, publish: Publish
) -> None:
    partner_id, _ = await new_partner(ledger_api)
    await ledger_api.post(
        f"/v1/partners/{partner_id}/credits/grants", json={"credits": 10000, "reason": "x"}
    )
    held = await ledger_api.post(
        f"/v1/partners/{partner_id}/reservations",
        json={"reservation_id": "newsletter-1", "credits": 6000},
        headers={"Idempotency-Key": f"hold-{partner_id}"},
    )
    assert held.status_code == 201, held.text
    assert (await balance(ledger_api, partner_id))["available"] == 4000

    sent = mailing_sent(partner_id, "c1", 5000, reservation_id="newsletter-1")
    await publish("mailing.sent", sent, partner_id)
    await wait_for_balance(ledger_api, partner_id, 10000 - 5250)

    after = await balance(ledger_api, partner_id)
    assert (after["held"], after["available"]) == (0, 4750)
    hold = await ledger_api.get(f"/v1/partners/{partner_id}/reservations/newsletter-1")
    assert hold.json()["status"] == "captured"
    events = (await ledger_api.get(f"/v1/partners/{partner_id}/events")).json()["events"]
    [debit] = [e["payload"] for e in events if e["type"] == "MailingDebited"]
    assert (debit["captured_credits"], debit["released_credits"]) == (5250, 750)
