"""The event store's writer hashes the chain itself (one pass per batch): its hashes must be the
database's own `event_hash`, for every value an event may hold, or `audit verify` would fail."""

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from ledger.adapters.audit import broken_links
from ledger.adapters.event_store import PostgresEventStore
from ledger.adapters.stored_events import chain_hash, jsonb_text
from ledger.domain import CustomerAttached, PartnerRegistered
from ledger.migrations import MIGRATIONS_DIR
from ledger.service_layer.ports import StoredEvent
from shared.database import create_engine
from tests.integration.databases import fresh_migrated_database

# Text jsonb accepts (no U+0000), with what needs escaping and what sorts oddly as keys.
_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    max_size=12,
) | st.sampled_from(['"', "\\", "\n\t\b\f\r", "\x01\x1f\x7f", "é€😀", "a", "ab", "B", ""])
_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=5),
    max_leaves=12,
)


@pytest.fixture(scope="module")
async def engine() -> Any:
    url = await fresh_migrated_database("ledger_hash", MIGRATIONS_DIR)
    engine = create_engine(url)
    yield engine
    await engine.dispose()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_json)
async def test_jsonb_text_is_what_postgresql_renders(engine: Any, value: Any) -> None:
    async with engine.connect() as connection:
        rendered = await connection.scalar(
            text("SELECT CAST(CAST(:v AS text) AS jsonb)::text"),
            {"v": orjson.dumps(value).decode()},
        )
    assert jsonb_text(value) == rendered


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=st.dictionaries(_text, _json, max_size=4), metadata=st.dictionaries(_text, _text))
async def test_chain_hash_is_the_databases_event_hash(
    engine: Any, payload: dict[str, Any], metadata: dict[str, str]
) -> None:
    previous = bytes(range(32))
    at = datetime(2026, 12, 3, 10, 1, 2, 30405, tzinfo=UTC) + timedelta(hours=5)
    async with engine.connect() as connection:
        expected = await connection.scalar(
            text(
                "SELECT event_hash(:prev, 'p-1', 7, 'SomeType', CAST(CAST(:p AS text) AS jsonb),"
                " CAST(CAST(:m AS text) AS jsonb), :at)"
            ),
            {
                "prev": previous,
                "p": orjson.dumps(payload).decode(),
                "m": orjson.dumps(metadata).decode(),
                "at": at,
            },
        )
    assert chain_hash(previous, "p-1", 7, "SomeType", payload, metadata, at) == expected


async def test_appended_batches_chain_and_verify(engine: Any) -> None:
    now = datetime.now(UTC)
    partner = f"hash-{now.timestamp()}"
    first = [
        StoredEvent(
            partner,
            1,
            PartnerRegistered(
                partner_id=partner,
                name='Ünïcode "quoted" \\ name',
                locale="de",
                billing_mode="prepaid",
                currency="EUR",
                credit_price_list_id="credits",
                mailing_price_list_id="mailings",
            ),
            {"actor": "test", "causation_id": "c\n1"},
            now,
        )
    ]
    second = [
        StoredEvent(partner, v, CustomerAttached(customer_id=f"c{v}", name=f"C\t{v}"), {}, now)
        for v in (2, 3, 4)
    ]
    for batch in (first, second):
        async with engine.begin() as connection:
            await PostgresEventStore(connection).append(batch)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT hash = event_hash(lag(hash) OVER (ORDER BY originator_version),"
                    " originator_id, originator_version, type, payload, metadata, recorded_at)"
                    " FROM events WHERE originator_id = :p ORDER BY originator_version"
                ),
                {"p": partner},
            )
        ).all()
    assert [row[0] for row in rows] == [True] * 4
    assert await broken_links(engine) == []
