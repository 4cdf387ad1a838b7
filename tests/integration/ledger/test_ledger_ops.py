"""The ops tool against the real database and broker: replay, verify, export, reingest, as_of."""

import asyncio
import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from typer.testing import CliRunner

from ledger.__main__ import cli
from ledger.adapters.audit import broken_links
from ledger.adapters.rebuild import compare, rebuild
from ledger.api.app import create_app
from ledger.entrypoints import run_consumers, run_relay_and_expiry
from ledger.migrations import MIGRATIONS_DIR
from ledger.ops import reingest_topic
from ledger.settings import LedgerSettings
from shared.codec import encode
from shared.database import create_engine
from shared.kafka_admin import ensure_topics
from tests.integration.conftest import OPS_TOKEN
from tests.integration.databases import fresh_migrated_database
from tests.integration.ledger.conftest import (
    Publish,
    balance,
    eventually,
    new_partner,
    read_topic,
)
from tests.support.clients import app_client
from tests.support.messages import mailing_sent
from tests.support.price_lists import MAILING_PRICE_LIST
from tests.support.settings import KAFKA

pytestmark = pytest.mark.usefixtures("ledger_workers")


def run_cli(settings: LedgerSettings, *args: str) -> tuple[int, str]:
    env = {
        "LEDGER_DATABASE_URL": settings.database_url,
        "LEDGER_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "LEDGER_TOPIC_PREFIX": settings.topic_prefix,
        "LEDGER_PRICING_URL": settings.pricing_url,
        "LEDGER_OPS_TOKEN": settings.ops_token,
        "LEDGER_CONSUMER_GROUP": settings.consumer_group,
    }
    result = CliRunner().invoke(cli, ["ops", *args], env=env)
    return result.exit_code, result.output


async def busy_partner(api: httpx.AsyncClient, publish: Publish) -> str:
    """A partner with a grant, a hold and a few debits on record."""
    partner_id, _ = await new_partner(api)
    await api.post(
        f"/v1/partners/{partner_id}/credits/grants", json={"credits": 9000, "reason": "x"}
    )
    held = await api.post(
        f"/v1/partners/{partner_id}/reservations",
        json={"reservation_id": "hold-1", "credits": 500},
        headers={"Idempotency-Key": f"hold-{partner_id}"},
    )
    assert held.status_code == 201, held.text
    for recipients in (100, 200, 300):
        await publish("mailing.sent", mailing_sent(partner_id, "c1", recipients), partner_id)

    async def debited() -> bool:
        return bool((await balance(api, partner_id))["balance"] == 9000 - 105 - 210 - 315)

    await eventually(debited, what="three debits")
    return partner_id


async def test_replay_finds_no_drift_then_names_a_planted_one(
    ledger_api: httpx.AsyncClient, publish: Publish, ledger_settings: LedgerSettings
) -> None:
    partner_id = await busy_partner(ledger_api, publish)
    engine = create_engine(ledger_settings.database_url)
    try:
        await rebuild(engine, "replay_test")
        assert await compare(engine, "replay_test") == []

        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE partner_balances SET balance = balance + 1 WHERE partner_id = :p"),
                {"p": partner_id},
            )
        await rebuild(engine, "replay_test")
        drift = await compare(engine, "replay_test")
        assert [(d.table, d.key) for d in drift] == [("partner_balances", partner_id)]
        async with engine.begin() as connection:  # put it right again for the other tests
            await connection.execute(
                text("UPDATE partner_balances SET balance = balance - 1 WHERE partner_id = :p"),
                {"p": partner_id},
            )
    finally:
        await engine.dispose()
    code, output = await asyncio.to_thread(run_cli, ledger_settings, "replay")
    assert code == 0, output
    assert "no drift" in output


