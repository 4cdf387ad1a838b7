"""The batch consumer: read a topic and let each message take effect exactly once.

Per batch, in ONE database transaction: lock the partitions' stored offsets (a consumer that
lost the partition in a rebalance and one that gained it cannot both apply the same messages),
drop what is below them, let the handler make the batch take effect (and record message ids in
the inbox), keep the dead letters (and queue them for the dead-letter topic), and move the
stored offsets. Kafka's own offsets are committed afterwards, as a hint: the database is the
truth, and on assignment the consumer seeks to it.

When a batch fails, the reason decides. Transient trouble (a lost connection, a timeout, a
serialization conflict, a service the handler needs being down: `is_transient`) is waited out
and the same batch tried again: nothing is ever skipped. Anything else belongs to a message:
the batch is split in halves, each tried on its own, down to the one message that fails
alone, which becomes a dead letter with the error as its reason; the others take effect.
(The codec refuses what the database would refuse, such as U+0000, up front; the split finds
what nobody foresaw.) Messages an operator set aside (`dead_letters.by_hand`) are skipped.

One Kafka consumer may serve several lanes (`run_consumer`): a partition always belongs to the
same lane, each lane fetches and applies its partitions' batches in order, and the lanes'
transactions overlap, so the process decides one batch while PostgreSQL executes another's.
The stored offsets, locked per partition, fence each message to one transaction whatever the
lanes do.
"""

import asyncio
import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.database import database_unavailable, sqlstate
from shared.messaging.health import BatchWatch, watching
from shared.messaging.inbox import DeadLetter, Inbox, IncomingRecord
from shared.messaging.kafka import create_consumer
from shared.messaging.outbox import Outbox, OutgoingMessage, printable
from shared.messaging.runtime import sleep_or_stop
from shared.topics import DLQ_REASON_HEADER, DLQ_SOURCE_HEADER

log = structlog.get_logger(__name__)

