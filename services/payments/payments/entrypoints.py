"""The long-running processes: the payment worker and the notifier, on a bootstrapped container
(whoever built the container closes it)."""

import asyncio

from payments.bootstrap import PaymentsContainer
from shared.messaging.consumer import Subscription, run_consumer
from shared.messaging.health import BatchWatch, WorkerHealth, serve_worker_status, track_outbox_age
from shared.messaging.kafka import create_producer
from shared.messaging.relay import run_relay
from shared.topics import NOTIFICATIONS, PAYMENT_REQUESTS


async def run_worker(container: PaymentsContainer, stop: asyncio.Event) -> None:
    """Consume payment requests, drive them through the gateways, relay the results; serve
    `/metrics` and `/healthz` on PAYMENTS_WORKER_METRICS_PORT."""
    settings = container.settings
    producer = create_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    # Set after each recorded batch, so the driver starts at once instead of at its next poll.
    wake = asyncio.Event()
    consumer_watch = BatchWatch(f"{settings.consumer_group}/{PAYMENT_REQUESTS.name}")
    relay_watch = BatchWatch("payments.outbox", kind="relay")
    health = WorkerHealth([consumer_watch, relay_watch], settings.worker_stuck_seconds)
    try:
        await asyncio.gather(
            serve_worker_status(health, settings.host, settings.worker_metrics_port, stop),
            track_outbox_age(container.engine, stop, every_seconds=5.0),
            _consume(
                container,
                container.request_consumer().subscription(settings.consumer_group),
                stop,
                wake,
                consumer_watch,
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


async def run_notifier(container: PaymentsContainer, stop: asyncio.Event) -> None:
    """Consume the ledger's notifications and send the reminder e-mails; serve `/metrics` and
    `/healthz` on PAYMENTS_NOTIFIER_METRICS_PORT."""
    settings = container.settings
    wake = asyncio.Event()
    watch = BatchWatch(f"{settings.notifier_group}/{NOTIFICATIONS.name}")
    health = WorkerHealth([watch], settings.worker_stuck_seconds)
    await asyncio.gather(
        serve_worker_status(health, settings.host, settings.notifier_metrics_port, stop),
        _consume(
            container,
            container.notification_consumer().subscription(settings.notifier_group),
            stop,
            wake,
            watch,
        ),
        container.reminder_sender().run(stop, wake, settings.driver_poll_seconds),
    )


async def _consume(
    container: PaymentsContainer,
    subscription: Subscription,
    stop: asyncio.Event,
    wake: asyncio.Event,
    watch: BatchWatch,
) -> None:
    """One of the payments' consumers, with the settings both share; each recorded batch wakes
    the loop that acts on it."""
    settings = container.settings
    await run_consumer(
        container.engine,
        [subscription],
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topic_prefix=settings.topic_prefix,
        stop=stop,
        after_batch=wake.set,
        batch_size=settings.consumer_batch_size,
        session_timeout_ms=settings.consumer_session_timeout_ms,
        watch=watch,
    )
