"""The response bodies of the pricing routes, declared as each route's ``response_model``.

The routes answer with bytes encoded by orjson from the use cases' dicts (no pydantic on
the way out: a batch answer holds 10,000 items); these models are what the OpenAPI document
shows, and ``tests/unit/pricing/test_pricing_responses.py`` validates the real answers of
every use case against them, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from pricing.service_layer.commands import MeteredComponent, PlanVariant, RecurringComponent

DecimalText = Annotated[str, Field(description="A decimal as a string.", examples=["12.50"])]
Instant = Annotated[
    str, Field(description="RFC 3339 date-time with offset.", examples=["2025-03-01T10:00:00Z"])
]
Day = Annotated[str, Field(description="A date, YYYY-MM-DD.", examples=["2025-03-01"])]


class _Answer(BaseModel):
    # Forbidding extra fields makes the tests that validate real answers catch a new field
    # the document does not show.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TierLine(_Answer):
    tier: int
    from_: DecimalText = Field(alias="from", description="Exclusive lower bound.")
    to: DecimalText | None = Field(description="Inclusive upper bound; null = no limit.")
    quantity: DecimalText
    unit_price: DecimalText | None
    flat_fee: DecimalText
    amount: DecimalText
    bucket_price: DecimalText | None = Field(None, description="Bucket and package lines only.")
    bucket_size: DecimalText | None = None
    buckets: DecimalText | None = None


class Evaluation(_Answer):
    currency: str
    quantity: DecimalText
    billable_quantity: DecimalText
    exact_amount: DecimalText = Field(description="The exact sum of the lines.")
    amount: DecimalText = Field(description="exact_amount rounded once, half-up, to minor units.")
    lines: list[TierLine]


class VersionRef(_Answer):
    version: int
    effective_from: Instant


class PriceList(_Answer):
    id: str
    name: str
    currency: str
    versions: list[VersionRef]


class PriceListPage(_Answer):
    items: list[PriceList]
    next_after: str | None = Field(description="Pass as `after` for the next page; null: last.")


class PriceListVersion(_Answer):
    price_list_id: str
    version: int
    effective_from: Instant
    currency: str
    plan_variants: dict[str, PlanVariant]
    recurring_components: dict[str, RecurringComponent]
    metered_components: dict[str, MeteredComponent]


class QuoteLine(_Answer):
    kind: Literal["setup_fee", "recurring_fee", "recurring_component", "metered_component"]
    id: str
    description: str
    quantity: DecimalText
    unit_price: DecimalText | None
    periods: int
    full_amount: DecimalText
    exact_amount: DecimalText
    prorated: bool
    evaluation: Evaluation | None


class Proration(_Answer):
    days: int
    period_days: int


class Quote(_Answer):
    price_list_id: str
    price_list_version: int
    plan_variant_id: str
    currency: str
    period_start: Day
    period_end: Day
    proration: Proration | None
    lines: list[QuoteLine]
    exact_total: DecimalText
    total: DecimalText
    total_minor: int


class PricedItem(_Answer):
    price_list_id: str
    price_list_version: int
    component: str
    currency: str
    quantity: DecimalText
    billable_quantity: DecimalText
    exact_amount: DecimalText
    amount: DecimalText
    amount_minor: int = Field(description="amount in the currency's minor unit (CREDITS: 1).")
    lines: list[TierLine]


class ItemErrorDetail(_Answer):
    status: Literal[404, 422]
    detail: str
    field: str = Field(examples=["$.items[3].price_list_id"])


class ItemError(_Answer):
    error: ItemErrorDetail


class BatchQuoteResponse(_Answer):
    items: list[PricedItem | ItemError]


class CreditsForRecipients(PricedItem):
    credits: int = Field(description="The credits the mailing costs (= amount_minor).")
