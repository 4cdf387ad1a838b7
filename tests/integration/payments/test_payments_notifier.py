"""Reminder e-mails through a real local SMTP server (aiosmtpd): one per notification, in the
partner's language; refusals by the server are retried or given up, never duplicated."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.bootstrap import bootstrap
from payments.entrypoints import run_notifier
from payments.settings import PaymentsSettings
from shared.envelope import CloudEvent
from tests.integration.conftest import free_port
from tests.integration.payments.conftest import Mailbox, healthy_metrics, publish, unique
from tests.support.settings import KAFKA


@pytest.fixture(scope="module")
async def settings(
    database_url: str, topics: str, smtp: tuple[Mailbox, int]
) -> AsyncIterator[PaymentsSettings]:
    settings = PaymentsSettings(
        database_url=database_url,
        kafka_bootstrap_servers=KAFKA,
        topic_prefix=topics,
        notifier_group=unique("notifier-test"),
        notifier_metrics_port=free_port(),
        smtp_port=smtp[1],
        notify_brand="Acme Mail",
        driver_poll_seconds=0.05,
    )
    container = bootstrap(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(run_notifier(container, stop))
    yield settings
    stop.set()
    await asyncio.wait_for(task, 20)
    await container.close()


def notification(event_type: str, partner_id: str, **data: Any) -> CloudEvent:
    return CloudEvent.new(
        event_type,
        "/ledger",
        {"partner_id": partner_id, "occurred_at": "2026-11-23T10:00:00+00:00", **data},
    )


async def wait_for_mail(mailbox: Mailbox, count: int) -> None:
    for _ in range(150):
        if len(mailbox.messages) >= count:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # anything more would arrive now


async def test_one_mail_per_notification_in_the_partners_language(
    settings: PaymentsSettings,
    smtp: tuple[Mailbox, int],
    producer: AIOKafkaProducer,
    engine: AsyncEngine,
) -> None:
    mailbox = smtp[0]
    partner = unique("p")
    low = notification(
        "ledger.low_balance_reached", partner, balance=980, threshold=1000, locale="de"
    )
    failed = notification(
        "ledger.purchase_failed",
        partner,
        purchase_id="pu7",
        reason="card declined",
        code="card_declined",
        retryable=False,
        locale="en",
    )
    suspended = notification(
        "ledger.auto_purchase_suspended", partner, failures=3, reason="card declined", locale="de"
    )
    expired = notification("ledger.reservation_expired", partner, reservation_id="r1", credits=5)
    topic = settings.topic_prefix + "ledger.notifications"
    await publish(producer, topic, low, failed, suspended, expired, low, failed)

    await wait_for_mail(mailbox, 3)

    # Sent in any order; each notification once, matched by its stable Message-ID.
    mine = {
        m["Message-ID"]: m for m in mailbox.messages if m["To"] == f"billing+{partner}@example.com"
    }
    assert len([m for m in mailbox.messages if m["To"] == f"billing+{partner}@example.com"]) == 3
    ids = [f"<{e.id}@mailbill.example>" for e in (low, failed, suspended)]
    assert [(mine[i]["Subject"], mine[i]["Content-Language"], mine[i]["From"]) for i in ids] == [
        ("Acme Mail: Ihr Guthaben ist niedrig", "de", "billing@mailbill.example"),
        ("Acme Mail: your credit purchase failed", "en", "billing@mailbill.example"),
        ("Acme Mail: Automatische Credit-Käufe sind ausgesetzt", "de", "billing@mailbill.example"),
    ]
    bodies = [mine[i].get_content() for i in ids]
    assert "ist auf 980 Credits gesunken" in bodies[0]
    assert "Erinnerungsschwelle von 1.000 Credits" in bodies[0]
    assert "credit purchase pu7 of account " + partner + " failed: card declined." in bodies[1]
    assert "Please update your payment method." in bodies[1]
    assert "nach 3 fehlgeschlagenen Zahlungen" in bodies[2]
    async with engine.connect() as connection:
        statuses = (
            await connection.execute(
                text(
                    "SELECT status, count(*) FROM notifications WHERE partner_id = :p"
                    " GROUP BY status"
                ),
                {"p": partner},
            )
        ).all()
    assert [tuple(row) for row in statuses] == [("sent", 3)]


async def test_refusals_are_retried_or_given_up_never_sent_twice(
    settings: PaymentsSettings, engine: AsyncEngine, smtp: tuple[Mailbox, int]
) -> None:
    async with engine.begin() as connection:
        for recipient in ("billing+gone@example.com", "billing+busy@example.com"):
            await connection.execute(
                text(
                    "INSERT INTO notifications (message_id, partner_id, type, locale, recipient,"
                    " subject, body, status, next_try_at) VALUES (:id, 'px', 't', 'en', :to,"
                    " 's', 'b', 'pending', now() + interval '1 hour')"
                ),
                {"id": recipient, "to": recipient},
            )
    # Only due in this sender's clock (two hours ahead); the running notifier leaves them.
    later = datetime.now(UTC) + timedelta(hours=2)
    container = bootstrap(settings)
    sender = container.reminder_sender(clock=lambda: later)
    try:
        assert await sender.send_due() == 2
        assert await sender.send_due() == 0
    finally:
        await container.close()

    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT message_id, status, tries, next_try_at > :t AS later, last_error"
                    " FROM notifications WHERE partner_id = 'px' ORDER BY message_id"
                ),
                {"t": later},
            )
        ).all()
    assert [(r.message_id, r.status, r.tries, r.later) for r in rows] == [
        ("billing+busy@example.com", "pending", 1, True),
        ("billing+gone@example.com", "failed", 1, True),
    ]
    assert "try again later" in rows[0].last_error
    assert "no such mailbox" in rows[1].last_error


async def test_the_notifier_serves_its_metrics_and_health(settings: PaymentsSettings) -> None:
    metrics = await healthy_metrics(settings.notifier_metrics_port)
    labels = f'group="{settings.notifier_group}",topic="ledger.notifications"'
    for name in ("consumer_dead_letters_total", "consumer_batch_duration_seconds_count"):
        assert f"{name}{{{labels}}}" in metrics
    loop = f"{settings.notifier_group}/ledger.notifications"
    assert f'consumer_seconds_since_last_commit{{loop="{loop}"}}' in metrics
    assert "payments_notifications_total" in metrics
