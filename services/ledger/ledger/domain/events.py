"""Domain events of a partner account: immutable facts, named in the past tense.

The events carry only domain data. The event store adds the stream id (partner id), the
version, the time and the metadata (causation id, correlation id, actor of the request).
Credits are ``int`` and may be negative where a field says so; money is ``int`` minor units
in the partner's currency.

``event_to_dict`` / ``event_from_dict`` turn an event into ``(type name, JSON-safe payload)``
and back, losslessly: the type name is the class name, datetimes travel as ISO 8601 strings,
tuples as lists.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Union

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]
"""A value that ``json.dumps`` writes and ``json.loads`` reads back unchanged."""

BillingMode = Literal["prepaid", "on_demand"]
Locale = Literal["de", "en"]
PurchaseReason = Literal["auto", "manual"]
SettledBy = Literal["payment", "adjustment"]
PaymentMethod = Mapping[str, str]
"""``{"type": "card" | "sepa_debit", ...}``: gateway references, never raw card data."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerRegistered:
    partner_id: str
    name: str
    locale: Locale
    billing_mode: BillingMode
    currency: str
    credit_price_list_id: str
    mailing_price_list_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerAttached:
    customer_id: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingSettingsChanged:
    """The complete billing settings after the change (not a diff)."""

    billing_mode: BillingMode
    reminder_threshold: int | None
    reminder_armed: bool
    auto_purchase_credits: int | None
    auto_purchase_trigger: int | None
    payment_method: PaymentMethod | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MailingDebited:
    """A sent mailing's cost.

    ``charge_minor is None``: prepaid, ``credits`` leave the balance (which may go negative).
    ``charge_minor`` set: on demand, the balance is untouched and the credits and money are
    added to what is waiting to be charged.
    A hold was used iff ``captured_credits + released_credits > 0``: it is then closed,
    ``captured_credits`` (at most the hold) came out of it and ``released_credits`` went back.
    """

    mailing_id: str
    customer_id: str
    recipients: int
    credits: int
    price_list_id: str
    price_list_version: int
    quote: Mapping[str, JsonValue]
    reservation_id: str | None
    captured_credits: int
    released_credits: int
    charge_minor: int | None

    @property
    def hold_used(self) -> bool:
        return self.captured_credits + self.released_credits > 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CreditsReserved:
    reservation_id: str
    credits: int
    expires_at: datetime
    mailing_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReservationReleased:
    reservation_id: str
    credits: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReservationExpired:
    reservation_id: str
    credits: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LowBalanceReached:
    """The balance fell below the reminder threshold (once per downward crossing)."""

    balance: int
    threshold: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderRearmed:
    """The balance is back at or above the threshold: the next fall below it fires again."""

    balance: int
    threshold: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PurchaseRequested:
    purchase_id: str
    credits: int
    amount_minor: int
    currency: str
    price_list_id: str
    price_list_version: int
    reason: PurchaseReason
    actor: str
    payment_method: PaymentMethod | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PurchaseSucceeded:
    purchase_id: str
    credits: int
    amount_minor: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PurchaseFailed:
    """A declined payment.

    ``consecutive_failures`` is set when the decline counts against auto-purchase (an automatic
    purchase while auto-purchase is on); ``retry_not_before`` is set when it then backs off
    rather than being suspended.
    """

    purchase_id: str
    reason: str | None
    code: str | None
    retryable: bool
    retry_not_before: datetime | None
    consecutive_failures: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PurchaseReturned:
    """A succeeded payment was reversed later (SEPA return, chargeback): credits go back."""

    purchase_id: str
    credits: int
    amount_minor: int
    reason: str | None
    code: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoPurchaseSuspended:
    failures: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoPurchaseResumed:
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CreditsGranted:
    credits: int
    reason: str
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CreditsAdjusted:
    delta: int
    reason: str
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeRequested:
    charge_id: str
    credits: int
    amount_minor: int
    currency: str
    mailing_ids: tuple[str, ...]
    payment_method: PaymentMethod | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeSucceeded:
    charge_id: str
    credits: int
    amount_minor: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeFailed:
    charge_id: str
    reason: str | None
    code: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeReturned:
    charge_id: str
    credits: int
    amount_minor: int
    reason: str | None
    code: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DebtRecorded:
    charge_id: str
    credits: int
    amount_minor: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DebtSettled:
    credits: int
    amount_minor: int
    by: SettledBy
    actor: str
    reference: str | None