async def test_verify_names_the_first_event_edited_behind_the_ledgers_back(
    ledger_api: httpx.AsyncClient, publish: Publish, ledger_settings: LedgerSettings
) -> None:
    partner_id = await busy_partner(ledger_api, publish)
    engine = create_engine(ledger_settings.database_url)
    try:
        assert partner_id not in {p for p, _, _ in await broken_links(engine)}
        async with engine.begin() as connection:
            # Only someone who switches the append-only trigger off can do this.
            await connection.execute(text("ALTER TABLE events DISABLE TRIGGER events_append_only"))
            await connection.execute(
                text(
                    "UPDATE events SET payload = jsonb_set(payload, '{credits}', '1')"
                    " WHERE originator_id = :p AND type = 'MailingDebited'"
                    " AND originator_version = (SELECT min(originator_version) FROM events"
                    " WHERE originator_id = :p AND type = 'MailingDebited')"
                ),
                {"p": partner_id},
            )
            await connection.execute(text("ALTER TABLE events ENABLE TRIGGER events_append_only"))
        async with engine.connect() as connection:
            tampered = (
                await connection.execute(
                    text(
                        "SELECT min(originator_version) FROM events"
                        " WHERE originator_id = :p AND type = 'MailingDebited'"
                    ),
                    {"p": partner_id},
                )
            ).scalar_one()
        broken = {p: v for p, v, _ in await broken_links(engine)}
        assert broken[partner_id] == tampered
    finally:
        await engine.dispose()
    code, output = await asyncio.to_thread(run_cli, ledger_settings, "audit", "verify")
    assert code == 1
    assert partner_id in output


async def test_export_lists_every_event_with_its_quote_and_running_balance(
    ledger_api: httpx.AsyncClient, publish: Publish, ledger_settings: LedgerSettings
) -> None:
    partner_id = await busy_partner(ledger_api, publish)
    code, output = await asyncio.to_thread(
        run_cli, ledger_settings, "audit", "export", "--partner", partner_id
    )
    assert code == 0, output
    rows = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [r["type"] for r in rows][-4:] == [
        "CreditsReserved",
        "MailingDebited",
        "MailingDebited",
        "MailingDebited",
    ]
    debits = [r for r in rows if r["type"] == "MailingDebited"]
    assert [r["credits_delta"] for r in debits] == [-105, -210, -315]
    assert debits[-1]["balance_after"] == 9000 - 630
    assert debits[0]["price_list_id"] == MAILING_PRICE_LIST["id"]
    assert debits[0]["price_list_version"] == 1
    assert debits[0]["quote"]["amount_minor"] == 105
    code, csv_output = await asyncio.to_thread(
        run_cli, ledger_settings, "audit", "export", "--partner", partner_id, "--format", "csv"
    )
    assert code == 0
    assert csv_output.splitlines()[0].startswith("global_position,version,type")


async def test_balance_as_of_a_past_time(ledger_api: httpx.AsyncClient, publish: Publish) -> None:
    partner_id, _ = await new_partner(ledger_api)
    await ledger_api.post(
        f"/v1/partners/{partner_id}/credits/grants", json={"credits": 1000, "reason": "x"}
    )
    between = datetime.now(UTC)
    await asyncio.sleep(0.01)
    await ledger_api.post(
        f"/v1/partners/{partner_id}/credits/grants", json={"credits": 500, "reason": "y"}
    )
    then = await ledger_api.get(
        f"/v1/partners/{partner_id}/balance", params={"as_of": between.isoformat()}
    )
    assert then.status_code == 200
    assert then.json()["balance"] == 1000
    assert (await balance(ledger_api, partner_id))["balance"] == 1500
    naive = await ledger_api.get(
        f"/v1/partners/{partner_id}/balance", params={"as_of": "2026-01-01T00:00:00"}
    )
    assert naive.status_code == 422


