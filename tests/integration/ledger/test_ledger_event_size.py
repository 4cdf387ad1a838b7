"""What a debit costs on disk: 20,000 mailings through the mailing.sent consumer (real pricing),
then every table a debit adds to for good, with its indexes, divided by the events' rows.

A busy ledger stores hundreds of millions of debits, so their size is a budget we hold to. With
ids of the contract's length (the test builders') and the metadata every event carries (causation
id, correlation id, actor) a row takes about 400 bytes before its payload: a v2 debit measured
621 bytes in `events` (a v1 debit with its quote and the hash as hex text: 1,279).

Until migration 0012 a debit also wrote a `partner_history` row, kept as long as the event, and
this test counted only `events`: measured the way it is now, that was 961 bytes (621 in
`events`, 340 in `partner_history`). Since 0012 the events table holds the index that finds a
mailing debited before, and there is no history row: 735 bytes. (The inbox's row is not counted:
it is deleted after the dedup window.)
"""

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from ledger.api.app import create_app
from ledger.bootstrap import bootstrap
from ledger.migrations import MIGRATIONS_DIR
from ledger.settings import LedgerSettings
from shared.codec import encode
from shared.messaging.consumer import apply_batch_until_done
from shared.messaging.inbox import IncomingRecord
from tests.integration.conftest import OPS_TOKEN
from tests.integration.databases import fresh_migrated_database
from tests.integration.ledger.conftest import unique
from tests.support.clients import app_client
from tests.support.messages import mailing_sent
from tests.support.price_lists import CREDIT_PRICE_LIST, MAILING_PRICE_LIST

pytestmark = pytest.mark.slow

DEBITS = 20_000
PARTNERS = 20
BATCH = 500
MAX_BYTES_PER_DEBIT = 750


async def test_a_mailing_debit_keeps_to_its_budget_on_disk(
    ledger_settings: LedgerSettings,
) -> None:
    url = await fresh_migrated_database("ledger_event_size", MIGRATIONS_DIR)
    settings = ledger_settings.model_copy(update={"database_url": url})
    app = create_app(settings)
    partners = [unique("partner") for _ in range(PARTNERS)]
    async with app_client(app, OPS_TOKEN) as api:
        for partner_id in partners:
            created = await api.post(
                "/v1/partners",
                json={
                    "partner_id": partner_id,
                    "name": f"Agency {partner_id}",
                    "locale": "de",
                    "credit_price_list_id": CREDIT_PRICE_LIST["id"],
                    "mailing_price_list_id": MAILING_PRICE_LIST["id"],
                },
            )
            assert created.status_code == 201, created.text
            attached = await api.post(
                f"/v1/partners/{partner_id}/customers", json={"customer_id": "c1", "name": "C1"}
            )
            assert attached.status_code == 201, attached.text

    container = bootstrap(settings)
    subscription = container.mailing_sent_consumer().subscription("size-test")
    try:
        for start in range(0, DEBITS, BATCH):
            records = [
                IncomingRecord(
                    "mailing.sent",
                    0,
                    offset,
                    partners[offset % PARTNERS].encode(),
                    encode(
                        mailing_sent(partners[offset % PARTNERS], "c1", 1 + offset * 7919 % 50_000)
                    ),
                )
                for offset in range(start, start + BATCH)
            ]
            result = await apply_batch_until_done(container.engine, subscription, records)
            assert result is not None
            assert result.applied == BATCH, result.dead_letters[:1]
    finally:
        await container.close()

    # VACUUM runs outside a transaction.
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("VACUUM ANALYZE"))
            debits, rows, size = (
                await connection.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE type = 'MailingDebited'), count(*),"
                        " pg_total_relation_size('events')"
                        # A history table, where one is still written, counts as well.
                        " + coalesce(pg_total_relation_size(to_regclass('partner_history')), 0)"
                        " FROM events"
                    )
                )
            ).one()
    finally:
        await engine.dispose()
    per_event = size / rows
    print(f"\n{rows} events ({debits} debits) keep {size} bytes: {per_event:.0f} bytes/event")
    assert debits == DEBITS
    assert per_event <= MAX_BYTES_PER_DEBIT