Event = (
    PartnerRegistered
    | CustomerAttached
    | BillingSettingsChanged
    | MailingDebited
    | CreditsReserved
    | ReservationReleased
    | ReservationExpired
    | LowBalanceReached
    | ReminderRearmed
    | PurchaseRequested
    | PurchaseSucceeded
    | PurchaseFailed
    | PurchaseReturned
    | AutoPurchaseSuspended
    | AutoPurchaseResumed
    | CreditsGranted
    | CreditsAdjusted
    | ChargeRequested
    | ChargeSucceeded
    | ChargeFailed
    | ChargeReturned
    | DebtRecorded
    | DebtSettled
)

EVENT_TYPES: Mapping[str, type[Event]] = types.MappingProxyType(
    {cls.__name__: cls for cls in typing.get_args(Event)}
)
"""Type name (as stored) -> event class."""


def _encode(value: object) -> JsonValue:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _encode(item) for key, item in value.items()}
    raise TypeError(f"cannot encode {type(value).__name__} in an event payload")


def _decoder(hint: object) -> Callable[[JsonValue], object]:
    """How to turn a payload value back into the field's type (most fields are already fine)."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else ()
    if hint is datetime or datetime in options:
        return lambda value: None if value is None else datetime.fromisoformat(str(value))
    if typing.get_origin(hint) is tuple:
        return lambda value: tuple(value) if isinstance(value, list) else value
    return lambda value: value


_DECODERS: Mapping[type[Event], Mapping[str, Callable[[JsonValue], object]]] = {
    cls: {name: _decoder(hint) for name, hint in typing.get_type_hints(cls).items()}
    for cls in EVENT_TYPES.values()
}


class _JsonObjectHint:
    value: Mapping[str, JsonValue]


# A JSON object field's hint as `get_type_hints` resolves it (forward references included).
_JSON_OBJECT = typing.get_type_hints(_JsonObjectHint)["value"]


def _encoder(hint: object) -> Callable[[Any], JsonValue]:
    """How to make a field's value JSON-safe, decided once per field rather than per value:
    scalars pass as they are, which keeps writing a busy partner's debits cheap."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else ()
    plain = {str, int, bool, type(None)}
    if hint in plain or (options and set(options) <= plain):
        return lambda value: value
    if hint == _JSON_OBJECT:
        # Already JSON (e.g. a quote as the pricing service sent it): copy the top level only.
        return dict
    return _encode


_ENCODERS: Mapping[type[Event], tuple[tuple[str, Callable[[Any], JsonValue]], ...]] = {
    cls: tuple((name, _encoder(hint)) for name, hint in typing.get_type_hints(cls).items())
    for cls in EVENT_TYPES.values()
}


def event_to_dict(event: Event) -> tuple[str, dict[str, JsonValue]]:
    """Return the event's type name and its JSON-safe payload."""
    payload = {name: encode(getattr(event, name)) for name, encode in _ENCODERS[type(event)]}
    return type(event).__name__, payload


def event_from_dict(type_name: str, payload: Mapping[str, JsonValue]) -> Event:
    """Rebuild an event from ``event_to_dict``'s output; raise ``ValueError`` if it does not fit."""
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise ValueError(f"unknown event type {type_name!r}")
    decoders = _DECODERS[cls]
    unexpected = set(payload) - set(decoders)
    missing = set(decoders) - set(payload)
    if unexpected or missing:
        raise ValueError(
            f"{type_name} payload does not fit: missing {sorted(missing)}, "
            f"unexpected {sorted(unexpected)}"
        )
    # Any: the payload's shape was checked above; the values are the stored ones.
    values: dict[str, Any] = {name: decode(payload[name]) for name, decode in decoders.items()}
    return cls(**values)
