"""One message the database cannot store must not stop billing for anybody: it is dead-lettered
with its reason, and every partner's next mailings, on its partition and on the others, are
debited."""

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

import shared.codec
from ledger.settings import LedgerSettings
from shared.database import create_engine
from tests.integration.ledger.conftest import (
    balance,
    eventually,
    new_partner,
    read_topic,
    unique,
)
from tests.support.messages import as_published, mailing_sent

pytestmark = pytest.mark.usefixtures("ledger_workers")

GRANT = 10_000


async def partners(api: httpx.AsyncClient, count: int) -> list[str]:
    found = []
    for _ in range(count):
        partner_id, _ = await new_partner(api)
        await api.post(
            f"/v1/partners/{partner_id}/credits/grants", json={"credits": GRANT, "reason": "x"}
        )
        found.append(partner_id)
    return found


async def a_mailing_id_with_u0000_stops_nobody(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, settings: LedgerSettings
) -> tuple[str, list[tuple[dict[str, bytes], bytes | None]]]:
    """Publish a U+0000 mailing and, after it, mailings of four partners on its partition and
    on two others; returns the poisoned partner and its dead letters once all are debited."""
    poisoned, neighbour, elsewhere, far = await partners(api, 4)
    topic = settings.topic_prefix + "mailing.sent"

    async def send(partner_id: str, partition: int, recipients: int, **data: str) -> bytes:
        value = orjson.dumps(as_published(mailing_sent(partner_id, "c1", recipients), **data))
        await producer.send_and_wait(topic, value, key=partner_id.encode(), partition=partition)
        return value

    poison = await send(poisoned, 0, 1000, mailing_id=f"m-{unique('nul')}\u0000")
    await send(poisoned, 0, 100)
    await send(neighbour, 0, 200)
    await send(elsewhere, 1, 300)
    await send(far, 4, 400)
    await send(poisoned, 0, 10)

    async def all_debited() -> bool:
        everyone = (poisoned, neighbour, elsewhere, far)
        return [(await balance(api, p))["balance"] for p in everyone] == [
            GRANT - 105 - 11,
            GRANT - 210,
            GRANT - 315,
            GRANT - 420,
        ]

    await eventually(all_debited, what="every partner's next mailings debited")

    async def dead_lettered() -> bool:
        return len(await read_topic(settings, "mailing.sent.dlq", key=poisoned)) == 1

    await eventually(dead_lettered, what="the U+0000 mailing on the dead-letter topic")
    letters = await read_topic(settings, "mailing.sent.dlq", key=poisoned)
    assert letters[0][1] == poison  # unchanged
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            [(offset, reason)] = (
                await connection.execute(
                    text(
                        'SELECT "offset", reason FROM dead_letters'
                        " WHERE message_key = :k AND partition = 0"
                    ),
                    {"k": poisoned.encode()},
                )
            ).all()
    finally:
        await engine.dispose()
    assert letters[0][0]["dlq.source"].decode().endswith(f"/0/{offset}")
    assert letters[0][0]["dlq.reason"].decode() == reason
    return reason, letters


async def test_a_u0000_mailing_is_dead_lettered_and_every_partner_is_still_debited(
    ledger_api: httpx.AsyncClient, producer: AIOKafkaProducer, ledger_settings: LedgerSettings
) -> None:
    reason, _ = await a_mailing_id_with_u0000_stops_nobody(ledger_api, producer, ledger_settings)
    assert reason.startswith("$.data.mailing_id")
    assert "U+0000" in reason


async def test_without_the_check_up_front_the_split_batch_still_finds_the_u0000_mailing(
    ledger_api: httpx.AsyncClient,
    producer: AIOKafkaProducer,
    ledger_settings: LedgerSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As if nobody had foreseen U+0000: the database refuses it, the consumer finds the culprit.
    monkeypatch.setattr(shared.codec, "_may_hold_nul", lambda raw, headers: False)
    reason, _ = await a_mailing_id_with_u0000_stops_nobody(ledger_api, producer, ledger_settings)
    assert reason.startswith("could not be recorded")
    assert "0x00" in reason or "\\u0000" in reason
