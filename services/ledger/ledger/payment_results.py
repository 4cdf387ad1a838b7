"""`payments.results` -> purchases and charges settled, failed or returned on the account."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ledger.adapters.unit_of_work import UnitOfWork
from ledger.changes import AccountBatchHandler, AccountCache, ChangeSet, load_accounts
from ledger.domain import (
    Event,
    LedgerError,
    PartnerAccount,
    record_charge_failed,
    record_charge_returned,
    record_charge_succeeded,
    record_purchase_failed,
    record_purchase_returned,
    record_purchase_succeeded,
)
from shared.codec import InvalidMessage, decode
from shared.envelope import CloudEvent
from shared.messaging.consumer import BatchResult
from shared.messaging.inbox import DeadLetter, IncomingRecord
from shared.topics import PAYMENT_RESULTS, PAYMENT_RESULTS_DLQ


def decide_payment_result(
    state: PartnerAccount, data: dict[str, Any], now: datetime
) -> list[Event]:
    """The events one payment result causes; `pending` changes nothing yet."""
    request_id, status, kind = data["request_id"], data["status"], data["kind"]
    reason, code = data.get("reason"), data.get("code")
    if status == "pending":
        return []
    if kind == "purchase":
        if status == "succeeded":
            return record_purchase_succeeded(state, purchase_id=request_id)
        if status == "failed":
            return record_purchase_failed(
                state,
                purchase_id=request_id,
                reason=reason,
                code=code,
                retryable=data["retryable"],
                now=now,
            )
        return record_purchase_returned(state, purchase_id=request_id, reason=reason, code=code)
    if status == "succeeded":
        return record_charge_succeeded(state, charge_id=request_id)
    if status == "failed":
        return record_charge_failed(state, charge_id=request_id, reason=reason, code=code)
    return record_charge_returned(state, charge_id=request_id, reason=reason, code=code)


class PaymentResultHandler(AccountBatchHandler):
    topic = PAYMENT_RESULTS.name
    dead_letter_topic = PAYMENT_RESULTS_DLQ.name

    async def handle(
        self, uow: UnitOfWork, records: Sequence[IncomingRecord], cache: AccountCache
    ) -> BatchResult:
        now = datetime.now(UTC)
        dead: list[DeadLetter] = []
        parsed: list[tuple[IncomingRecord, CloudEvent]] = []
        for record in records:
            try:
                event = decode(record.value)
                if event.type != "payments.payment_result":
                    raise InvalidMessage(f"type {event.type!r} does not belong here", "$.type")
                parsed.append((record, event))
            except InvalidMessage as exc:
                dead.append(record.dead_letter(str(exc)))

        new_ids = await uow.inbox.claim(self.topic, [e.id for _, e in parsed])
        accounts = await load_accounts(uow, (e.data["partner_id"] for _, e in parsed), cache)
        changes = ChangeSet(accounts, now)
        applied = 0
        for record, event in parsed:
            if event.id not in new_ids:
                continue
            new_ids.discard(event.id)
            state = changes.state(event.data["partner_id"])
            if state is None:
                dead.append(record.dead_letter(f"unknown partner {event.data['partner_id']!r}"))
                continue
            try:
                events = decide_payment_result(state, event.data, now)
            except LedgerError as exc:
                dead.append(record.dead_letter(str(exc)))
                continue
            changes.decide(
                state.partner_id,
                events,
                {
                    "causation_id": event.id,
                    "correlation_id": event.data["request_id"],
                    "actor": f"payments/{event.data['gateway']}",
                },
            )
            applied += 1
        await changes.write(uow)
        for state in changes.touched:
            cache.put(state)
        return BatchResult(applied, len(parsed) - applied - _late(dead, parsed), dead)


def _late(dead: list[DeadLetter], parsed: list[tuple[IncomingRecord, CloudEvent]]) -> int:
    # Dead letters found after parsing are neither applied nor duplicates.
    offsets = {(r.partition, r.offset) for r, _ in parsed}
    return sum(1 for d in dead if (d.partition, d.offset) in offsets)
