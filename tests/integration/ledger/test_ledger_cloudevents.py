"""CloudEvents as other producers write them: the official SDK in both Kafka content modes,
identity by source and id, and a send time far in the future."""

from dataclasses import replace
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from cloudevents.core.bindings import kafka as core_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as CoreCloudEvent
from cloudevents.v1.http import CloudEvent as SdkCloudEvent
from cloudevents.v1.kafka import KafkaMessage, to_binary, to_structured
from sqlalchemy import text

from ledger.settings import LedgerSettings
from shared.database import create_engine
from tests.integration.ledger.conftest import (
    Publish,
    balance,
    eventually,
    new_partner,
    read_topic,
    unique,
)
from tests.support.messages import as_published, mailing_sent

pytestmark = pytest.mark.usefixtures("ledger_workers")


async def funded_partner(api: httpx.AsyncClient, credits: int = 100_000) -> str:
    partner_id, _ = await new_partner(api)
    granted = await api.post(
        f"/v1/partners/{partner_id}/credits/grants", json={"credits": credits, "reason": "x"}
    )
    assert granted.status_code == 201, granted.text
    return partner_id


async def wait_for_balance(api: httpx.AsyncClient, partner_id: str, expected: int) -> None:
    async def reached() -> bool:
        return bool((await balance(api, partner_id))["balance"] == expected)

    await eventually(reached, what=f"balance {expected} of {partner_id}")


async def debits(api: httpx.AsyncClient, partner_id: str) -> list[dict[str, Any]]:
    history = (await api.get(f"/v1/partners/{partner_id}/events")).json()["events"]
    return [e for e in history if e["type"] == "MailingDebited"]


def sent_data(partner_id: str, recipients: int) -> dict[str, Any]:
    return {
        k: v
        for k, v in mailing_sent(partner_id, "c1", recipients).data.items()
        if k != "reservation_id"
    }


async def send_sdk_message(
    producer: AIOKafkaProducer,
    settings: LedgerSettings,
    message: KafkaMessage | core_kafka.KafkaMessage,
) -> None:
    key = message.key.encode() if isinstance(message.key, str) else message.key
    await producer.send_and_wait(
        settings.topic_prefix + "mailing.sent",
        value=message.value if isinstance(message.value, bytes) else message.value.encode(),
        key=key,
        headers=list(message.headers.items()),
    )


async def test_events_from_the_cloudevents_sdk_are_debited_in_both_kafka_modes(
    ledger_api: httpx.AsyncClient, producer: AIOKafkaProducer, ledger_settings: LedgerSettings
) -> None:
    partner_id = await funded_partner(ledger_api)

    def sdk_event(recipients: int, **attributes: str) -> SdkCloudEvent:
        return SdkCloudEvent(
            {
                "type": "mailing.sent",
                "source": "/sdk-mailer",
                "partitionkey": partner_id,  # the SDK's way to set the Kafka key
                **attributes,
            },
            sent_data(partner_id, recipients),
        )

    messages: list[KafkaMessage | core_kafka.KafkaMessage] = [
        # Structured, no datacontenttype at all (optional in CloudEvents 1.0).
        to_structured(sdk_event(100)),
        # Structured with datacontenttype: the SDK moves it into the content-type header.
        to_structured(sdk_event(200, datacontenttype="application/json")),
        # Binary: attributes in ce_* headers, the value is the data alone.
        to_binary(sdk_event(300, datacontenttype="application/json")),
    ]
    assert "datacontenttype" not in orjson.loads(messages[1].value)
    assert messages[1].headers == {"content-type": b"application/json"}
    assert b"ce_id" not in messages[2].value and "ce_id" in messages[2].headers
    # The SDK's newer API: structured as application/cloudevents+json, and binary.
    core_event = CoreCloudEvent(
        {
            "type": "mailing.sent",
            "source": "/sdk-mailer",
            "id": unique("core"),
            "specversion": "1.0",
            "datacontenttype": "application/json",
            "partitionkey": partner_id,
        },
        sent_data(partner_id, 400),
    )
    messages.append(core_kafka.to_structured(core_event, JSONFormat()))
    core_binary = CoreCloudEvent(
        {**core_event.get_attributes(), "id": unique("core")}, sent_data(partner_id, 500)
    )
    messages.append(core_kafka.to_binary(core_binary, JSONFormat()))

    for message in messages:
        await send_sdk_message(producer, ledger_settings, message)

    # 105 + 210 + 315 + 420 + 525 credits.
    await wait_for_balance(ledger_api, partner_id, 100_000 - 1575)
    recorded = await debits(ledger_api, partner_id)
    assert [d["payload"]["credits"] for d in recorded] == [105, 210, 315, 420, 525]
    assert {d["metadata"]["actor"] for d in recorded} == {"/sdk-mailer"}
    assert await read_topic(ledger_settings, "mailing.sent.dlq", key=partner_id, timeout=1) == []


