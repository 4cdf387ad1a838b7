"""Domain errors of the partner account.

Three families, so that an HTTP layer can map them without knowing each one:
``NotFound`` (404), ``Conflict`` (409) and ``Refused`` (the command is valid but the account
does not allow it now; 402/409 depending on taste). ``InvalidCommand`` (422) is a malformed
command. ``CorruptStream`` means stored events do not fold: a bug or a damaged stream, never
a user error.
"""

from __future__ import annotations

from datetime import datetime


class LedgerError(Exception):
    """Base class of every domain error; ``code`` is a stable machine-readable name."""

    code = "ledger_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def extensions(self) -> dict[str, object]:
        """Machine-readable facts of the error, beyond its message (none by default)."""
        return {}


class InvalidCommand(LedgerError):
    """A command argument is malformed (negative credits, unknown mode, naive datetime, ...)."""

    code = "invalid_command"


class CorruptStream(LedgerError):
    """An event cannot be applied to the state it follows."""

    code = "corrupt_stream"


class NotFound(LedgerError):
    """Something the command names does not exist in the account."""

    code = "not_found"


class Conflict(LedgerError):
    """The command contradicts what the account already recorded."""

    code = "conflict"


class Refused(LedgerError):
    """The command is well formed but the account's current state does not allow it."""

    code = "refused"


class PartnerNotRegistered(NotFound):
    code = "partner_not_registered"

    def __init__(self) -> None:
        super().__init__("the partner account has not been registered")


class PartnerAlreadyRegistered(Conflict):
    code = "partner_already_registered"

    def __init__(self, partner_id: str) -> None:
        super().__init__(f"partner {partner_id!r} is already registered with other details")
        self.partner_id = partner_id


class UnknownCustomer(NotFound):
    code = "unknown_customer"

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"customer {customer_id!r} is not attached to this partner")
        self.customer_id = customer_id


class CustomerAlreadyAttached(Conflict):
    code = "customer_already_attached"

    def __init__(self, customer_id: str, name: str) -> None:
        super().__init__(f"customer {customer_id!r} is already attached under the name {name!r}")
        self.customer_id = customer_id
        self.name = name


class InsufficientCredits(Refused):
    code = "insufficient_credits"

    def __init__(self, requested: int, available: int) -> None:
        super().__init__(
            f"{requested} credits requested but only {available} are available "
            "(balance minus active reservations)"
        )
        self.requested = requested
        self.available = available


class BudgetExceeded(Refused):
    """A reservation would take a customer past what is left of its monthly budget."""

    code = "budget-exceeded"

    def __init__(
        self,
        *,
        customer_id: str,
        month: str,
        monthly_credits: int,
        used: int,
        held: int,
        requested: int,
    ) -> None:
        self.customer_id = customer_id
        self.month = month
        self.monthly_credits = monthly_credits
        self.used = used
        self.held = held
        self.requested = requested
        self.remaining = max(0, monthly_credits - used - held)
        super().__init__(
            f"{requested} credits requested for customer {customer_id!r} but only"
            f" {self.remaining} of its {monthly_credits} credits for {month} remain"
            f" ({used} used, {held} held)"
        )

    @property
    def extensions(self) -> dict[str, object]:
        return {
            "customer_id": self.customer_id,
            "month": self.month,
            "monthly_credits": self.monthly_credits,
            "used": self.used,
            "held": self.held,
            "remaining": self.remaining,
            "requested": self.requested,
        }


class PartnerInDebt(Refused):
    code = "partner_in_debt"

    def __init__(self, debt_credits: int, debt_minor: int, currency: str) -> None:
        super().__init__(
            f"the partner owes {debt_minor} {currency} (minor units) for {debt_credits} credits "
            "from failed charges; new reservations are blocked until the debt is settled"
        )
        self.debt_credits = debt_credits
        self.debt_minor = debt_minor
        self.currency = currency


class UnknownReservation(NotFound):
    code = "unknown_reservation"

    def __init__(self, reservation_id: str) -> None:
        super().__init__(f"reservation {reservation_id!r} does not exist")
        self.reservation_id = reservation_id


class ReservationNotActive(Conflict):
    code = "reservation_not_active"

    def __init__(self, reservation_id: str, status: str) -> None:
        super().__init__(f"reservation {reservation_id!r} is {status}, not active")
        self.reservation_id = reservation_id
        self.status = status


class ReservationConflict(Conflict):
    code = "reservation_conflict"

    def __init__(self, reservation_id: str, credits: int) -> None:
        super().__init__(
            f"reservation {reservation_id!r} already exists for {credits} credits; "
            "a reservation id cannot be reused for another amount"
        )
        self.reservation_id = reservation_id
        self.credits = credits


class UnknownPurchase(NotFound):
    code = "unknown_purchase"

    def __init__(self, purchase_id: str) -> None:
        super().__init__(f"purchase {purchase_id!r} does not exist")
        self.purchase_id = purchase_id


class PurchaseConflict(Conflict):
    code = "purchase_conflict"

    def __init__(self, purchase_id: str) -> None:
        super().__init__(
            f"purchase {purchase_id!r} already exists with other parameters; "
            "a purchase id cannot be reused"
        )
        self.purchase_id = purchase_id


class PurchaseAlreadyInFlight(Refused):
    code = "purchase_already_in_flight"

    def __init__(self, purchase_id: str) -> None:
        super().__init__(
            f"purchase {purchase_id!r} is still waiting for its payment; "
            "at most one automatic purchase may be in flight"
        )
        self.purchase_id = purchase_id


class AutoPurchaseNotAllowed(Refused):
    code = "auto_purchase_not_allowed"

    def __init__(self, reason: str, retry_not_before: datetime | None = None) -> None:
        when = f" (not before {retry_not_before.isoformat()})" if retry_not_before else ""
        super().__init__(f"an automatic purchase is not allowed now: {reason}{when}")
        self.reason = reason
        self.retry_not_before = retry_not_before


class UnknownCharge(NotFound):
    code = "unknown_charge"

    def __init__(self, charge_id: str) -> None:
        super().__init__(f"charge {charge_id!r} does not exist")
        self.charge_id = charge_id


class PaymentResultConflict(Conflict):
    """A payment result contradicts the recorded one (e.g. ``failed`` after ``succeeded``)."""

    code = "payment_result_conflict"

    def __init__(self, kind: str, payment_id: str, status: str, result: str) -> None:
        super().__init__(f"{kind} {payment_id!r} is {status}; a {result!r} result cannot follow")
        self.kind = kind
        self.payment_id = payment_id
        self.status = status
        self.result = result


class NoContract(NotFound):
    code = "no_contract"

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"customer {customer_id!r} has no contract")
        self.customer_id = customer_id


class ContractConflict(Conflict):
    """A contract change that would rewrite terms already in effect or already invoiced."""

    code = "contract_conflict"


class StatementConflict(Conflict):
    """A statement period that overlaps one issued already."""

    code = "statement_conflict"
