"""The shapes of request and response bodies, for the OpenAPI document only.

The routes do not validate with these models: bodies are decoded by
:mod:`pricing.api.bodies` and validated by the domain's parse functions, the one validation
path (see there why). The models describe the same shapes so that clients get a precise
schema; the examples are real (response examples are computed by the engine at import).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from pricing.service import MAX_BATCH_ITEMS, evaluate
from shared.problems import ProblemDetails as ProblemDetails

DecimalValue = Annotated[
    str | float,
    Field(
        description='A decimal number, best sent as a string (`"0.0125"`); JSON numbers are '
        "read as exact decimals too (0.1 stays 0.1). Finite, below 10^30, at most 18 decimals.",
        examples=["0.0125"],
    ),
]
DecimalText = Annotated[str, Field(description="A decimal as a string.", examples=["12.50"])]
UpTo = Annotated[
    str | float | None,
    Field(description="Inclusive upper bound of the tier; null (last tier only) = no limit."),
]
Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", examples=["mailing-credits"])]
Currency = Annotated[
    str, Field(description="ISO 4217 code (upper case) or CREDITS.", examples=["EUR"])
]
Instant = Annotated[
    str,
    Field(description="RFC 3339 date-time with offset.", examples=["2025-03-01T10:00:00Z"]),
]
Day = Annotated[str, Field(description="A date, YYYY-MM-DD.", examples=["2025-03-01"])]
Duration = Annotated[
    str, Field(description="ISO 8601 period of months or days: P1M, P1Y, P2W.", examples=["P1M"])
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- price models ---------------------------------------------------------------------------


class Tier(_Strict):
    up_to: UpTo
    unit_price: DecimalValue
    flat_fee: DecimalValue | None = None


class BucketTier(_Strict):
    up_to: UpTo
    bucket_price: DecimalValue | None = None
    bucket_size: DecimalValue | None = Field(
        None, description="Left out: the tier's whole width is one bucket."
    )
    unit_price: DecimalValue | None = Field(None, description="Last tier only: bill per unit.")


class DiscountTier(_Strict):
    up_to: UpTo
    discount_percent: DecimalValue


class FlatPrice(_Strict):
    """Einfach: q x unit_price."""

    model: Literal["flat"]
    unit_price: DecimalValue


class VolumePrice(_Strict):
    """Preisstaffel: all units at the price of the tier holding q, plus its flat fee."""

    model: Literal["volume"]
    tiers: list[Tier]


class GraduatedPrice(_Strict):
    """Intervallstaffel: each tier's units at its price, plus every reached tier's fee."""

    model: Literal["graduated"]
    tiers: list[Tier]


class BucketPrice(_Strict):
    """Intervallskala: per tier ceil(units / bucket_size) x bucket_price; no free quota."""

    model: Literal["bucket"]
    tiers: list[BucketTier]


class DiscountPrice(_Strict):
    """Rabattstaffel: base_unit_price less the tier's discount (volume or graduated)."""

    model: Literal["discount"]
    base_unit_price: DecimalValue
    mode: Literal["volume", "graduated"] = "volume"
    tiers: list[DiscountTier]


class PackagePrice(_Strict):
    """ceil(q / package_size) x package_price."""

    model: Literal["package"]
    package_size: DecimalValue
    package_price: DecimalValue


class FreePrice(_Strict):
    """Kostenlos: 0, the quantity is still reported."""

    model: Literal["free"]


PriceModel = Annotated[
    FlatPrice
    | VolumePrice
    | GraduatedPrice
    | BucketPrice
    | DiscountPrice
    | PackagePrice
    | FreePrice,
    Field(discriminator="model"),
]


# --- evaluation -----------------------------------------------------------------------------


class EvaluateRequest(_Strict):
    price: PriceModel
    quantity: DecimalValue
    currency: Currency
    included_quantity: DecimalValue = Field(
        "0", description="Free quota: the model prices max(0, quantity - included)."
    )


class TierLine(BaseModel):
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


class Evaluation(BaseModel):
    currency: str
    quantity: DecimalText
    billable_quantity: DecimalText
    exact_amount: DecimalText = Field(description="The exact sum of the lines.")
    amount: DecimalText = Field(description="exact_amount rounded once, half-up, to minor units.")
    lines: list[TierLine]


# --- price lists ----------------------------------------------------------------------------


class PlanVariant(_Strict):
    name: str | None = None
    setup_fee: DecimalValue = Field("0", description="Billed on a contract's first invoice only.")
    recurring_fee: DecimalValue
    fee_period: Duration
    billing_period: Duration | None = Field(
        None, description="A whole multiple of fee_period; defaults to it."
    )
    included_quantities: dict[str, DecimalValue] = Field(
        default_factory=dict, description="Free quota per metered component and billing period."
    )


