"""Long-running processes: the consumers, and the relay with the reservation expiry sweep."""

import asyncio
from datetime import UTC, datetime

import structlog

from ledger.adapters.inbox import run_inbox_pruning
from ledger.adapters.views.reservations import partners_with_expired_holds
from ledger.bootstrap import LedgerContainer, bootstrap
from ledger.service_layer.handlers import ExpireReservations, execute
from ledger.settings import LedgerSettings
from shared.messaging.consumer import run_consumer
from shared.messaging.health import BatchWatch, WorkerHealth, serve_worker_status, track_outbox_age
from shared.messaging.kafka import create_producer
from shared.messaging.relay import run_relay
from shared.messaging.runtime import sleep_or_stop
from shared.topics import MAILING_SENT, PAYMENT_RESULTS

log = structlog.get_logger(__name__)


def group_for(settings: LedgerSettings, topic: str) -> str:
    """One consumer group per topic, so a slow topic never stalls the other's rebalances."""
    return f"{settings.consumer_group}.{topic}"


async def run_consumers(settings: LedgerSettings, stop: asyncio.Event) -> None:
    """Consume mailing.sent and payments.results until `stop` is set; serve `/metrics` and
    `/healthz` on LEDGER_CONSUMER_METRICS_PORT; prune the inbox's ids older than its window."""
    container = bootstrap(settings)
    # mailing.sent in lanes, each with account states of its own (see `run_consumer`).
    lanes = {
        MAILING_SENT.name: [
            container.mailing_sent_consumer() for _ in range(settings.consumer_lanes)
        ],
        PAYMENT_RESULTS.name: [container.payment_result_consumer()],
    }
    watches = {topic: BatchWatch(f"{group_for(settings, topic)}/{topic}") for topic in lanes}
    health = WorkerHealth(list(watches.values()), settings.worker_stuck_seconds)
    try:
        await asyncio.gather(
            serve_worker_status(health, settings.host, settings.consumer_metrics_port, stop),
            *[
                run_consumer(
                    container.engine,
                    [consumer.subscription(group_for(settings, topic)) for consumer in consumers],
                    bootstrap_servers=settings.kafka_bootstrap_servers,
                    topic_prefix=settings.topic_prefix,
                    batch_size=settings.consumer_batch_size,
                    linger_seconds=settings.consumer_linger_ms / 1000,
                    stop=stop,
                    watch=watches[topic],
                )
                for topic, consumers in lanes.items()
            ],
            run_inbox_pruning(
                container.engine,
                settings.inbox_dedup_window,
                settings.inbox_prune_batch_size,
                settings.inbox_prune_every_seconds,
                stop,
            ),
        )
    finally:
        await container.close()


async def expire_due_reservations(container: LedgerContainer, now: datetime) -> int:
    """Expire every hold whose time is up; returns how many partners were swept."""
    partners = await partners_with_expired_holds(container.reads, now)
    for partner_id in partners:
        await execute(
            container.unit_of_work,
            ExpireReservations(partner_id=partner_id),
            now,
            metadata={"causation_id": f"expiry:{now.isoformat()}", "actor": "expiry"},
            present=lambda outcome: (200, {"expired": len(outcome.events)}),
        )
    return len(partners)


async def run_expiry(
    container: LedgerContainer, stop: asyncio.Event, every_seconds: float = 5.0
) -> None:
    while not stop.is_set():
        try:
            await expire_due_reservations(container, datetime.now(UTC))
        except Exception:
            log.exception("reservation expiry failed; will try again")
        await sleep_or_stop(stop, every_seconds)


async def run_relay_and_expiry(settings: LedgerSettings, stop: asyncio.Event) -> None:
    """Relay the outbox and expire holds until `stop`; serve `/metrics` (with the outbox's
    age) and `/healthz` on LEDGER_RELAY_METRICS_PORT."""
    container = bootstrap(settings)
    producer = create_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    watch = BatchWatch("ledger.outbox", kind="relay")
    health = WorkerHealth([watch], settings.worker_stuck_seconds)
    try:
        await asyncio.gather(
            serve_worker_status(health, settings.host, settings.relay_metrics_port, stop),
            track_outbox_age(container.engine, stop, every_seconds=5.0),
            run_relay(
                container.engine,
                producer,
                batch_size=settings.relay_batch_size,
                poll_seconds=settings.relay_poll_seconds,
                stop=stop,
                topic_prefix=settings.topic_prefix,
                watch=watch,
            ),
            run_expiry(container, stop),
        )
    finally:
        await producer.stop()
        await container.close()
