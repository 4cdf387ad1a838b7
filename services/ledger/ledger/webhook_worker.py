"""`python -m ledger webhooks`: deliver the ledger's outgoing messages to partners' endpoints.

Two kinds of loop in one process, apart from ingest (own process, own consumer groups):
- one batch consumer per outgoing topic (`WEBHOOK_TOPICS`), which records a delivery per
  message and endpoint in the same transaction as its stored offsets (exactly once);
- the delivery loop, which claims due deliveries (`FOR UPDATE SKIP LOCKED`, at most one in
  flight per endpoint) and sends up to LEDGER_WEBHOOK_CONCURRENCY at a time, each attempt
  bounded by LEDGER_WEBHOOK_TIMEOUT_SECONDS: a slow endpoint holds one slot, not the loop.
`/metrics` and `/healthz` on LEDGER_WEBHOOK_METRICS_PORT.
"""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from prometheus_client import Counter, Gauge, Histogram

from ledger.adapters.webhook_store import PostgresWebhookDeliveries, WebhookIntakeHandler
from ledger.bootstrap import bootstrap
from ledger.service_layer.ports import DueWebhook, WebhookDeliveries, WebhookSender
from ledger.service_layer.webhooks import WEBHOOK_TOPICS, attempt_delivery
from ledger.settings import LedgerSettings
from shared.messaging.consumer import Subscription, run_consumer
from shared.messaging.health import BatchWatch, WorkerHealth, serve_worker_status
from shared.messaging.runtime import sleep_or_stop, wait_for_work

log = structlog.get_logger(__name__)

ATTEMPTS = Counter(
    "webhook_delivery_attempts_total",
    "Webhook attempts by outcome: delivered, retry (due again later), failed (given up)",
    ["outcome"],
)
RECORDED = Counter("webhook_deliveries_recorded_total", "Deliveries recorded from messages")
BACKLOG = Gauge("webhook_deliveries_due", "Deliveries due now and not yet attempted")
ATTEMPT_SECONDS = Histogram(
    "webhook_attempt_duration_seconds",
    "One attempt, from resolving the host to the status line",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
)


def _now() -> datetime:
    return datetime.now(UTC)


def group_for(settings: LedgerSettings, topic: str) -> str:
    """The webhook worker's own consumer group per topic (ingest's groups are untouched)."""
    return f"{settings.consumer_group}-webhooks.{topic}"


async def run_deliveries(
    deliveries: WebhookDeliveries,
    sender: WebhookSender,
    stop: asyncio.Event,
    wake: asyncio.Event,
    *,
    concurrency: int,
    poll_seconds: float,
    watch: BatchWatch,
    clock: Callable[[], datetime] = _now,
) -> None:
    """Claim and send due deliveries until `stop`; in-flight attempts finish first."""
    in_flight: dict[asyncio.Task[None], str] = {}

    async def attempt(delivery: DueWebhook) -> None:
        try:
            outcome, answer = await attempt_delivery(deliveries, sender, delivery, clock)
            ATTEMPTS.labels(outcome).inc()
            ATTEMPT_SECONDS.observe(answer.duration_ms / 1000)
        except Exception:
            # Not recorded: the lease runs out and the delivery is due again.
            log.exception("webhook attempt not recorded", webhook_id=delivery.webhook_id)

    for outcome in ("delivered", "retry", "failed"):
        ATTEMPTS.labels(outcome)
    try:
        while not stop.is_set():
            claimed = []
            free = concurrency - len(in_flight)
            if free > 0:
                watch.begin()
                try:
                    claimed = await deliveries.claim_due(clock(), free, set(in_flight.values()))
                except Exception:
                    log.exception("due webhooks not claimed; will try again")
                watch.done()
                for delivery in claimed:
                    in_flight[asyncio.create_task(attempt(delivery))] = delivery.endpoint_id
            if claimed and len(in_flight) < concurrency:
                continue  # there may be more due at once
            wake.clear()
            waiters: set[asyncio.Task[object]] = {
                asyncio.create_task(wait_for_work(stop, wake, poll_seconds)),
                *in_flight,
            }
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for task in list(in_flight):
                if task.done():
                    del in_flight[task]
            for waiter in waiters - done:
                if waiter not in in_flight:
                    waiter.cancel()
    finally:
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)


async def track_backlog(
    deliveries: PostgresWebhookDeliveries, stop: asyncio.Event, every_seconds: float
) -> None:
    while not stop.is_set():
        try:
            BACKLOG.set(await deliveries.backlog(_now()))
        except Exception as exc:
            log.warning("webhook backlog not measured", error=str(exc))
        await sleep_or_stop(stop, every_seconds)


async def run_webhooks(settings: LedgerSettings, stop: asyncio.Event) -> None:
    """The consumers of the outgoing topics and the delivery loop, until `stop`."""
    container = bootstrap(settings)
    lease = timedelta(seconds=settings.webhook_timeout_seconds + 60)
    deliveries = PostgresWebhookDeliveries(container.engine, lease)
    wake = asyncio.Event()

    def recorded(count: int) -> None:
        RECORDED.inc(count)

    subscriptions = [
        Subscription(
            topic=topic.name,
            group=group_for(settings, topic.name),
            handler=WebhookIntakeHandler(topic.name, _now, recorded),
        )
        for topic in WEBHOOK_TOPICS
    ]
    watches = {s.topic: BatchWatch(f"{s.group}/{s.topic}") for s in subscriptions}
    delivery_watch = BatchWatch("ledger.webhook-deliveries", kind="relay")
    health = WorkerHealth([*watches.values(), delivery_watch], settings.worker_stuck_seconds)
    try:
        await asyncio.gather(
            serve_worker_status(health, settings.host, settings.webhook_metrics_port, stop),
            track_backlog(deliveries, stop, every_seconds=5.0),
            run_deliveries(
                deliveries,
                container.webhook_sender(),
                stop,
                wake,
                concurrency=settings.webhook_concurrency,
                poll_seconds=settings.webhook_poll_seconds,
                watch=delivery_watch,
            ),
            *[
                run_consumer(
                    container.engine,
                    [subscription],
                    bootstrap_servers=settings.kafka_bootstrap_servers,
                    topic_prefix=settings.topic_prefix,
                    batch_size=settings.consumer_batch_size,
                    stop=stop,
                    watch=watches[subscription.topic],
                    after_batch=wake.set,  # committed: the new deliveries can be claimed
                )
                for subscription in subscriptions
            ],
        )
    finally:
        await container.close()
