"""Appending with COPY: a version another writer took is a concurrency conflict (the batch is
retried, nothing of it stays), and rows given in any order are stored and chained by version."""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from ledger.adapters.audit import broken_links
from ledger.adapters.event_store import PostgresEventStore
from ledger.domain import CustomerAttached, MailingDebited, PartnerRegistered
from ledger.migrations import MIGRATIONS_DIR
from ledger.service_layer.ports import ConcurrencyConflict, MailingDebitedBefore, StoredEvent
from shared.database import create_engine
from tests.integration.databases import fresh_migrated_database


@pytest.fixture(scope="module")
async def engine() -> Any:
    url = await fresh_migrated_database("ledger_append", MIGRATIONS_DIR)
    engine = create_engine(url)
    yield engine
    await engine.dispose()


def _registered(partner: str, at: datetime) -> StoredEvent:
    event = PartnerRegistered(
        partner_id=partner,
        name=partner,
        locale="de",
        billing_mode="prepaid",
        currency="EUR",
        credit_price_list_id="credits",
        mailing_price_list_id="mailings",
    )
    return StoredEvent(partner, 1, event, {"actor": "test"}, at)


def _customer(partner: str, version: int, at: datetime) -> StoredEvent:
    return StoredEvent(
        partner, version, CustomerAttached(customer_id=f"c{version}", name="C"), {}, at
    )


async def _stored(engine: Any, partner: str, column: str = "originator_version") -> list[Any]:
    """A column of the partner's stored events, in the order they were stored."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(f"SELECT {column} FROM events WHERE originator_id = :p ORDER BY global_position"),
            {"p": partner},
        )
        return [row[0] for row in rows]


async def test_a_taken_version_is_a_conflict_and_nothing_of_the_batch_stays(engine: Any) -> None:
    now = datetime.now(UTC)
    partner, bystander = f"taken-{now.timestamp()}", f"bystander-{now.timestamp()}"
    async with engine.begin() as connection:
        await PostgresEventStore(connection).append([_registered(partner, now)])

    with pytest.raises(ConcurrencyConflict):
        async with engine.begin() as connection:
            await PostgresEventStore(connection).append(
                [_registered(bystander, now), _registered(partner, now)]
            )

    assert await _stored(engine, partner) == [1]
    assert await _stored(engine, bystander) == []


def _debit(partner: str, version: int, mailing_id: str, at: datetime) -> StoredEvent:
    event = MailingDebited(
        mailing_id=mailing_id,
        customer_id="c2",
        recipients=10,
        credits=10,
        price_list_id="mailings",
        price_list_version=1,
        reservation_id=None,
        captured_credits=0,
        released_credits=0,
        charge_minor=None,
        sent_at=at.replace(microsecond=0),
    )
    return StoredEvent(partner, version, event, {}, at)


async def test_a_second_debit_of_a_mailing_is_refused_and_nothing_of_the_batch_stays(
    engine: Any,
) -> None:
    now = datetime.now(UTC)
    partner, other = f"debited-{now.timestamp()}", f"other-{now.timestamp()}"
    async with engine.begin() as connection:
        await PostgresEventStore(connection).append(
            [_registered(partner, now), _customer(partner, 2, now), _debit(partner, 3, "m1", now)]
        )
        # The same mailing id at another partner is that partner's own mailing.
        await PostgresEventStore(connection).append(
            [_registered(other, now), _customer(other, 2, now), _debit(other, 3, "m1", now)]
        )

    with pytest.raises(MailingDebitedBefore):
        async with engine.begin() as connection:
            await PostgresEventStore(connection).append(
                [_debit(partner, 4, "m2", now), _debit(partner, 5, "m1", now)]
            )

    assert await _stored(engine, partner) == [1, 2, 3]


async def test_rows_in_any_order_are_stored_and_chained_by_version(engine: Any) -> None:
    now = datetime.now(UTC)
    one, two = f"order-a-{now.timestamp()}", f"order-b-{now.timestamp()}"
    async with engine.begin() as connection:
        await PostgresEventStore(connection).append(
            [
                _customer(two, 2, now),
                _customer(one, 3, now),
                _registered(two, now),
                _customer(one, 2, now),
                _registered(one, now),
            ]
        )
    assert await _stored(engine, one) == [1, 2, 3]
    assert await _stored(engine, two) == [1, 2]
    assert await broken_links(engine) == []


async def test_each_row_keeps_its_time_whether_the_batch_shares_one_or_not(engine: Any) -> None:
    # One time for the batch goes once, as the transaction's batch time (migration 0011); rows
    # with times of their own (a rebuild) carry each its own.
    shared = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    one, two = f"time-a-{shared.timestamp()}", f"time-b-{datetime.now(UTC).timestamp()}"
    own = [shared, shared.replace(second=6, microsecond=1), shared.replace(minute=9)]
    async with engine.begin() as connection:
        await PostgresEventStore(connection).append(
            [_registered(one, shared), _customer(one, 2, shared)]
        )
    async with engine.begin() as connection:
        await PostgresEventStore(connection).append(
            [_registered(two, own[0]), _customer(two, 2, own[1]), _customer(two, 3, own[2])]
        )
    assert await _stored(engine, one, "recorded_at") == [shared, shared]
    assert await _stored(engine, two, "recorded_at") == own
    assert await broken_links(engine) == []
