"""`ops audit export` on the real PostgreSQL: each event of the period with the credits it moved
and the balance after it, folded from the snapshot before the period (there is no history
table to read them from since migration 0012)."""

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.adapters.audit import audit_trail
from ledger.adapters.unit_of_work import PostgresUnitOfWork
from ledger.domain import attach_customer, debit_mailing, grant_credits, register_partner
from ledger.migrations import MIGRATIONS_DIR
from ledger.service_layer.accounts import ChangeSet, load_accounts
from shared.database import create_engine
from shared.messaging.inbox import Inbox
from tests.integration.databases import fresh_migrated_database

PARTNER = "audit-partner"
SNAPSHOT_INTERVAL = 5
GRANTED = 10_000
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PERIODS = [T0 + timedelta(days=day) for day in (1, 2, 3)]  # ten debits recorded on each
Decide = Callable[[ChangeSet], None]


@pytest.fixture(scope="module")
async def engine() -> AsyncIterator[AsyncEngine]:
    url = await fresh_migrated_database("ledger_audit_trail_test", MIGRATIONS_DIR)
    engine = create_engine(url)

    async def record(now: datetime, decide: Decide) -> None:
        async with engine.begin() as connection:
            uow = PostgresUnitOfWork.on(connection, Inbox(connection, "audit"), SNAPSHOT_INTERVAL)
            changes = ChangeSet(await load_accounts(uow, [PARTNER]), now)
            decide(changes)
            await changes.write(uow)

    def opening(changes: ChangeSet) -> None:
        registered = register_partner(
            None,
            partner_id=PARTNER,
            name="Agentur",
            locale="de",
            billing_mode="prepaid",
            currency="EUR",
            credit_price_list_id="credits",
            mailing_price_list_id="mailings",
        )
        changes.decide(PARTNER, registered, {})
        customer = attach_customer(changes.state(PARTNER), customer_id="c1", name="C")
        changes.decide(PARTNER, customer, {})
        grant = grant_credits(changes.state(PARTNER), credits=GRANTED, reason="start", actor="ops")
        changes.decide(PARTNER, grant, {})

    await record(T0, opening)
    for day, at in enumerate(PERIODS):

        def debits(changes: ChangeSet, day: int = day, at: datetime = at) -> None:
            for n in range(10):
                decision = debit_mailing(
                    changes.state(PARTNER),
                    mailing_id=f"m-{day}-{n}",
                    customer_id="c1",
                    recipients=10 * (day + 1),
                    credits=10 * (day + 1),
                    price_list_id="mailings",
                    price_list_version=1,
                    now=at,
                )
                changes.decide(PARTNER, decision.events, {}, decision.states)

        await record(at, debits)
    yield engine
    await engine.dispose()


async def test_the_period_in_the_middle_carries_the_balance_of_everything_before_it(
    engine: AsyncEngine,
) -> None:
    trail = await audit_trail(engine, PARTNER, PERIODS[1], PERIODS[2])

    # 3 opening events, 10 debits of 10 credits before; the period's ten debits take 20 each.
    assert [r["version"] for r in trail] == list(range(14, 24))
    assert {r["type"] for r in trail} == {"MailingDebited"}
    assert [r["credits_delta"] for r in trail] == [-20] * 10
    assert [r["balance_after"] for r in trail] == [GRANTED - 100 - 20 * n for n in range(1, 11)]


async def test_the_whole_stream_from_its_first_event(engine: AsyncEngine) -> None:
    trail = await audit_trail(engine, PARTNER, T0, PERIODS[2] + timedelta(seconds=1))

    assert [r["version"] for r in trail] == list(range(1, 34))
    assert trail[2]["credits_delta"] == GRANTED
    assert trail[-1]["balance_after"] == GRANTED - 10 * (10 + 20 + 30)


async def test_a_period_without_events_exports_nothing(engine: AsyncEngine) -> None:
    assert await audit_trail(engine, PARTNER, T0 - timedelta(days=30), T0) == []