class RecurringComponent(_Strict):
    name: str
    unit: str | None = None
    fee_period: Duration
    price: PriceModel


class MeteredComponent(_Strict):
    name: str
    unit: str | None = None
    price: PriceModel


class VersionCreate(_Strict):
    version: int | None = Field(
        None, description="Optional: the number you expect to create (409 if it exists)."
    )
    effective_from: Instant | None = Field(
        None, description="Defaults to now; must not be in the past (except the first version)."
    )
    currency: Currency | None = Field(None, description="Optional: must be the list's currency.")
    plan_variants: dict[str, PlanVariant] = Field(default_factory=dict)
    recurring_components: dict[str, RecurringComponent] = Field(default_factory=dict)
    metered_components: dict[str, MeteredComponent] = Field(default_factory=dict)


class PriceListCreate(_Strict):
    id: Id
    name: str
    currency: Currency
    first_version: VersionCreate


class VersionRef(BaseModel):
    version: int
    effective_from: Instant


class PriceList(BaseModel):
    id: str
    name: str
    currency: str
    versions: list[VersionRef]


class PriceListPage(BaseModel):
    items: list[PriceList]
    next_after: str | None = Field(description="Pass as `after` for the next page; null: last.")


class PriceListVersion(BaseModel):
    price_list_id: str
    version: int
    effective_from: Instant
    currency: str
    plan_variants: dict[str, PlanVariant]
    recurring_components: dict[str, RecurringComponent]
    metered_components: dict[str, MeteredComponent]


# --- quotes ---------------------------------------------------------------------------------


class QuoteRequest(_Strict):
    price_list_id: Id
    plan_variant_id: str
    period_start: Day
    period_end: Day = Field(description="Exclusive end of the period.")
    version: int | None = Field(
        None, description="Default: the version in effect at 00:00 UTC of period_start."
    )
    billing_anchor: Day | None = Field(
        None, description="Start of the contract's billing cycles: a shorter period is prorated."
    )
    first_invoice: bool = Field(False, description="Adds the setup fee.")
    booked: dict[str, DecimalValue] = Field(
        default_factory=dict, description="Booked quantity per recurring component."
    )
    usage: dict[str, list[DecimalValue]] = Field(
        default_factory=dict, description="Usage reports per metered component (summed)."
    )


class QuoteLine(BaseModel):
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


class Proration(BaseModel):
    days: int
    period_days: int


class Quote(BaseModel):
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


class BatchItem(_Strict):
    price_list_id: str
    component: str
    quantity: DecimalValue
    at: Instant


class BatchQuoteRequest(_Strict):
    items: list[BatchItem] = Field(max_length=MAX_BATCH_ITEMS)


class PricedItem(BaseModel):
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


class ItemErrorDetail(BaseModel):
    status: Literal[404, 422]
    detail: str
    field: str = Field(examples=["$.items[3].price_list_id"])


class ItemError(BaseModel):
    error: ItemErrorDetail


class BatchQuoteResponse(BaseModel):
    items: list[PricedItem | ItemError]


class CreditsPriceRequest(_Strict):
    price_list_id: Id
    credits: DecimalValue = Field(description="A whole number of credits.")
    at: Instant | None = Field(None, description="Defaults to now.")


class CreditsForRecipientsRequest(_Strict):
    price_list_id: Id
    recipients: DecimalValue = Field(description="A whole number of recipients.")
    at: Instant | None = Field(None, description="Defaults to now.")


class CreditsForRecipients(PricedItem):
    credits: int = Field(description="The credits the mailing costs (= amount_minor).")


# --- examples -------------------------------------------------------------------------------

_TIERS = [
    {"up_to": "1000", "unit_price": "0.02"},
    {"up_to": "10000", "unit_price": "0.015", "flat_fee": "5"},
    {"up_to": None, "unit_price": "0.01", "flat_fee": "20"},
]
_DISCOUNTS = [
    {"up_to": "1000", "discount_percent": "0"},
    {"up_to": "10000", "discount_percent": "10"},
    {"up_to": None, "discount_percent": "25"},
]


def _evaluate_example(summary: str, price: dict[str, Any], quantity: str, **extra: str) -> Any:
    return {
        "summary": summary,
        "value": {"price": price, "quantity": quantity, "currency": "EUR", **extra},
    }


