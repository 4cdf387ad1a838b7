"""The payment worker's use cases: record each request, then drive it to one gateway answer.

1. `RecordRequests` (a batch of `ledger.payment-requests`, inside the consumer's transaction):
   decode, deduplicate by message id, refuse what no gateway may take (no payment method, below
   the minimum, too many recent declines), and record the attempt as `charging`, before any
   gateway call.
2. `PaymentDriver.drive` (per attempt, while no other process holds it): count the try, look the
   payment up at the gateway if an earlier try may have reached it, charge with the request's
   idempotency key if the gateway has none, then record the answer with its result in the
   outbox, in one transaction. A gateway that could not answer is tried again after a back-off;
   the payment is never given up while in doubt.
"""

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import structlog
from prometheus_client import Counter

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
from payments.service_layer.outcomes import record_outcome
from payments.service_layer.ports import (
    AttemptLocks,
    FaultInjector,
    Gateway,
    GatewayUnavailable,
    UnitOfWork,
    UnitOfWorkFactory,
)
from shared.messaging.consumer import BatchResult
from shared.messaging.inbox import IncomingRecord, read_new_events
from shared.messaging.runtime import wait_for_work
from shared.topics import PAYMENT_REQUESTS, PAYMENT_REQUESTS_DLQ

log = structlog.get_logger(__name__)

ANSWERS = Counter("payments_gateway_answers_total", "Gateway answers", ["gateway", "status"])
UNAVAILABLE = Counter("payments_gateway_unavailable_total", "Gateway calls unanswered", ["gateway"])


class RecordRequests:
    """Records a batch of payment requests in the consumer's transaction."""

    topic = PAYMENT_REQUESTS.name
    dead_letter_topic = PAYMENT_REQUESTS_DLQ.name

    def __init__(
        self,
        minimum_charge_minor: int,
        declines_limit: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._minimum = minimum_charge_minor
        self._declines_limit = declines_limit
        self._clock = clock

    async def handle(self, uow: UnitOfWork, records: Sequence[IncomingRecord]) -> BatchResult:
        now = self._clock()
        batch = await read_new_events(uow.inbox, self.topic, records, REQUEST_TYPES)
        for _, event in batch.new:
            request = PaymentRequest.from_message(event.id, event.type, event.data)
            await self._record(uow, request, now)
        for letter in batch.dead_letters:
            log.error("unreadable payment request", reason=letter.reason, offset=letter.offset)
        return BatchResult(len(batch.new), batch.duplicates, batch.dead_letters)

    async def _record(self, uow: UnitOfWork, request: PaymentRequest, now: datetime) -> None:
        routed = route(request.payment_method)
        refused: Outcome | None
        gateway: GatewayName
        if isinstance(routed, Outcome):
            refused, gateway = routed, "none"
        else:
            refused, gateway = check_amount(request.amount_minor, self._minimum), routed
        if refused is None and request.method_key is not None:
            declines = await uow.attempts.recent_declines(request.method_key, now)
            refused = check_decline_limit(declines, self._declines_limit)
        if refused is not None:
            gateway = "none"
        if not await uow.attempts.add(request, gateway):
            log.info("request recorded before", request_id=request.request_id)
            return
        if refused is not None:
            log.warning("request refused", request_id=request.request_id, code=refused.code)
            await record_outcome(uow, request.request_id, refused, now)


class PaymentDriver:
    """Drives `charging` attempts to a gateway answer."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        locks: AttemptLocks,
        gateways: Mapping[str, Gateway],
        *,
        retry_base_seconds: float,
        retry_max_seconds: float,
        concurrency: int = 4,
        faults: FaultInjector | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._uow = uow
        self._locks = locks
        self._gateways = gateways
        self._retry_base = retry_base_seconds
        self._retry_max = retry_max_seconds
        self._concurrency = concurrency
        self._faults = faults
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
        async with self._uow() as uow:
            due = await uow.attempts.due(self._clock(), self._concurrency * 8)
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
        async with self._locks.hold(request_id) as held:
            if not held:
                return None
            return await self._drive_held(request_id)

    async def _drive_held(self, request_id: str) -> AttemptStatus | None:
        async with self._uow() as uow:
            attempt = await uow.attempts.get(request_id)
        if attempt is None or attempt.status != "charging":
            return None
        gateway = self._gateways[attempt.gateway]
        request = attempt.request
        async with self._uow() as uow:
            tries = await uow.attempts.begin_try(request_id, self._retry_at(attempt.tries + 1))
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
            async with self._uow() as uow:
                await uow.attempts.retry_later(request_id, self._retry_at(tries), str(exc))
            return None
        ANSWERS.labels(gateway.name, outcome.status).inc()
        if self._faults is not None:
            await self._faults.after_gateway_answered(request_id)
        async with self._uow() as uow:
            return await record_outcome(uow, request_id, outcome, self._clock())

    def _retry_at(self, tries: int) -> datetime:
        return self._clock() + timedelta(
            seconds=backoff_seconds(tries, self._retry_base, self._retry_max)
        )
