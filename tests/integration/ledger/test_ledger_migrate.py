"""`python -m ledger migrate` on a database written before the read models of migration 0003:
it rebuilds them (and the snapshots) from the events, and the API answers from them."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from typer.testing import CliRunner

from ledger.__main__ import cli
from ledger.adapters.audit import broken_links
from ledger.adapters.rebuild import compare, rebuild
from ledger.api.app import create_app
from ledger.migrations import MIGRATIONS_DIR
from ledger.settings import LedgerSettings
from shared import migrations
from shared.database import create_engine
from tests.integration.conftest import OPS_TOKEN
from tests.integration.databases import database_url, recreate_database
from tests.support.clients import app_client

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
QUOTE = {"amount_minor": 105, "currency": "CREDITS", "lines": [{"quantity": 100}]}


def debit(mailing: str, customer: str, recipients: int, credits: int, **hold: Any) -> Any:
    """A `MailingDebited` as version 1 wrote it: every field, the quote included."""
    return (
        "MailingDebited",
        {
            "mailing_id": mailing,
            "customer_id": customer,
            "recipients": recipients,
            "credits": credits,
            "price_list_id": "mailings-standard",
            "price_list_version": 1,
            "quote": {**QUOTE, "amount_minor": credits},
            "reservation_id": hold.get("reservation_id"),
            "captured_credits": hold.get("captured", 0),
            "released_credits": hold.get("released", 0),
            "charge_minor": None,
        },
    )


def registered(partner_id: str) -> Any:
    return (
        "PartnerRegistered",
        {
            "partner_id": partner_id,
            "name": f"Agency {partner_id}",
            "locale": "de",
            "billing_mode": "prepaid",
            "currency": "EUR",
            "credit_price_list_id": "credits-eur",
            "mailing_price_list_id": "mailings-standard",
        },
    )


HOLD_UNTIL = (START + timedelta(hours=1)).isoformat()
STREAMS: dict[str, list[Any]] = {
    "old-1": [
        registered("old-1"),
        ("CustomerAttached", {"customer_id": "c1", "name": "C1"}),
        ("CustomerAttached", {"customer_id": "c2", "name": "C2"}),
        ("CreditsGranted", {"credits": 1000, "reason": "welcome", "actor": "ops"}),
        (
            "BillingSettingsChanged",
            {
                "billing_mode": "prepaid",
                "reminder_threshold": 500,
                "reminder_armed": True,
                "auto_purchase_credits": None,
                "auto_purchase_trigger": None,
                "payment_method": {"type": "card", "id": "pm_1"},
            },
        ),
        (
            "CreditsReserved",
            {"reservation_id": "h1", "credits": 300, "expires_at": HOLD_UNTIL, "mailing_id": None},
        ),
        debit("m1", "c1", 100, 105, reservation_id="h1", captured=105, released=195),
        debit("m2", "c2", 200, 210),
        (
            "CreditsReserved",
            {"reservation_id": "h2", "credits": 100, "expires_at": HOLD_UNTIL, "mailing_id": None},
        ),
        ("ReservationReleased", {"reservation_id": "h2", "credits": 100}),
    ],
    "old-2": [
        registered("old-2"),
        ("CustomerAttached", {"customer_id": "c1", "name": "C1"}),
        ("CreditsGranted", {"credits": 50, "reason": "welcome", "actor": "ops"}),
        debit("m3", "c1", 100, 105),
        ("CreditsAdjusted", {"delta": 100, "reason": "goodwill", "actor": "ops"}),
    ],
}


def at(version: int) -> datetime:
    return START + timedelta(minutes=version)


async def write_old_database(url: str) -> None:
    """The events as the code before migration 0003 appended them (the database hashes them),
    and the projections it kept then."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for partner_id, stream in STREAMS.items():
                for version, (type_name, payload) in enumerate(stream, start=1):
                    await connection.execute(
                        text(
                            "INSERT INTO events (originator_id, originator_version, type,"
                            " payload, metadata, recorded_at) VALUES (:id, :version, :type,"
                            " CAST(:payload AS jsonb), CAST(:metadata AS jsonb), :at)"
                        ),
                        {
                            "id": partner_id,
                            "version": version,
                            "type": type_name,
                            "payload": orjson.dumps(payload).decode(),
                            "metadata": orjson.dumps({"actor": "ops"}).decode(),
                            "at": at(version),
                        },
                    )
            await connection.execute(
                text("INSERT INTO partner_balances VALUES ('old-1', 685, 0, 0, 0, 10, :at);"),
                {"at": at(10)},
            )
            await connection.execute(
                text(
                    "INSERT INTO reservations VALUES ('old-1', 'h1', 300, 'captured', :until),"
                    " ('old-1', 'h2', 100, 'released', :until)"
                ),
                {"until": START + timedelta(hours=1)},
            )
    finally:
        await engine.dispose()


def migrate(url: str) -> tuple[int, str]:
    env = {"LEDGER_DATABASE_URL": url, "LEDGER_SNAPSHOT_INTERVAL": "3"}
    result = CliRunner().invoke(cli, ["migrate"], env=env)
    return result.exit_code, result.output


async def test_migrate_rebuilds_the_read_models_of_a_database_written_before_them() -> None:
    await recreate_database("ledger_backfill")
    url = database_url("ledger_backfill")
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS_DIR, url, "0002")
    await write_old_database(url)

    code, output = await asyncio.to_thread(migrate, url)
    assert code == 0, output
    assert "rebuilt the read models and snapshots of 2 partners" in output

    app = create_app(LedgerSettings(database_url=url, ops_token=OPS_TOKEN))
    async with app_client(app, OPS_TOKEN) as api:

        async def get(path: str, **params: str) -> Any:
            response = await api.get(f"/v1/partners/{path}", params=params)
            assert response.status_code == 200, (path, response.text)
            return response.json()

        partner = await get("old-1")
        assert partner["name"] == "Agency old-1"
        assert (await get("old-1/billing"))["reminder_threshold"] == 500
        customers = await get("old-1/customers")
        assert [c["customer_id"] for c in customers["customers"]] == ["c1", "c2"]
        first = await get("old-1/balance")
        assert (first["balance"], first["held"]) == (685, 0)
        assert (await get("old-1/balance", as_of=at(4).isoformat()))["balance"] == 1000
        assert (await get("old-1/balance", as_of=at(6).isoformat()))["held"] == 300
        assert (await get("old-1/reservations/h1"))["status"] == "captured"
        assert (await get("old-1/reservations/h2"))["status"] == "released"
        events = (await get("old-1/events"))["events"]
        assert [e["version"] for e in events] == list(range(1, 11))
        assert (await get("old-2/balance"))["balance"] == 45

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            snapshots = await connection.execute(
                text("SELECT partner_id, version FROM snapshots ORDER BY 1, 2")
            )
            assert snapshots.all() == [("old-1", 3), ("old-1", 6), ("old-1", 9), ("old-2", 3)]
        # What it rebuilt is what a replay rebuilds.
        await rebuild(engine, "backfill_check", 3)
        assert await compare(engine, "backfill_check") == []
        assert await broken_links(engine) == []
    finally:
        await engine.dispose()

    # Once the read models are there, migrate leaves them be.
    code, output = await asyncio.to_thread(migrate, url)
    assert code == 0, output
    assert "rebuilt" not in output