EVALUATE_EXAMPLES: dict[str, Any] = {
    "flat": _evaluate_example(
        "Einfach: 0.0125 per recipient", {"model": "flat", "unit_price": "0.0125"}, "12000"
    ),
    "volume": _evaluate_example(
        "Preisstaffel: all 2,500 units at the second tier's price, plus its fee",
        {"model": "volume", "tiers": _TIERS},
        "2500",
    ),
    "graduated": _evaluate_example(
        "Intervallstaffel: each tier's units at its own price",
        {"model": "graduated", "tiers": _TIERS},
        "2500",
    ),
    "graduated_with_free_quota": _evaluate_example(
        "Intervallstaffel with 1,000 units included",
        {"model": "graduated", "tiers": _TIERS},
        "2500",
        included_quantity="1000",
    ),
    "bucket": _evaluate_example(
        "Intervallskala: whole buckets per tier, the rest per unit",
        {
            "model": "bucket",
            "tiers": [
                {"up_to": "1000", "bucket_price": "10"},
                {"up_to": "5000", "bucket_price": "15", "bucket_size": "1000"},
                {"up_to": None, "unit_price": "0.004"},
            ],
        },
        "6500",
    ),
    "discount_volume": _evaluate_example(
        "Rabattstaffel (volume): every unit at the discount of the tier holding q",
        {"model": "discount", "base_unit_price": "0.02", "mode": "volume", "tiers": _DISCOUNTS},
        "2500",
    ),
    "discount_graduated": _evaluate_example(
        "Rabattstaffel (graduated): each tier's units at its own discount",
        {"model": "discount", "base_unit_price": "0.02", "mode": "graduated", "tiers": _DISCOUNTS},
        "2500",
    ),
    "package": _evaluate_example(
        "Package: 9.90 per started 1,000",
        {"model": "package", "package_size": "1000", "package_price": "9.90"},
        "2500",
    ),
    "free": _evaluate_example("Kostenlos: 0, quantity still reported", {"model": "free"}, "500"),
}
EVALUATE_RESPONSE_EXAMPLES: dict[str, Any] = {
    name: {"summary": example["summary"], "value": evaluate(example["value"])}
    for name, example in EVALUATE_EXAMPLES.items()
}

PRICE_LIST_EXAMPLES: dict[str, Any] = {
    "mailing_credits": {
        "summary": "CREDITS per recipient, for the ledger (1.05 credits per recipient)",
        "value": {
            "id": "mailing-credits",
            "name": "Credits per recipient",
            "currency": "CREDITS",
            "first_version": {
                "effective_from": "2025-01-01T00:00:00Z",
                "metered_components": {
                    "recipients": {
                        "name": "Recipients",
                        "unit": "recipient",
                        "price": {"model": "flat", "unit_price": "1.05"},
                    }
                },
            },
        },
    },
    "credit_prices": {
        "summary": "What credits cost in EUR (Preisstaffelung, volume tiers)",
        "value": {
            "id": "credit-prices-eur",
            "name": "Credit packages",
            "currency": "EUR",
            "first_version": {
                "effective_from": "2025-01-01T00:00:00Z",
                "metered_components": {
                    "credits": {
                        "name": "Credits",
                        "unit": "credit",
                        "price": {
                            "model": "volume",
                            "tiers": [
                                {"up_to": "10000", "unit_price": "0.012"},
                                {"up_to": "100000", "unit_price": "0.010"},
                                {"up_to": None, "unit_price": "0.008"},
                            ],
                        },
                    }
                },
            },
        },
    },
    "plans": {
        "summary": "Plan variants with a recurring and a metered component",
        "value": {
            "id": "newsletter-plans",
            "name": "Newsletter plans",
            "currency": "EUR",
            "first_version": {
                "effective_from": "2025-01-01T00:00:00Z",
                "plan_variants": {
                    "pro_yearly": {
                        "name": "Pro (yearly)",
                        "setup_fee": "99",
                        "recurring_fee": "49",
                        "fee_period": "P1M",
                        "billing_period": "P1Y",
                        "included_quantities": {"recipients": "10000"},
                    }
                },
                "recurring_components": {
                    "seats": {
                        "name": "Seats",
                        "unit": "seat",
                        "fee_period": "P1M",
                        "price": {"model": "flat", "unit_price": "5"},
                    }
                },
                "metered_components": {
                    "recipients": {
                        "name": "Recipients",
                        "unit": "recipient",
                        "price": {"model": "graduated", "tiers": _TIERS},
                    }
                },
            },
        },
    },
}
VERSION_EXAMPLES: dict[str, Any] = {
    "new_price": {
        "summary": "1.00 credit per recipient from 2030 on",
        "value": {
            "version": 2,
            "effective_from": "2030-01-01T00:00:00Z",
            "metered_components": {
                "recipients": {
                    "name": "Recipients",
                    "unit": "recipient",
                    "price": {"model": "flat", "unit_price": "1.00"},
                }
            },
        },
    }
}
QUOTE_EXAMPLES: dict[str, Any] = {
    "first_invoice": {
        "summary": "First yearly invoice: setup fee, 12 monthly fees, seats, usage",
        "value": {
            "price_list_id": "newsletter-plans",
            "plan_variant_id": "pro_yearly",
            "period_start": "2025-03-01",
            "period_end": "2026-03-01",
            "first_invoice": True,
            "booked": {"seats": "3"},
            "usage": {"recipients": ["8000", "6000"]},
        },
    },
    "prorated": {
        "summary": "Upgrade mid-cycle: prorated by actual days",
        "value": {
            "price_list_id": "newsletter-plans",
            "plan_variant_id": "pro_yearly",
            "period_start": "2025-09-01",
            "period_end": "2026-03-01",
            "billing_anchor": "2025-03-01",
            "booked": {"seats": "3"},
        },
    },
}
BATCH_EXAMPLES: dict[str, Any] = {
    "mailings": {
        "summary": "Credits of two mailings; the second names an unknown price list",
        "value": {
            "items": [
                {
                    "price_list_id": "mailing-credits",
                    "component": "recipients",
                    "quantity": "5000",
                    "at": "2025-03-01T10:00:00Z",
                },
                {
                    "price_list_id": "no-such-list",
                    "component": "recipients",
                    "quantity": "20",
                    "at": "2025-03-01T10:00:05Z",
                },
            ]
        },
    }
}
BATCH_RESPONSE_EXAMPLE: dict[str, Any] = {
    "items": [
        {
            "price_list_id": "mailing-credits",
            "price_list_version": 1,
            "component": "recipients",
            "currency": "CREDITS",
            "quantity": "5000",
            "billable_quantity": "5000",
            "exact_amount": "5250.00",
            "amount": "5250",
            "amount_minor": 5250,
            "lines": [
                {
                    "tier": 1,
                    "from": "0",
                    "to": None,
                    "quantity": "5000",
                    "unit_price": "1.05",
                    "flat_fee": "0",
                    "amount": "5250.00",
                }
            ],
        },
        {
            "error": {
                "status": 404,
                "detail": "no price list 'no-such-list'",
                "field": "$.items[1].price_list_id",
            }
        },
    ]
}
CREDITS_PRICE_EXAMPLES: dict[str, Any] = {
    "price": {
        "summary": "What 25,000 credits cost",
        "value": {"price_list_id": "credit-prices-eur", "credits": "25000"},
    }
}
FOR_RECIPIENTS_EXAMPLES: dict[str, Any] = {
    "mailing": {
        "summary": "Credits of a mailing to 5,000 recipients",
        "value": {
            "price_list_id": "mailing-credits",
            "recipients": "5000",
            "at": "2025-03-01T10:00:00Z",
        },
    }
}