CONSUMED = Counter("messages_consumed_total", "Messages read", ["topic", "outcome"])
LAG = Gauge(
    "consumer_lag_messages",
    "Messages on the partition not yet committed by this consumer",
    ["group", "topic", "partition"],
)
BATCH_SECONDS = Histogram(
    "consumer_batch_duration_seconds",
    "From reading a batch to its commit, retries included",
    ["group", "topic"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
RETRIES = Counter(
    "consumer_batch_retries_total",
    "Batches tried again after transient trouble",
    ["group", "topic"],
)
DEAD_LETTERS = Counter(
    "consumer_dead_letters_total", "Messages set aside as dead letters", ["group", "topic"]
)


@dataclass(frozen=True, slots=True)
class BatchResult:
    applied: int
    duplicates: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)


class BatchHandler(Protocol):
    """Makes a batch of one topic's messages take effect inside the given transaction."""

    async def __call__(
        self, connection: AsyncConnection, inbox: Inbox, records: Sequence[IncomingRecord]
    ) -> BatchResult: ...


@dataclass(frozen=True)
class Subscription:
    """What one consumer reads and what it does with it."""

    topic: str  # without the deployment's prefix
    group: str
    handler: BatchHandler
    dead_letter_topic: str | None = None  # dead letters also stay in the `dead_letters` table
    # Besides database trouble, the exceptions that mean "try the same batch again later".
    retry_on: tuple[type[BaseException], ...] = ()
    # Called before a retry, e.g. to forget cached state the failed attempt may have read.
    on_retry: Callable[[Sequence[IncomingRecord]], None] = lambda records: None


def dead_letter_message(letter: DeadLetter, dead_letter_topic: str) -> OutgoingMessage:
    """The original bytes and headers, unchanged, with the reason and origin added."""
    return OutgoingMessage(
        partner_id=printable((letter.key or b"").decode("utf-8", "replace")) or "(no key)",
        topic=dead_letter_topic,
        key=letter.key,
        value=letter.message,
        headers=(
            *letter.headers,
            (DLQ_REASON_HEADER, printable(letter.reason).encode()),
            (DLQ_SOURCE_HEADER, f"{letter.topic}/{letter.partition}/{letter.offset}".encode()),
        ),
    )


# Beyond an unavailable database (`database_unavailable`), SQLSTATE classes that say nothing
# about the message: transaction rollback (serialization failure, deadlock), object not in
# prerequisite state (lock not available), system error. And the classes of a broken
# deployment (no such table or column, no privilege, no database): splitting the batch would
# only dead-letter every message, so they are waited out too, visibly (see `/healthz`).
_WAITED_OUT_SQLSTATE_CLASSES = frozenset({"40", "58", "55", "28", "3D", "3F", "42", "0A", "XX"})


def is_transient(exc: BaseException, retry_on: tuple[type[BaseException], ...] = ()) -> bool:
    """Trouble that passes by itself: try the same batch again later. Everything else is
    taken to belong to one of the batch's messages."""
    if isinstance(exc, retry_on) or database_unavailable(exc):
        return True
    code = sqlstate(exc)
    return code is not None and code[:2] in _WAITED_OUT_SQLSTATE_CLASSES


def failure_reason(exc: BaseException) -> str:
    """The dead letter's reason for a message that failed alone."""
    cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    first_line = (str(cause).strip().splitlines() or [""])[0]
    reason = f"could not be recorded ({type(cause).__name__}): {first_line}"
    # PostgreSQL's DETAIL often names the culprit ("\u0000 cannot be converted to text.").
    detail = getattr(cause, "detail", None) or getattr(cause.__cause__, "detail", None)
    if isinstance(detail, str) and detail:
        reason += f" ({detail})"
    return reason[:1000]


async def apply_batch(
    engine: AsyncEngine, subscription: Subscription, records: Sequence[IncomingRecord]
) -> BatchResult | None:
    """One transaction for the batch; None when every record was below the stored offsets."""
    return await _record_batch(engine, subscription, records, set_aside=None)


async def dead_letter_alone(
    engine: AsyncEngine, subscription: Subscription, record: IncomingRecord, reason: str
) -> BatchResult | None:
    """Set one record aside as a dead letter and move past it, without the handler."""
    return await _record_batch(engine, subscription, [record], set_aside=reason)


async def _record_batch(
    engine: AsyncEngine,
    subscription: Subscription,
    records: Sequence[IncomingRecord],
    set_aside: str | None,
) -> BatchResult | None:
    async with engine.begin() as connection:
        inbox = Inbox(connection, subscription.group)
        stored = await inbox.lock_offsets(subscription.topic, {r.partition for r in records})
        fresh = [r for r in records if r.offset >= stored.get(r.partition, 0)]
        if not fresh:
            return None
        if set_aside is not None:
            result = BatchResult(0, dead_letters=[r.dead_letter(set_aside) for r in fresh])
        else:
            by_hand = await inbox.set_aside(subscription.topic, fresh)
            todo = [r for r in fresh if (r.partition, r.offset) not in by_hand]
            result = await subscription.handler(connection, inbox, todo) if todo else BatchResult(0)
        new_letters = await inbox.record_dead_letters(result.dead_letters)
        if subscription.dead_letter_topic is not None:
            topic = subscription.dead_letter_topic
            await Outbox(connection).write([dead_letter_message(d, topic) for d in new_letters])
        next_offsets: dict[int, int] = {}
        for r in fresh:
            next_offsets[r.partition] = max(next_offsets.get(r.partition, 0), r.offset + 1)
        await inbox.save_offsets(subscription.topic, next_offsets)
    return result


def _merged(first: BatchResult | None, second: BatchResult | None) -> BatchResult | None:
    if first is None or second is None:
        return first or second
    return BatchResult(
        first.applied + second.applied,
        first.duplicates + second.duplicates,
        first.dead_letters + second.dead_letters,
    )


async def apply_or_isolate(
    engine: AsyncEngine, subscription: Subscription, records: Sequence[IncomingRecord]
) -> BatchResult | None:
    """Apply the batch; if it fails for a reason that is not transient, apply each half on its
    own (first half first, so a partition's offsets only move forward) down to the single
    message that fails alone, and dead-letter that one. Transient errors propagate."""
    try:
        return await apply_batch(engine, subscription, records)
    except Exception as exc:
        if is_transient(exc, subscription.retry_on):
            raise
        subscription.on_retry(records)
        if len(records) == 1:
            [record] = records
            reason = failure_reason(exc)
            log.error(
                "message cannot be recorded; dead-lettered",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=reason,
            )
            return await dead_letter_alone(engine, subscription, record, reason)
        log.warning("batch failed; looking for the message at fault", error=str(exc)[:300])
        middle = len(records) // 2
        first = await apply_or_isolate(engine, subscription, records[:middle])
        return _merged(first, await apply_or_isolate(engine, subscription, records[middle:]))


class Stopped(Exception):
    """Asked to stop before the batch could be recorded; nothing of it was committed."""


async def apply_batch_until_done(
    engine: AsyncEngine,
    subscription: Subscription,
    records: Sequence[IncomingRecord],
    stop: asyncio.Event | None = None,
) -> BatchResult | None:
    """Retry the same batch until it is recorded (its messages applied or dead-lettered), or
    raise `Stopped` once `stop` is set (what was not committed is read again on the next
    start). Parts committed before a retry are below the stored offsets and not applied again."""
    attempt = 0
    while stop is None or not stop.is_set():
        attempt += 1
        try:
            return await apply_or_isolate(engine, subscription, records)
        except Exception as exc:
            subscription.on_retry(records)
            RETRIES.labels(subscription.group, subscription.topic).inc()
            delay = min(10.0, 0.05 * 2 ** min(attempt, 8))
            if is_transient(exc, subscription.retry_on):
                log.warning("batch not recorded; retrying", attempt=attempt, delay=delay, error=exc)
            else:
                # Even setting the culprit aside failed: nothing to do but wait and say so.
                log.exception("batch not recorded nor its culprit set aside; retrying")
            if stop is None:
                await asyncio.sleep(delay)
            else:
                await sleep_or_stop(stop, delay)
    raise Stopped()


async def fetch_batch(
    consumer: AIOKafkaConsumer,
    batch_size: int,
    linger_seconds: float,
    partitions: Sequence[TopicPartition] = (),
) -> dict[TopicPartition, list[Any]]:
    """Up to `batch_size` records (of `partitions` only, when given): whatever is there, plus
    what arrives within the linger time.

    A fetch returns as soon as one partition has data; waiting a moment for more makes one
    transaction cover hundreds of messages instead of a handful.
    """
    fetched: dict[TopicPartition, list[Any]] = await consumer.getmany(
        *partitions, timeout_ms=200, max_records=batch_size
    )
    count = sum(len(m) for m in fetched.values())
    deadline = asyncio.get_running_loop().time() + linger_seconds
    while 0 < count < batch_size and asyncio.get_running_loop().time() < deadline:
        more = await consumer.getmany(*partitions, timeout_ms=10, max_records=batch_size - count)
        for tp, messages in more.items():
            fetched.setdefault(tp, []).extend(messages)
            count += len(messages)
    return fetched


async def _measure_lag(
    consumer: AIOKafkaConsumer, group: str, topic: str, partitions: Sequence[TopicPartition] = ()
) -> None:
    """Lag per partition (`partitions`, or every assigned one): the broker's end of the
    partition (as of the last fetch) minus this consumer's position, which after a commit is
    the next offset to apply."""
    try:
        for tp in partitions or consumer.assignment():
            end = consumer.highwater(tp)
            if end is not None:
                position = await consumer.position(tp)
                LAG.labels(group, topic, str(tp.partition)).set(max(0, end - position))
    except Exception as exc:  # e.g. revoked meanwhile; a metric must never stop the consumer
        log.debug("lag not measured", error=str(exc))


class CycleCollector:
    """Python's cycle collector, run on a clock between batches instead of by allocation counts.

    A batch's objects are freed by their reference counts when it ends; cycles, what the
    collector is for, are rare here (asyncio's, mostly on errors). Collections set off by
    allocation walked a batch's thousands of live objects again and again: about 4 µs of the
    consumer's 60-70 µs per event, timed with ``gc.callbacks``. So while a consumer runs the
    automatic collector is off, and a full collection runs every ``every_seconds``: what
    cycles there are wait at most that long.
    """

    def __init__(self, clock: Callable[[], float], every_seconds: float = 10.0) -> None:
        self._clock = clock
        self._every = every_seconds
        self._due = 0.0
        self._was_enabled = False

    def start(self) -> None:
        # What start-up built (modules, schemas, the engine) lives as long as the process: out
        # of the collector's sight, so no collection walks it again.
        gc.freeze()
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._due = self._clock() + self._every

    def collect_when_due(self) -> None:
        if self._clock() >= self._due:
            gc.collect()
            self._due = self._clock() + self._every

    def stop(self) -> None:
        gc.unfreeze()
        if self._was_enabled:
            gc.enable()


async def run_consumer(
    engine: AsyncEngine,
    lanes: Sequence[Subscription],
    *,
    bootstrap_servers: str,
    topic_prefix: str,
    batch_size: int,
    stop: asyncio.Event,
    session_timeout_ms: int = 10_000,
    linger_seconds: float = 0.05,
    after_batch: Callable[[], None] | None = None,
    watch: BatchWatch | None = None,
) -> None:
    """Consume `topic_prefix + topic` until `stop` is set, with one Kafka consumer and one
    lane per subscription in `lanes` (all of one topic and group, each with handler state of
    its own). A partition always goes to the same lane (partition modulo the number of lanes),
    so its messages are applied in order; the lanes' batches are separate transactions, and
    while one lane waits for the database another decides its batch. `watch` follows the
    batches for `/healthz` and `/metrics`."""
    if not lanes or len({(s.topic, s.group) for s in lanes}) != 1:
        raise ValueError("lanes: one or more subscriptions of one topic and group")
    group, topic = lanes[0].group, lanes[0].topic
    watch = watch or BatchWatch(f"{group}/{topic}")

    async def stored_offsets(_: str) -> dict[int, int]:
        # Offsets are stored under the topic's name without the deployment prefix.
        async with engine.connect() as connection:
            return await Inbox(connection, group).next_offsets(topic)

    consumer = create_consumer(
        bootstrap_servers,
        group,
        [topic_prefix + topic],
        stored_offsets,
        max_batch=batch_size,
        session_timeout_ms=session_timeout_ms,
    )
    await consumer.start()
    log.info("consuming", topic=topic_prefix + topic, group=group, lanes=len(lanes))
    collector = CycleCollector(time.monotonic)
    collector.start()
    for family in (RETRIES, DEAD_LETTERS, BATCH_SECONDS):
        family.labels(group, topic)  # shown from the start, at 0, not only after the first

    def partitions_of(lane: int) -> list[TopicPartition] | None:
        """The partitions the lane fetches: [] means every assigned one (a single lane), None
        that none is assigned to it (yet)."""
        if len(lanes) == 1:
            return []
        mine = [tp for tp in consumer.assignment() if tp.partition % len(lanes) == lane]
        return mine or None

    async def apply_lane(lane: int, subscription: Subscription) -> None:
        # Each lane fetches its own partitions (aiokafka keeps a buffer per partition), so a
        # lane never waits for another to make room.
        while not stop.is_set():
            collector.collect_when_due()
            partitions = partitions_of(lane)
            if partitions is None:  # before the group's assignment, or too few partitions
                await sleep_or_stop(stop, 0.1)
                continue
            fetched = await fetch_batch(consumer, batch_size, linger_seconds, partitions)
            records = [
                IncomingRecord(topic, tp.partition, m.offset, m.key, m.value, tuple(m.headers))
                for tp, messages in fetched.items()
                for m in messages
            ]
            if not records:
                watch.caught_up()  # nothing to read is up to date, not stuck
                await _measure_lag(consumer, group, topic, partitions)
                continue
            watch.begin(lane)
            started = time.perf_counter()
            try:
                result = await apply_batch_until_done(engine, subscription, records, stop)
            except Stopped:
                break
            if result is not None:
                CONSUMED.labels(topic, "applied").inc(result.applied)
                CONSUMED.labels(topic, "duplicate").inc(result.duplicates)
                CONSUMED.labels(topic, "dead_letter").inc(len(result.dead_letters))
                DEAD_LETTERS.labels(group, topic).inc(len(result.dead_letters))
            try:
                await consumer.commit(
                    {
                        TopicPartition(tp.topic, tp.partition): messages[-1].offset + 1
                        for tp, messages in fetched.items()
                        if messages
                    }
                )
            except KafkaError as exc:
                # Only a hint (e.g. refused during a rebalance): the stored offsets already
                # moved, and whoever owns the partition next starts from them.
                log.warning("kafka offset commit failed", error=exc)
            watch.done(lane)
            BATCH_SECONDS.labels(group, topic).observe(time.perf_counter() - started)
            await _measure_lag(consumer, group, topic, partitions)
            if after_batch is not None:
                after_batch()

    try:
        with watching(watch):
            async with asyncio.TaskGroup() as tasks:
                for lane, subscription in enumerate(lanes):
                    tasks.create_task(apply_lane(lane, subscription))
    finally:
        collector.stop()
        await consumer.stop()
