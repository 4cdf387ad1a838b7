"""`payments.results` -> purchases and charges settled, failed or returned on the account."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ledger.domain import (
    Charge,
    Event,
    LedgerError,
    PartnerAccount,
    Purchase,
    Record,
    RecordKind,
    record_change,
    record_charge_failed,
    record_charge_returned,
    record_charge_succeeded,
    record_purchase_failed,
    record_purchase_returned,
    record_purchase_succeeded,
)
from ledger.service_layer.accounts import AccountCache, ChangeSet, load_accounts
from ledger.service_layer.ports import UnitOfWork
from shared.messaging.consumer import BatchResult
from shared.messaging.inbox import IncomingRecord, read_new_events
from shared.topics import PAYMENT_RESULTS, PAYMENT_RESULTS_DLQ


def decide_payment_result(
    state: PartnerAccount, data: dict[str, Any], now: datetime, recorded: Record | None = None
) -> list[Event]:
    """The events one payment result causes; `pending` changes nothing yet. ``recorded`` is
    the ledger's record of the purchase or charge once it is no longer waiting."""
    request_id, status, kind = data["request_id"], data["status"], data["kind"]
    reason, code = data.get("reason"), data.get("code")
    if status == "pending":
        return []
    if kind == "purchase":
        purchase = recorded if isinstance(recorded, Purchase) else None
        if status == "succeeded":
            return record_purchase_succeeded(state, purchase_id=request_id, recorded=purchase)
        if status == "failed":
            return record_purchase_failed(
                state,
                purchase_id=request_id,
                reason=reason,
                code=code,
                retryable=data["retryable"],
                now=now,
                recorded=purchase,
            )
        return record_purchase_returned(
            state, purchase_id=request_id, reason=reason, code=code, recorded=purchase
        )
    charge = recorded if isinstance(recorded, Charge) else None
    if status == "succeeded":
        return record_charge_succeeded(state, charge_id=request_id, recorded=charge)
    if status == "failed":
        return record_charge_failed(
            state, charge_id=request_id, reason=reason, code=code, recorded=charge
        )
    return record_charge_returned(
        state, charge_id=request_id, reason=reason, code=code, recorded=charge
    )


def _kind(data: dict[str, Any]) -> RecordKind:
    return "purchase" if data["kind"] == "purchase" else "charge"


class PaymentResultHandler:
    """Settles, fails or reverses purchases and charges, in the consumer's transaction."""

    topic = PAYMENT_RESULTS.name
    dead_letter_topic = PAYMENT_RESULTS_DLQ.name
    transient: tuple[type[Exception], ...] = ()

    async def handle(
        self, uow: UnitOfWork, records: Sequence[IncomingRecord], cache: AccountCache
    ) -> BatchResult:
        now = datetime.now(UTC)
        batch = await read_new_events(uow.inbox, self.topic, records, PAYMENT_RESULTS.message_types)
        dead = batch.dead_letters
        partner_ids = [e.data["partner_id"] for _, e in batch.new]
        await uow.events.wait_for_writers(partner_ids)
        accounts = await load_accounts(uow, partner_ids, cache)
        known = await _records_of(uow, [e.data for _, e in batch.new])
        changes = ChangeSet(accounts, now)
        applied = 0
        for record, event in batch.new:
            partner_id = event.data["partner_id"]
            state = changes.state(partner_id)
            if state is None:
                dead.append(record.dead_letter(f"unknown partner {partner_id!r}"))
                continue
            key = (_kind(event.data), partner_id, event.data["request_id"])
            try:
                events = decide_payment_result(state, event.data, now, known.get(key))
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
            # A later result in this batch must see what this one recorded.
            for decided in events:
                found = record_change(decided)
                if found is not None:
                    at = (found.kind, partner_id, found.record_id)
                    known[at] = found.applied_to(known.get(at))
            applied += 1
        await changes.write(uow)
        for state in changes.touched:
            cache.put(state)
        return BatchResult(applied, batch.duplicates, dead)


async def _records_of(
    uow: UnitOfWork, results: list[dict[str, Any]]
) -> dict[tuple[RecordKind, str, str], Record]:
    """The ledger's records of the purchases and charges these results are about."""
    found: dict[tuple[RecordKind, str, str], Record] = {}
    for kind in ("purchase", "charge"):
        keys = [(r["partner_id"], r["request_id"]) for r in results if _kind(r) == kind]
        for (partner_id, record_id), record in (await uow.records.find(kind, keys)).items():
            found[(kind, partner_id, record_id)] = record
    return found
