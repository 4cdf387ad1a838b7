"""The ledger's records of reservations, purchases and charges, as events change them.

The account's state keeps only what is still open. Once a hold, a purchase or a charge is
closed, the ledger still has to answer for it (a reservation id used twice, a payment result
that arrives late or twice); those answers come from records kept beside the events. This
module says, for each event, how it changes those records, so the database's read model and
the in-memory one of the unit tests keep them by the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from .events import (
    ChargeFailed,
    ChargeRequested,
    ChargeReturned,
    ChargeSucceeded,
    CreditsReserved,
    Event,
    MailingDebited,
    PurchaseFailed,
    PurchaseRequested,
    PurchaseReturned,
    PurchaseSucceeded,
    ReservationExpired,
    ReservationReleased,
)
from .partner_account import Charge, Purchase, Reservation

RecordKind = Literal["reservation", "purchase", "charge"]
Record = Reservation | Purchase | Charge


@dataclass(frozen=True, slots=True)
class RecordChange:
    """One event's effect on one record: it opens it (``opened`` set) or sets its status."""

    kind: RecordKind
    record_id: str
    status: str
    opened: Record | None = None

    def applied_to(self, record: Record | None) -> Record:
        """The record after this change (``record``: as it was, ``None`` if not yet opened)."""
        if self.opened is not None:
            return self.opened
        if record is None:
            raise ValueError(f"{self.kind} {self.record_id!r} changes before it was opened")
        return replace(record, status=self.status)  # type: ignore[arg-type]


def record_change(event: Event) -> RecordChange | None:
    """How ``event`` changes the records, or ``None`` when it touches none."""
    match event:
        # Debits first: nearly every event is one, and only those that used a hold count here.
        case MailingDebited(reservation_id=str(rid)) if event.hold_used:
            return RecordChange("reservation", rid, "captured")
        case MailingDebited():
            return None
        case CreditsReserved(reservation_id=rid):
            hold = Reservation(
                credits=event.credits,
                expires_at=event.expires_at,
                mailing_id=event.mailing_id,
                customer_id=event.customer_id,
            )
            return RecordChange("reservation", rid, "active", hold)
        case ReservationReleased(reservation_id=rid):
            return RecordChange("reservation", rid, "released")
        case ReservationExpired(reservation_id=rid):
            return RecordChange("reservation", rid, "expired")
        case PurchaseRequested(purchase_id=pid):
            purchase = Purchase(
                credits=event.credits, amount_minor=event.amount_minor, reason=event.reason
            )
            return RecordChange("purchase", pid, "requested", purchase)
        case PurchaseSucceeded(purchase_id=pid):
            return RecordChange("purchase", pid, "succeeded")
        case PurchaseFailed(purchase_id=pid):
            return RecordChange("purchase", pid, "failed")
        case PurchaseReturned(purchase_id=pid):
            return RecordChange("purchase", pid, "returned")
        case ChargeRequested(charge_id=cid):
            charge = Charge(credits=event.credits, amount_minor=event.amount_minor)
            return RecordChange("charge", cid, "requested", charge)
        case ChargeSucceeded(charge_id=cid):
            return RecordChange("charge", cid, "succeeded")
        case ChargeFailed(charge_id=cid):
            return RecordChange("charge", cid, "failed")
        case ChargeReturned(charge_id=cid):
            return RecordChange("charge", cid, "returned")
    return None
