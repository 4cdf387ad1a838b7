"""While the pricing service is down the consumer waits and retries; it never skips a mailing,
and it still stops promptly when asked (nothing of the unfinished batch is committed)."""

import asyncio
import uuid

from aiokafka import AIOKafkaProducer

from ledger.api.app import create_app
from ledger.entrypoints import run_consumers
from ledger.migrations import MIGRATIONS_DIR
from ledger.settings import LedgerSettings
from shared.codec import encode
from shared.kafka_admin import ensure_topics
from tests.integration.conftest import OPS_TOKEN, free_port
from tests.integration.databases import fresh_migrated_database
from tests.integration.ledger.conftest import balance, eventually, new_partner
from tests.support.clients import app_client
from tests.support.messages import mailing_sent
from tests.support.settings import KAFKA


async def test_a_pricing_outage_delays_debits_but_loses_none(
    ledger_settings: LedgerSettings, producer: AIOKafkaProducer
) -> None:
    prefix = f"outage{uuid.uuid4().hex[:6]}."
    await ensure_topics(KAFKA, prefix=prefix)
    settings = ledger_settings.model_copy(
        update={
            "database_url": await fresh_migrated_database("ledger_outage_test", MIGRATIONS_DIR),
            "topic_prefix": prefix,
            "consumer_group": f"outage-{prefix}",
        }
    )
    down = settings.model_copy(update={"pricing_url": f"http://127.0.0.1:{free_port()}"})
    app = create_app(settings)
    async with app_client(app, OPS_TOKEN) as api:
        partner_id, _ = await new_partner(api)
        sent = mailing_sent(partner_id, "c1", 1000)
        await producer.send_and_wait(prefix + "mailing.sent", encode(sent), key=partner_id.encode())

        stop = asyncio.Event()
        stalled = asyncio.create_task(run_consumers(down, stop))
        await asyncio.sleep(3)  # it keeps trying the batch against the missing pricing service
        assert (await balance(api, partner_id))["balance"] == 0
        stop.set()
        await asyncio.wait_for(stalled, timeout=15)  # and stops when asked

        stop = asyncio.Event()
        healthy = asyncio.create_task(run_consumers(settings, stop))
        try:

            async def debited() -> bool:
                return bool((await balance(api, partner_id))["balance"] == -1050)

            await eventually(debited, what="the mailing debited once pricing is back")
        finally:
            stop.set()
            await asyncio.wait_for(healthy, timeout=15)
        history = (await api.get(f"/v1/partners/{partner_id}/events")).json()["events"]
        assert [e["type"] for e in history].count("MailingDebited") == 1
