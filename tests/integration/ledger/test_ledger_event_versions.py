"""Events stored before migration 0004, as the frozen fixture holds them, next to events written
today: the event store and the history view read both in today's shape, the hash chain goes on
across the migration, and the audit export shows every debit's quote (from a v1 payload, or
from `debit_quotes` for later versions)."""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from ledger.__main__ import cli
from ledger.adapters.audit import broken_links
from ledger.adapters.debit_quotes import PostgresDebitQuotes
from ledger.adapters.event_store import PostgresEventStore
from ledger.adapters.projections import PostgresProjections
from ledger.adapters.stored_events import from_row
from ledger.adapters.views.history import history_page
from ledger.adapters.views.reads import ReadPool
from ledger.domain import MailingDebited, PartnerAccount, apply, replay
from ledger.migrations import MIGRATIONS_DIR
from ledger.service_layer.ports import AccountChange, DebitQuote, StoredEvent
from shared import migrations
from shared.database import create_engine
from tests.integration.databases import database_url, recreate_database

FIXTURE = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "ledger_events_v1.json").read_text(encoding="utf-8")
)
PARTNER = FIXTURE["partner_id"]
ROWS: list[dict[str, Any]] = FIXTURE["rows"]
QUOTE = {"component": "recipients", "quantity": "700", "amount_minor": 735, "lines": []}
LATER = MailingDebited(
    mailing_id="m-7",
    customer_id="c1",
    recipients=700,
    credits=735,
    price_list_id="mailings-standard",
    price_list_version=1,
    reservation_id=None,
    captured_credits=0,
    released_credits=0,
    charge_minor=735,
    sent_at=datetime(2026, 11, 3, 12, 0, tzinfo=UTC),
)


@pytest.fixture(scope="module")
async def upgraded() -> AsyncIterator[tuple[str, AsyncEngine, dict[int, str]]]:
    """A database at revision 0003 given the fixture's stream, then upgraded to the head;
    yields its URL, an engine and each event's hash as computed before the upgrade."""
    await recreate_database("ledger_event_versions")
    url = database_url("ledger_event_versions")
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS_DIR, url, "0003")
    engine = create_engine(url)
    async with engine.begin() as connection:
        for row in ROWS:
            await connection.execute(
                text(
                    "INSERT INTO events (originator_id, originator_version, type, payload,"
                    " metadata, recorded_at) VALUES (:id, :version, :type, CAST(:payload AS jsonb),"
                    " CAST(:metadata AS jsonb), :at)"
                ),
                {
                    "id": PARTNER,
                    "version": row["version"],
                    "type": row["type"],
                    "payload": orjson.dumps(row["payload"]).decode(),
                    "metadata": orjson.dumps(row["metadata"]).decode(),
                    "at": datetime.fromisoformat(row["recorded_at"]),
                },
            )
        found = await connection.execute(text("SELECT originator_version, hash FROM events"))
        hashes: dict[int, str] = {version: hash_ for version, hash_ in found}
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS_DIR, url)

    # Today's code appends to the same stream, with the read models kept as the ledger does.
    async with engine.begin() as connection:
        store = PostgresEventStore(connection)
        old = (await store.load_after({PARTNER: 0}))[PARTNER]
        before = replay(e.event for e in old)
        at = datetime.now(UTC)
        await store.append(
            [StoredEvent(PARTNER, before.version + 1, LATER, {"actor": "mailing-platform"}, at)]
        )
        await PostgresDebitQuotes(connection).keep(
            [DebitQuote("mailings-standard", 1, "recipients", 700, QUOTE)]
        )
        events = [*(e.event for e in old), LATER]
        states: list[PartnerAccount] = []
        state: PartnerAccount | None = None
        for event in events:
            state = apply(state, event)
            states.append(state)
        await PostgresProjections(connection).record(
            [
                AccountChange(
                    None,
                    [(s.version, e) for s, e in zip(states, events, strict=True)],
                    states,
                    [*(o.recorded_at for o in old), at],
                )
            ]
        )
    yield url, engine, hashes
    await engine.dispose()


async def test_the_store_reads_old_and_new_rows_in_today_s_shape(
    upgraded: tuple[str, AsyncEngine, dict[int, str]],
) -> None:
    _, engine, _ = upgraded
    async with engine.connect() as connection:
        stored = (await PostgresEventStore(connection).load_after({PARTNER: 0}))[PARTNER]
        found = await connection.execute(
            text("SELECT originator_version, schema_version FROM events ORDER BY 1")
        )
        versions: dict[int, int] = {version: schema for version, schema in found}
    expected = [from_row(r["type"], 1, r["payload"]) for r in ROWS] + [LATER]
    assert [s.event for s in stored] == expected
    assert [s.metadata for s in stored][: len(ROWS)] == [r["metadata"] for r in ROWS]
    assert set(list(versions.values())[: len(ROWS)]) == {1}
    assert versions[len(ROWS) + 1] == 3  # the debit written today


async def test_the_hash_chain_goes_on_across_the_migration(
    upgraded: tuple[str, AsyncEngine, dict[int, str]],
) -> None:
    _, engine, before = upgraded
    async with engine.connect() as connection:
        found = await connection.execute(
            text("SELECT originator_version, encode(hash, 'hex') FROM events")
        )
        after: dict[int, str] = {version: hash_ for version, hash_ in found}
    assert {v: after[v] for v in before} == before
    assert len(after) == len(before) + 1
    assert PARTNER not in {p for p, _, _ in await broken_links(engine)}


async def test_the_history_shows_every_event_in_today_s_shape(
    upgraded: tuple[str, AsyncEngine, dict[int, str]],
) -> None:
    url, _, _ = upgraded
    reads = ReadPool(url, 1)
    try:
        page = await history_page(reads, PARTNER, 0, 100)
    finally:
        await reads.close()
    assert page is not None
    debits = [e.payload for e in page if e.type == "MailingDebited"]
    assert len(debits) == 7
    assert not any("quote" in payload for payload in debits)
    assert debits[0]["captured_credits"] == 5250  # a v1 debit, upcast
    assert debits[-1]["mailing_id"] == "m-7"
    assert page[0].metadata == ROWS[0]["metadata"]


async def test_the_audit_export_shows_the_quote_of_every_debit(
    upgraded: tuple[str, AsyncEngine, dict[int, str]],
) -> None:
    url, _, _ = upgraded
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["ops", "audit", "export", "--partner", PARTNER],
        env={"LEDGER_DATABASE_URL": url},
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    debits = [r for r in rows if r["type"] == "MailingDebited"]
    v1_quotes = [r["payload"]["quote"] for r in ROWS if r["type"] == "MailingDebited"]
    assert [d["quote"] for d in debits] == [*v1_quotes, QUOTE]
    assert [d["schema_version"] for d in debits] == [1] * 6 + [3]
    assert debits[-1]["price_list_version"] == 1
    assert all(len(r["hash"]) == 64 for r in rows)
