"""Request and response bodies of the ledger API (credits whole, money in minor units)."""

from datetime import date as date_
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ledger.domain import BillingMode, Locale, ReservationStatus
from shared.text import without_nul

Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]
Credits = Annotated[int, Field(ge=1, le=10**12)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _storable_text(cls, value: object) -> object:
        # PostgreSQL stores no U+0000: refuse it here, with the field's name, not as a 500.
        return without_nul(value) if isinstance(value, str) else value


class CardMethod(Strict):
    type: Literal["card"]
    customer: str = Field(min_length=1, description="Gateway customer id (Stripe `cus_...`)")
    payment_method: str = Field(min_length=1, description="Saved card (Stripe `pm_...`)")


class SepaDebitMethod(Strict):
    type: Literal["sepa_debit"]
    iban: str = Field(min_length=15, max_length=34)
    account_holder: str = Field(min_length=1, max_length=70)
    mandate_reference: str = Field(min_length=1, max_length=35)
    mandate_signed_on: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")


PaymentMethodBody = Annotated[CardMethod | SepaDebitMethod, Field(discriminator="type")]


class AutoPurchase(Strict):
    credits: Credits = Field(description="Credits bought each time (rounded up to whole multiples)")
    trigger_threshold: int | None = Field(
        None,
        ge=0,
        le=10**12,
        description="Buy when the balance is at or below this (default: used up, 0)",
    )


class BillingSettings(Strict):
    billing_mode: Literal["prepaid", "on_demand"]
    reminder_threshold: int | None = Field(None, ge=0, le=10**12)
    reminder_thresholds: list[Annotated[int, Field(ge=0, le=10**12)]] = Field(
        default_factory=list,
        max_length=20,
        description="Balance alert levels: each alerts once per fall below it and once when"
        " the balance is back at or above it. A level equal to reminder_threshold is left out:"
        " the reminder alerts for it (once per crossing)",
    )
    auto_purchase: AutoPurchase | None = None
    payment_method: PaymentMethodBody | None = None


class NewPartner(Strict):
    partner_id: Identifier
    name: str = Field(min_length=1, max_length=200)
    locale: Literal["de", "en"] = "de"
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$")
    credit_price_list_id: Identifier
    mailing_price_list_id: Identifier
    billing: BillingSettings = BillingSettings(billing_mode="prepaid")


class NewCustomer(Strict):
    customer_id: Identifier
    name: str = Field(min_length=1, max_length=200)


class NewPurchase(Strict):
    credits: Credits


class NewReservation(Strict):
    reservation_id: Identifier
    credits: Credits
    ttl_seconds: int | None = Field(None, ge=1, le=7 * 24 * 3600)
    mailing_id: Identifier | None = None
    customer_id: Identifier | None = Field(
        None, description="The customer whose monthly budget the hold counts against"
    )


class CreditGrant(Strict):
    credits: Credits
    reason: str = Field(min_length=1, max_length=500)


class CreditAdjustment(Strict):
    delta: int = Field(ge=-(10**12), le=10**12)
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def not_zero(self) -> "CreditAdjustment":
        if self.delta == 0:
            raise ValueError("delta must not be 0")
        return self


class DebtSettlement(Strict):
    by: Literal["payment", "adjustment"]
    reference: str | None = Field(None, max_length=200)


# --- answers -----------------------------------------------------------------------------
# Each route answers one of these; fields in the order the JSON has them.


class Balance(BaseModel):
    """The balance projection: `available` = `balance` - `held`; `debt` in credits."""

    partner_id: str
    balance: int
    held: int
    available: int
    debt: int
    debt_minor: int = Field(description="The debt in the partner's currency, minor units")
    version: int = Field(description="The account's stream version this balance stands at")


class AutoPurchaseState(BaseModel):
    credits: int
    trigger_threshold: int | None
    suspended: bool = Field(description="Stopped after failed payments until settings are saved")


class PaymentMethodOnFile(BaseModel):
    """The payment method as it was saved: gateway references only, never card data (a card:
    `customer`, `payment_method`; a SEPA debit: `iban`, `account_holder`,
    `mandate_reference`, `mandate_signed_on`)."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, str] = Field(init=False)

    type: Literal["card", "sepa_debit"]


class Billing(BaseModel):
    billing_mode: BillingMode
    reminder_threshold: int | None
    # Shown only once set: the body of a partner without alert levels stays as it was.
    reminder_thresholds: list[int] = Field(
        default_factory=list,
        exclude_if=lambda levels: not levels,
        description="Balance alert levels; each fires once per downward crossing",
    )
    auto_purchase: AutoPurchaseState | None
    payment_method: PaymentMethodOnFile | None


class RegisteredPartner(BaseModel):
    partner_id: str
    name: str
    token: str = Field(
        description="The partner's API token; shown this once, only its hash is kept"
    )
    billing: Billing
    balance: Balance


class Partner(BaseModel):
    partner_id: str
    name: str
    locale: Locale
    currency: str
    credit_price_list_id: str
    mailing_price_list_id: str
    billing: Billing
    balance: Balance


class Customer(BaseModel):
    customer_id: str
    name: str


class CustomerList(BaseModel):
    partner_id: str
    customers: list[Customer] = Field(description="By customer id")


class PurchaseRequested(BaseModel):
    purchase_id: str
    credits: int
    amount_minor: int = Field(description="The price in the currency's minor units")
    currency: str
    status: Literal["requested"] = Field(description="Accepted; the credits arrive when paid")


class Reservation(BaseModel):
    reservation_id: str
    credits: int
    status: ReservationStatus
    expires_at: str = Field(json_schema_extra={"format": "date-time"})
    mailing_id: str | None
    # Shown only for a hold that counts against a customer's budget (older answers lack it).
    customer_id: str | None = Field(default=None, exclude_if=lambda customer: customer is None)
    balance: Balance


class HistoryEvent(BaseModel):
    version: int
    global_position: int
    type: str
    recorded_at: datetime
    payload: dict[str, Any]
    metadata: dict[str, Any]


class EventPage(BaseModel):
    partner_id: str
    events: list[HistoryEvent]
    next_after: int | None = Field(description="Pass as `after` for the next page; null at the end")


# --- usage, contracts, statements -----------------------------------------------------------

Quantity = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{1,18}(\.[0-9]{1,18})?$",
        description='A booked quantity as a decimal string ("3", "2.5").',
        examples=["3"],
    ),
]


class UsageDay(BaseModel):
    date: date_
    mailings: int
    recipients: int
    credits: int


class CustomerUsageReport(BaseModel):
    """A customer's usage over `[from, to)`, per UTC day of the mailings' `sent_at`."""

    model_config = ConfigDict(populate_by_name=True)

    partner_id: str
    customer_id: str
    from_: date_ = Field(alias="from")
    to: date_ = Field(description="Exclusive.")
    mailings: int
    recipients: int
    credits: int
    days: list[UsageDay] = Field(description="Days with usage only, in order.")


class CustomerUsageRow(BaseModel):
    customer_id: str
    name: str
    mailings: int
    recipients: int
    credits: int


class PartnerUsageReport(BaseModel):
    """Every customer's usage totals over `[from, to)` (zero without usage)."""

    model_config = ConfigDict(populate_by_name=True)

    partner_id: str
    from_: date_ = Field(alias="from")
    to: date_ = Field(description="Exclusive.")
    customers: list[CustomerUsageRow]


class ContractTerms(Strict):
    price_list_id: Identifier = Field(description="One of the partner's own (resale) price lists")
    plan_variant_id: str = Field(min_length=1, max_length=200)
    starts_on: date_ = Field(description="The day these terms take effect")
    billing_anchor: date_ | None = Field(
        None,
        description="Start of the billing cycles; default: the first day of the month of"
        " starts_on (calendar months for monthly plans)",
    )
    booked: dict[str, Quantity] = Field(
        default_factory=dict, description="Booked quantity per recurring component"
    )


class ContractChange(BaseModel):
    price_list_id: str
    plan_variant_id: str
    starts_on: date_
    billing_anchor: date_
    billing_period: str = Field(description="The plan variant's, when the terms were agreed")
    booked: dict[str, str]


class ContractView(BaseModel):
    """The terms in effect now (the latest change) and every change before."""

    partner_id: str
    customer_id: str
    price_list_id: str
    plan_variant_id: str
    starts_on: date_
    billing_anchor: date_
    billing_period: str
    booked: dict[str, str]
    first_starts_on: date_ = Field(description="The first contract's start (its setup fee)")
    changes: list[ContractChange]


class UsageTotals(BaseModel):
    mailings: int
    recipients: int
    credits: int = Field(description="What the same mailings cost the partner in credits")


class StatementView(BaseModel):
    """The pricing service's quote of the period, unchanged, and the usage it priced."""

    partner_id: str
    customer_id: str
    period_start: date_ = Field(description="The first day billed (not before the contract)")
    period_end: date_ = Field(description="Exclusive")
    quote: dict[str, Any] = Field(description="`POST /v1/quotes` of the pricing service")
    usage: UsageTotals
