"""The payment worker: record each request, then drive it to one gateway answer, exactly once.

1. `record_requests` (inside the consumer's batch transaction): decode, deduplicate by message
   id, refuse what no gateway may take (no payment method, below the minimum, too many recent
   declines), and record the attempt as `charging`, before any gateway call.
2. `PaymentDriver.drive` (per attempt, under a PostgreSQL advisory lock so one process at a
   time works on it): count the try, look the payment up at the gateway if an earlier try may
   have reached it, charge with the request's idempotency key if the gateway has none, then
   record the answer with its result in the outbox, in one transaction. A gateway that could
   not answer is tried again after a back-off; the payment is never given up while in doubt.
"""

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments.adapters import attempts
from payments.domain.outcomes import AttemptStatus, Outcome
from payments.domain.requests import (
    REQUEST_TYPES,
    GatewayName,
    PaymentRequest,
    check_amount,
    check_decline_limit,
    route,
)
from payments.domain.retry import backoff_seconds
from payments.gateways import Gateway, GatewayUnavailable
from shared.messaging.consumer import BatchResult
from shared.messaging.inbox import Inbox, IncomingRecord, read_new_events
from shared.messaging.runtime import wait_for_work
from shared.topics import PAYMENT_REQUESTS

log = structlog.get_logger(__name__)

ANSWERS = Counter("payments_gateway_answers_total", "Gateway answers", ["gateway", "status"])
UNAVAILABLE = Counter("payments_gateway_unavailable_total", "Gateway calls unanswered", ["gateway"])


class RequestRecorder:
    """Records a batch of payment requests (the consumer's `BatchHandler`)."""

    def __init__(self, minimum_charge_minor: int, declines_limit: int) -> None:
        self._minimum = minimum_charge_minor
        self._declines_limit = declines_limit

    async def __call__(
        self,
        connection: AsyncConnection,
        inbox: Inbox,
        records: Sequence[IncomingRecord],
    ) -> BatchResult:
        now = datetime.now(UTC)
        batch = await read_new_events(inbox, PAYMENT_REQUESTS.name, records, REQUEST_TYPES)
        for _, event in batch.new:
            request = PaymentRequest.from_message(event.id, event.type, event.data)
            await self._record(connection, request, now)
        for letter in batch.dead_letters:
            log.error("unreadable payment request", reason=letter.reason, offset=letter.offset)
        return BatchResult(len(batch.new), batch.duplicates, batch.dead_letters)

    async def _record(
        self, connection: AsyncConnection, request: PaymentRequest, now: datetime
    ) -> None:
        routed = route(request.payment_method)
        refused: Outcome | None
        gateway: GatewayName
        if isinstance(routed, Outcome):
            refused, gateway = routed, "none"
        else:
            refused, gateway = check_amount(request.amount_minor, self._minimum), routed
        if refused is None and request.method_key is not None:
            declines = await attempts.recent_declines(connection, request.method_key, now)
            refused = check_decline_limit(declines, self._declines_limit)
        if refused is not None:
            gateway = "none"
        if not await attempts.insert(connection, request, gateway):
            log.info("request recorded before", request_id=request.request_id)
            return
        if refused is not None:
            log.warning("request refused", request_id=request.request_id, code=refused.code)
            await attempts.record_outcome(connection, request.request_id, refused, now)


_LOCK = text("SELECT pg_try_advisory_lock(hashtextextended('payments.attempt/' || :id, 0))")
_UNLOCK = text("SELECT pg_advisory_unlock(hashtextextended('payments.attempt/' || :id, 0))")


class PaymentDriver:
    """Drives `charging` attempts to a gateway answer."""

    def __init__(
        self,
        engine: AsyncEngine,
        gateways: Mapping[str, Gateway],
        *,
        retry_base_seconds: float,
        retry_max_seconds: float,
        concurrency: int = 4,
        hold_after_gateway: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._gateways = gateways
        self._retry_base = retry_base_seconds
        self._retry_max = retry_max_seconds
        self._concurrency = concurrency
        self._hold_after_gateway = hold_after_gateway
        self._clock = clock

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, poll_seconds: float) -> None:
        """Drive due attempts until `stop`; `wake` is set when new requests were recorded."""
        while not stop.is_set():
            wake.clear()
            try:
                driven = await self.drive_due()
            except Exception:
                log.exception("driving payments failed; will try again")
                driven = 0
            if driven == 0:
                await wait_for_work(stop, wake, poll_seconds)

    async def drive_due(self) -> int:
        """Drive every attempt that is due now; returns how many were tried."""
        async with self._engine.connect() as connection:
            due = await attempts.due(connection, self._clock(), self._concurrency * 8)
        limit = asyncio.Semaphore(self._concurrency)

        async def one(request_id: str) -> None:
            async with limit:
                try:
                    await self.drive(request_id)
                except Exception:
                    # The attempt keeps its next_try_at: it is tried again, looked up first.
                    log.exception("payment attempt failed unexpectedly", request_id=request_id)

        await asyncio.gather(*(one(request_id) for request_id in due))
        return len(due)

    async def drive(self, request_id: str) -> AttemptStatus | None:
        """Try one attempt once, if no other process is on it; returns its new status."""
        async with self._engine.connect() as lock:
            if not (await lock.execute(_LOCK, {"id": request_id})).scalar():
                return None
            await lock.commit()  # the session lock stays; the connection is not idle in a txn
            try:
                return await self._drive_locked(request_id)
            finally:
                await lock.execute(_UNLOCK, {"id": request_id})
                await lock.commit()

    async def _drive_locked(self, request_id: str) -> AttemptStatus | None:
        async with self._engine.connect() as connection:
            attempt = await attempts.load(connection, request_id)
        if attempt is None or attempt.status != "charging":
            return None
        gateway = self._gateways[attempt.gateway]
        request = attempt.request
        async with self._engine.begin() as connection:
            tries = await attempts.begin_try(
                connection, request_id, self._retry_at(attempt.tries + 1)
            )
        if tries is None:
            return None
        try:
            outcome = None
            if tries > 1:
                # An earlier call may have charged (its answer was lost): never charge blind.
                outcome = await gateway.lookup(request, request.idempotency_key, attempt.created_at)
            if outcome is None:
                outcome = await gateway.charge(request, request.idempotency_key)
        except GatewayUnavailable as exc:
            UNAVAILABLE.labels(gateway.name).inc()
            log.warning("gateway unavailable; will retry", request_id=request_id, error=str(exc))
            async with self._engine.begin() as connection:
                await attempts.retry_later(connection, request_id, self._retry_at(tries), str(exc))
            return None
        ANSWERS.labels(gateway.name, outcome.status).inc()
        await self._test_hold()
        async with self._engine.begin() as connection:
            return await attempts.record_outcome(connection, request_id, outcome, self._clock())

    def _retry_at(self, tries: int) -> datetime:
        return self._clock() + timedelta(
            seconds=backoff_seconds(tries, self._retry_base, self._retry_max)
        )

    async def _test_hold(self) -> None:
        """The documented crash hook: announce the moment by creating the file, then hang."""
        if self._hold_after_gateway:
            await asyncio.to_thread(Path(self._hold_after_gateway).write_text, str(os.getpid()))
            log.warning("holding after the gateway answered (test hook)")
            await asyncio.Event().wait()
