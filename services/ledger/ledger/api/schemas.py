"""Request and response bodies of the ledger API (credits whole, money in minor units)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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


class Balance(BaseModel):
    partner_id: str
    balance: int
    held: int
    available: int
    debt: int
    debt_minor: int
    version: int


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
