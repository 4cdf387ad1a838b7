"""The long-running processes: the payment worker and the notifier."""

import asyncio
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncEngine

from payments.bootstrap import bootstrap
from payments.gateways import Gateway
from payments.notifier.service import Mailer, NotificationRecorder
from payments.settings import PaymentsSettings
from shared.database import create_engine
from shared.messaging.consumer import Subscription, run_consumer
from shared.messaging.health import BatchWatch, WorkerHealth, serve_worker_status, track_outbox_age
from shared.messaging.kafka import create_producer
from shared.messaging.relay import run_relay
from shared.topics import (
    NOTIFICATIONS,
    NOTIFICATIONS_DLQ,
    PAYMENT_REQUESTS,
    PAYMENT_REQUESTS_DLQ,
)


async def run_worker(
    settings: PaymentsSettings, stop: asyncio.Event, gateways: Mapping[str, Gateway] | None = None
) -> None:
    """Consume payment requests, drive them through the gateways, relay the results; serve
    `/metrics` and `/healthz` on PAYMENTS_WORKER_METRICS_PORT."""
    container = bootstrap(settings, gateways)
    producer = create_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    wake = asyncio.Event()
    consumer_watch = BatchWatch(f"{settings.consumer_group}/{PAYMENT_REQUESTS.name}")
    relay_watch = BatchWatch("payments.outbox", kind="relay")
    health = WorkerHealth([consumer_watch, relay_watch], settings.worker_stuck_seconds)
    try:
        await asyncio.gather(
            serve_worker_status(health, settings.host, settings.worker_metrics_port, stop),
            track_outbox_age(container.engine, stop, every_seconds=5.0),
            run_consumer(
                container.engine,
                Subscription(
                    PAYMENT_REQUESTS.name,
                    settings.consumer_group,
                    container.recorder(),
                    dead_letter_topic=PAYMENT_REQUESTS_DLQ.name,
                ),
                bootstrap_servers=settings.kafka_bootstrap_servers,
                topic_prefix=settings.topic_prefix,
                stop=stop,
                after_batch=wake.set,
                batch_size=settings.consumer_batch_size,
                session_timeout_ms=settings.consumer_session_timeout_ms,
                watch=consumer_watch,
            ),
            container.driver().run(stop, wake, settings.driver_poll_seconds),
            run_relay(
                container.engine,
                producer,
                batch_size=settings.relay_batch_size,
                poll_seconds=settings.relay_poll_seconds,
                topic_prefix=settings.topic_prefix,
                stop=stop,
                watch=relay_watch,
            ),
        )
    finally:
        await producer.stop()
        await container.close()


def mailer(settings: PaymentsSettings, engine: AsyncEngine) -> Mailer:
    return Mailer(
        engine,
        sender=settings.notify_from,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        start_tls=settings.smtp_start_tls,
        timeout_seconds=settings.smtp_timeout_seconds,
    )


async def run_notifier(settings: PaymentsSettings, stop: asyncio.Event) -> None:
    """Consume the ledger's notifications and send the reminder e-mails."""
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    wake = asyncio.Event()
    try:
        await asyncio.gather(
            run_consumer(
                engine,
                Subscription(
                    NOTIFICATIONS.name,
                    settings.notifier_group,
                    NotificationRecorder(settings.notify_to, settings.notify_brand),
                    dead_letter_topic=NOTIFICATIONS_DLQ.name,
                ),
                bootstrap_servers=settings.kafka_bootstrap_servers,
                topic_prefix=settings.topic_prefix,
                stop=stop,
                after_batch=wake.set,
                batch_size=settings.consumer_batch_size,
                session_timeout_ms=settings.consumer_session_timeout_ms,
            ),
            mailer(settings, engine).run(stop, wake, settings.driver_poll_seconds),
        )
    finally:
        await engine.dispose()