async def test_two_sources_may_use_one_event_id_and_each_event_counts_once(
    ledger_api: httpx.AsyncClient, publish: Publish
) -> None:
    partner_id = await funded_partner(ledger_api)
    shared_id = unique("evt-shared")
    from_a = replace(mailing_sent(partner_id, "c1", 100, event_id=shared_id), source="/mailer-a")
    from_b = replace(mailing_sent(partner_id, "c1", 200, event_id=shared_id), source="/mailer-b")
    await publish("mailing.sent", from_a, partner_id)
    await publish("mailing.sent", from_b, partner_id)
    await publish("mailing.sent", from_a, partner_id)  # the same source and id: a redelivery
    await wait_for_balance(ledger_api, partner_id, 100_000 - 105 - 210)

    # In a later batch, too, both are recognised.
    await publish("mailing.sent", from_b, partner_id)
    await publish("mailing.sent", mailing_sent(partner_id, "c1", 1), partner_id)
    await wait_for_balance(ledger_api, partner_id, 100_000 - 105 - 210 - 1)
    recorded = await debits(ledger_api, partner_id)
    assert sorted((d["metadata"]["actor"], d["payload"]["credits"]) for d in recorded)[:2] == [
        ("/mailer-a", 105),
        ("/mailer-b", 210),
    ]
    assert len(recorded) == 3


async def test_an_event_recorded_before_sources_were_kept_is_still_recognised(
    ledger_api: httpx.AsyncClient, publish: Publish, ledger_settings: LedgerSettings
) -> None:
    partner_id = await funded_partner(ledger_api)
    old_id = unique("evt-old")
    engine = create_engine(ledger_settings.database_url)
    try:
        async with engine.begin() as connection:
            # What migration 0003 made of a row recorded before it: the source is ''.
            await connection.execute(
                text("INSERT INTO inbox (source, message_id, topic) VALUES ('', :id, :t)"),
                {"id": old_id, "t": "mailing.sent"},
            )
    finally:
        await engine.dispose()
    await publish("mailing.sent", mailing_sent(partner_id, "c1", 100, event_id=old_id), partner_id)
    await publish("mailing.sent", mailing_sent(partner_id, "c1", 1), partner_id)
    await wait_for_balance(ledger_api, partner_id, 100_000 - 1)
    assert len(await debits(ledger_api, partner_id)) == 1


async def test_a_send_time_far_in_the_future_is_dead_lettered_with_its_reason(
    ledger_api: httpx.AsyncClient, publish: Publish, ledger_settings: LedgerSettings
) -> None:
    partner_id = await funded_partner(ledger_api)
    sent = mailing_sent(partner_id, "c1", 100)
    future = as_published(sent, sent_at="9999-12-31T00:00:00+00:00")
    await publish("mailing.sent", future, partner_id)
    await publish("mailing.sent", mailing_sent(partner_id, "c1", 10), partner_id)
    await wait_for_balance(ledger_api, partner_id, 100_000 - 11)

    async def dead_lettered() -> bool:
        return len(await read_topic(ledger_settings, "mailing.sent.dlq", key=partner_id)) == 1

    await eventually(dead_lettered, what="the future mailing dead-lettered")
    [(headers, value)] = await read_topic(ledger_settings, "mailing.sent.dlq", key=partner_id)
    reason = headers["dlq.reason"].decode()
    assert "sent_at" in reason
    assert "9999-12-31" in reason
    assert "86400 s ahead" in reason
    assert value == orjson.dumps(future)
    assert len(await debits(ledger_api, partner_id)) == 1