# --- wiring into the OpenAPI document -------------------------------------------------------

_REQUEST_MODELS: list[type[BaseModel]] = []


def request_body(model: type[BaseModel], examples: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` of a route that reads its body itself: schema and named examples."""
    _REQUEST_MODELS.append(model)
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{model.__name__}"},
                    "examples": examples,
                }
            },
        }
    }


def json_content(examples: dict[str, Any]) -> dict[str, Any]:
    """``responses[...]["content"]`` with named examples."""
    return {"application/json": {"examples": examples}}


PROBLEMS: dict[int | str, dict[str, Any]] = {
    422: {"model": ProblemDetails, "description": "Invalid request; `errors[].field` says where."}
}
ADMIN_ONLY: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ProblemDetails,
        "description": "No `Authorization: Bearer <PRICING_ADMIN_TOKEN>`, or another token.",
    }
}
# A version number as the database holds it (a 32-bit integer); larger ones are a 422.
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]


def install_openapi(app: FastAPI, router: APIRouter) -> None:
    """Add the request body schemas (read by the routes themselves) to the document, and put
    back the examples as written: FastAPI drops every null from the document, which would cut
    ``"up_to": null`` out of the tiers and ``"to": null`` out of the lines."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        document = generate()
        if first:
            _, definitions = models_json_schema(
                [(model, "validation") for model in _REQUEST_MODELS],
                ref_template="#/components/schemas/{model}",
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in definitions.get("$defs", {}).items():
                schemas.setdefault(name, schema)
            _restore_examples(router, document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _restore_examples(router: APIRouter, document: dict[str, Any]) -> None:
    for route in router.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = document["paths"][route.path][method.lower()]
            body = (route.openapi_extra or {}).get("requestBody")
            if body is not None:
                examples = body["content"]["application/json"]["examples"]
                operation["requestBody"]["content"]["application/json"]["examples"] = examples
            for status, response in route.responses.items():
                content = response.get("content", {}).get("application/json", {})
                if "examples" in content:
                    answer = operation["responses"][str(status)]["content"]["application/json"]
                    answer["examples"] = content["examples"]
