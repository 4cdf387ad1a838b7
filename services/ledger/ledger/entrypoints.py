"""Long-running processes: the consumers, and the relay with the reservation expiry sweep."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.bootstrap import bootstrap
from ledger.domain import PartnerAccount, expire_reservations
from ledger.service import Command, run_command
from ledger.settings import LedgerSettings
from shared.messaging.consumer import run_consumer
from shared.messaging.health import BatchWatch, WorkerHealth, serve_worker_status, track_outbox_age
from shared.messaging.kafka import create_producer
from shared.messaging.relay import run_relay
from shared.messaging.runtime import sleep_or_stop

log = structlog.get_logger(__name__)


def group_for(settings: LedgerSettings, topic: str) -> str:
    """One consumer group per topic, so a slow topic never stalls the other's rebalances."""
    return f"{settings.consumer_group}.{topic}"


async def run_consumers(settings: LedgerSettings, stop: asyncio.Event) -> None:
    """Consume mailing.sent and payments.results until `stop` is set; serve `/metrics` and
    `/healthz` on LEDGER_CONSUMER_METRICS_PORT."""
    container = bootstrap(settings)
    handlers = [container.mailing_sent_handler(), container.payment_result_handler()]
    watches = {h.topic: BatchWatch(f"{group_for(settings, h.topic)}/{h.topic}") for h in handlers}
    health = WorkerHealth(list(watches.values()), settings.worker_stuck_seconds)
    try:
        await asyncio.gather(
            serve_worker_status(health, settings.host, settings.consumer_metrics_port, stop),
            *[
                run_consumer(
                    container.engine,
                    handler.subscription(group_for(settings, handler.topic)),
                    bootstrap_servers=settings.kafka_bootstrap_servers,
                    topic_prefix=settings.topic_prefix,
                    batch_size=settings.consumer_batch_size,
                    stop=stop,
                    watch=watches[handler.topic],
                )
                for handler in handlers
            ],
        )
    finally:
        await container.close()


_DUE = text(
    "SELECT DISTINCT partner_id FROM reservations WHERE status = 'active' AND expires_at <= :now"
    " LIMIT 1000"
)


async def expire_due_reservations(engine: AsyncEngine, now: datetime) -> int:
    """Expire every hold whose time is up; returns how many partners were swept."""
    async with engine.connect() as connection:
        partners = [row[0] for row in await connection.execute(_DUE, {"now": now})]

    def respond(_: PartnerAccount | None, events: list[Any]) -> tuple[int, dict[str, Any]]:
        return 200, {"expired": len(events)}

    for partner_id in partners:
        await run_command(
            engine,
            Command(
                partner_id,
                lambda state: expire_reservations(state, now) if state else [],
                {"causation_id": f"expiry:{now.isoformat()}", "actor": "expiry"},
                respond,
            ),
            now,
        )
    return len(partners)


async def run_expiry(engine: AsyncEngine, stop: asyncio.Event, every_seconds: float = 5.0) -> None:
    while not stop.is_set():
        try:
            await expire_due_reservations(engine, datetime.now(UTC))
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
            run_expiry(container.engine, stop),
        )
    finally:
        await producer.stop()
        await container.close()
