"""Snapshots are a cache: deleting them changes no answer, and `ops replay` rebuilds and checks
them. A ledger of its own (database, topics, consumers) with a snapshot every 3 events."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from typer.testing import CliRunner

from ledger.__main__ import cli
from ledger.adapters.rebuild import compare
from ledger.api.app import create_app
from ledger.entrypoints import run_consumers, run_relay_and_expiry
from ledger.migrations import MIGRATIONS_DIR
from ledger.settings import LedgerSettings
from shared.codec import encode
from shared.database import create_engine
from shared.kafka_admin import ensure_topics
from tests.integration.conftest import OPS_TOKEN
from tests.integration.databases import fresh_migrated_database
from tests.integration.ledger.conftest import balance, eventually, new_partner
from tests.support.clients import app_client
from tests.support.messages import mailing_sent
from tests.support.settings import KAFKA

INTERVAL = 3


@pytest.fixture(scope="module")
async def settings(ledger_settings: LedgerSettings) -> LedgerSettings:
    prefix = f"s{uuid.uuid4().hex[:8]}."
    await ensure_topics(KAFKA, prefix=prefix)
    return ledger_settings.model_copy(
        update={
            "database_url": await fresh_migrated_database("ledger_snapshots", MIGRATIONS_DIR),
            "topic_prefix": prefix,
            "consumer_group": f"ledger-{prefix}",
            "snapshot_interval": INTERVAL,
        }
    )


@pytest.fixture(scope="module")
async def api(settings: LedgerSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    stop = asyncio.Event()
    workers = [
        asyncio.create_task(run_consumers(settings, stop)),
        asyncio.create_task(run_relay_and_expiry(settings, stop)),
    ]
    async with app_client(app, OPS_TOKEN) as client:
        yield client
    stop.set()
    await asyncio.gather(*workers)


def run_cli(settings: LedgerSettings, *args: str) -> tuple[int, str]:
    env = {
        "LEDGER_DATABASE_URL": settings.database_url,
        "LEDGER_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "LEDGER_TOPIC_PREFIX": settings.topic_prefix,
        "LEDGER_PRICING_URL": settings.pricing_url,
        "LEDGER_OPS_TOKEN": settings.ops_token,
        "LEDGER_SNAPSHOT_INTERVAL": str(settings.snapshot_interval),
    }
    result = CliRunner().invoke(cli, ["ops", *args], env=env)
    return result.exit_code, result.output


async def sql(settings: LedgerSettings, statement: str) -> Any:
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            return (await connection.execute(text(statement))).all()
    finally:
        await engine.dispose()


async def history(
    api: httpx.AsyncClient, settings: LedgerSettings, producer: AIOKafkaProducer
) -> tuple[list[str], list[datetime]]:
    """A varied history for three partners; the times between the steps, for `as_of`."""

    async def publish(partner_id: str, recipients: int, reservation: str | None = None) -> None:
        message = mailing_sent(partner_id, "c1", recipients, reservation_id=reservation)
        await producer.send_and_wait(
            settings.topic_prefix + "mailing.sent",
            value=encode(message),
            key=partner_id.encode(),
        )

    partners: list[str] = []
    times: list[datetime] = []
    for n in range(3):
        partner_id, _ = await new_partner(api, customers=2)
        partners.append(partner_id)
        posted = await api.post(
            f"/v1/partners/{partner_id}/credits/grants", json={"credits": 5000, "reason": "x"}
        )
        assert posted.status_code == 201, posted.text
        times.append(datetime.now(UTC))
        billing = await api.put(
            f"/v1/partners/{partner_id}/billing",
            json={"billing_mode": "prepaid", "reminder_threshold": 4000 - n * 100},
        )
        assert billing.status_code == 200, billing.text
        for hold in ("h1", "h2"):
            held = await api.post(
                f"/v1/partners/{partner_id}/reservations",
                json={"reservation_id": hold, "credits": 300},
                headers={"Idempotency-Key": f"{hold}-{partner_id}"},
            )
            assert held.status_code == 201, held.text
        released = await api.post(f"/v1/partners/{partner_id}/reservations/h2/release")
        assert released.status_code == 200, released.text
        times.append(datetime.now(UTC))
        await publish(partner_id, 100, reservation="h1")
        for recipients in (200, 300, 400 + n):
            await publish(partner_id, recipients)
        expected = 5000 - 105 - 210 - 315 - (400 + n) * 105 // 100

        async def debited(partner_id: str = partner_id, expected: int = expected) -> bool:
            return bool((await balance(api, partner_id))["balance"] == expected)

        await eventually(debited, what="four debits")
        times.append(datetime.now(UTC))
        adjusted = await api.post(
            f"/v1/partners/{partner_id}/credits/adjustments",
            json={"delta": -7, "reason": "correction"},
        )
        assert adjusted.status_code == 201, adjusted.text
        times.append(datetime.now(UTC))
    return partners, times


async def answers(
    api: httpx.AsyncClient, partners: list[str], times: list[datetime]
) -> dict[str, Any]:
    """Every GET answer about the partners, by path."""
    paths = []
    for partner_id in partners:
        base = f"/v1/partners/{partner_id}"
        paths += [base, f"{base}/balance", f"{base}/customers", f"{base}/billing"]
        paths += [f"{base}/reservations/h1", f"{base}/reservations/h2"]
        paths += [f"{base}/events?limit=1000", f"{base}/events?after=4&limit=5"]
        paths += [f"{base}/balance?{httpx.QueryParams({'as_of': t.isoformat()})}" for t in times]
    found = {}
    for path in paths:
        response = await api.get(path)
        found[path] = (response.status_code, response.json())
    return found


async def test_deleting_every_snapshot_changes_no_answer_and_replay_rebuilds_them(
    api: httpx.AsyncClient, settings: LedgerSettings, producer: AIOKafkaProducer
) -> None:
    partners, times = await history(api, settings, producer)
    before = await answers(api, partners, times)
    # Only a balance as of a time before the partner was registered is not found.
    assert {p for p, (status, _) in before.items() if status != 200} == {
        f"/v1/partners/{partner}/balance?{httpx.QueryParams({'as_of': t.isoformat()})}"
        for n, partner in enumerate(partners)
        for t in times[: 4 * n]
    }
    kept = await sql(settings, "SELECT partner_id, version FROM snapshots ORDER BY 1, 2")
    assert len(kept) >= 3 * 4 and all(version % INTERVAL == 0 for _, version in kept)

    # The rebuilt snapshots equal the live ones.
    code, output = await asyncio.to_thread(run_cli, settings, "replay")
    assert code == 0, output
    assert "no drift" in output

    await sql(settings, "DELETE FROM snapshots RETURNING 1")
    assert await answers(api, partners, times) == before
    code, output = await asyncio.to_thread(run_cli, settings, "replay")
    assert code == 0, output  # a missing snapshot is a cache miss, not drift
    assert f"{len(kept)} snapshots were missing" in output

    # The consumer decides from the events alone too: a further debit lands as before.
    after_debit = before[f"/v1/partners/{partners[0]}/balance"][1]["balance"] - 525
    await producer.send_and_wait(
        settings.topic_prefix + "mailing.sent",
        value=encode(mailing_sent(partners[0], "c2", 500)),
        key=partners[0].encode(),
    )

    async def debited() -> bool:
        return bool((await balance(api, partners[0]))["balance"] == after_debit)

    await eventually(debited, what="the debit after the snapshots were deleted")
    now = await answers(api, partners, times)

    code, output = await asyncio.to_thread(run_cli, settings, "replay", "--rebuild-snapshots")
    assert code == 0, output
    assert "replaced the live snapshots" in output
    assert await answers(api, partners, times) == now
    rebuilt = await sql(settings, "SELECT partner_id, version FROM snapshots ORDER BY 1, 2")
    assert len(rebuilt) >= len(kept)
    assert set(kept) <= set(rebuilt)

    # A snapshot that no longer matches its events is drift; --rebuild-snapshots mends it.
    await sql(
        settings,
        "UPDATE snapshots SET state = jsonb_set(state, '{balance}', '1')"
        f" WHERE partner_id = '{partners[1]}' AND version = {INTERVAL} RETURNING 1",
    )
    code, output = await asyncio.to_thread(run_cli, settings, "replay")
    assert code == 1
    engine = create_engine(settings.database_url)
    try:
        drift = await compare(engine, "replay_check")  # the schema the command rebuilt into
    finally:
        await engine.dispose()
    assert [(d.table, d.key) for d in drift] == [("snapshots", f"{partners[1]}/{INTERVAL}")]
    code, output = await asyncio.to_thread(run_cli, settings, "replay", "--rebuild-snapshots")
    assert code == 0, output
    code, output = await asyncio.to_thread(run_cli, settings, "replay")
    assert code == 0, output
    assert "no drift" in output
    assert await answers(api, partners, times) == now