async def test_reingesting_the_whole_topic_leaves_every_balance_as_it_was(
    ledger_api: httpx.AsyncClient,
    publish: Publish,
    ledger_settings: LedgerSettings,
) -> None:
    partner_id = await busy_partner(ledger_api, publish)
    engine = create_engine(ledger_settings.database_url)
    try:
        async with engine.connect() as connection:
            before = (
                await connection.execute(text("SELECT partner_id, balance FROM partner_balances"))
            ).all()
            events_before = (await connection.execute(text("SELECT count(*) FROM events"))).scalar()
        from ledger.bootstrap import bootstrap

        container = bootstrap(ledger_settings)
        progress: list[tuple[int, int]] = []
        count = await reingest_topic(
            ledger_settings,
            container.mailing_sent_consumer(),
            datetime(2020, 1, 1, tzinfo=UTC),
            on_progress=lambda done, total: progress.append((done, total)),
        )
        await container.close()
        assert count >= 3
        assert progress[-1] == (count, count)
        async with engine.connect() as connection:
            after = (
                await connection.execute(text("SELECT partner_id, balance FROM partner_balances"))
            ).all()
            events_after = (await connection.execute(text("SELECT count(*) FROM events"))).scalar()
    finally:
        await engine.dispose()
    assert sorted(after) == sorted(before)
    assert events_after == events_before
    assert partner_id in dict(after)


async def test_ops_dead_letter_sets_a_message_aside_and_the_consumer_skips_it_once(
    ledger_settings: LedgerSettings, producer: AIOKafkaProducer
) -> None:
    # A system of its own, whose consumer is not running yet: the message is not reached.
    prefix = f"aside{uuid.uuid4().hex[:6]}."
    await ensure_topics(KAFKA, prefix=prefix)
    settings = ledger_settings.model_copy(
        update={
            "database_url": await fresh_migrated_database("ledger_aside_test", MIGRATIONS_DIR),
            "topic_prefix": prefix,
            "consumer_group": f"aside-{prefix}",
        }
    )
    app = create_app(settings)
    async with app_client(app, OPS_TOKEN) as api:
        partner_id, _ = await new_partner(api)
        await api.post(
            f"/v1/partners/{partner_id}/credits/grants", json={"credits": 10000, "reason": "x"}
        )
        offsets = []
        for recipients in (100, 200, 300):
            sent = await producer.send_and_wait(
                prefix + "mailing.sent",
                encode(mailing_sent(partner_id, "c1", recipients)),
                key=partner_id.encode(),
                partition=0,
            )
            offsets.append(sent.offset)

        def set_aside(offset: int) -> tuple[int, str]:
            return run_cli(
                settings,
                "dead-letter",
                "--topic",
                "mailing.sent",
                "--partition",
                "0",
                "--offset",
                str(offset),
                "--reason",
                "platform bug #42: recipients doubled",
            )

        code, output = await asyncio.to_thread(set_aside, offsets[1])
        assert code == 0, output
        code, output = await asyncio.to_thread(set_aside, offsets[1])
        assert code == 1
        assert "dead letter already" in output
        code, output = await asyncio.to_thread(set_aside, offsets[2] + 1000)
        assert code == 1
        assert "no message at offset" in output

        stop = asyncio.Event()
        workers = [
            asyncio.create_task(run_consumers(settings, stop)),
            asyncio.create_task(run_relay_and_expiry(settings, stop)),
        ]
        try:

            async def others_debited() -> bool:
                return bool((await balance(api, partner_id))["balance"] == 10000 - 105 - 315)

            await eventually(others_debited, what="the two other mailings debited")

            async def on_the_dead_letter_topic() -> bool:
                found = await read_topic(settings, "mailing.sent.dlq", key=partner_id)
                return len(found) == 1

            await eventually(on_the_dead_letter_topic, what="the message on the DLQ topic")
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*workers), timeout=15)
        history = (await api.get(f"/v1/partners/{partner_id}/events")).json()["events"]
        assert [e["payload"]["credits"] for e in history if e["type"] == "MailingDebited"] == [
            105,
            315,
        ]

    [(headers, _)] = await read_topic(settings, "mailing.sent.dlq", key=partner_id)
    assert headers["dlq.reason"] == b"platform bug #42: recipients doubled"
    assert headers["dlq.source"] == f"mailing.sent/0/{offsets[1]}".encode()
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(text('SELECT "offset", by_hand FROM dead_letters'))
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [(offsets[1], True)]

    # Already applied: refused.
    code, output = await asyncio.to_thread(set_aside, offsets[0])
    assert code == 1
    assert "past it already" in output
