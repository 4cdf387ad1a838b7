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
from shared.messaging.consumer import BatchResult
from shared.messaging.inbox import IncomingRecord, read_new_events
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
        batch = await read_new_events(uow.inbox, self.topic, records, PAYMENT_RESULTS.message_types)
        dead = batch.dead_letters
        accounts = await load_accounts(uow, (e.data["partner_id"] for _, e in batch.new), cache)
        changes = ChangeSet(accounts, now)
        applied = 0
        for record, event in batch.new:
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
                    "causation_source": event.source,
                    "correlation_id": event.data["request_id"],
                    "actor": f"payments/{event.data['gateway']}",
                },
            )
            applied += 1
        await changes.write(uow)
        for state in changes.touched:
            cache.put(state)
        return BatchResult(applied, batch.duplicates, dead)
