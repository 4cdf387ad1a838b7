"""The canonical example price lists and price models of the pricing service.

One set, written once: the OpenAPI document's examples are built from it (and computed by
the service itself, see :mod:`pricing.api.openapi`); tests, benchmarks and the demo are to
use the same lists. Production code never imports tests, so the canonical lists live here.
"""

from __future__ import annotations

from typing import Any

EFFECTIVE_FROM = "2025-01-01T00:00:00Z"

TIERS: list[dict[str, Any]] = [
    {"up_to": "1000", "unit_price": "0.02"},
    {"up_to": "10000", "unit_price": "0.015", "flat_fee": "5"},
    {"up_to": None, "unit_price": "0.01", "flat_fee": "20"},
]
"""Three per-unit tiers (the second and third with a flat fee)."""
DISCOUNTS: list[dict[str, Any]] = [
    {"up_to": "1000", "discount_percent": "0"},
    {"up_to": "10000", "discount_percent": "10"},
    {"up_to": None, "discount_percent": "25"},
]
BUCKETS: list[dict[str, Any]] = [
    {"up_to": "1000", "bucket_price": "10"},
    {"up_to": "5000", "bucket_price": "15", "bucket_size": "1000"},
    {"up_to": None, "unit_price": "0.004"},
]

PRICE_MODELS: dict[str, tuple[str, dict[str, Any], str]] = {
    "flat": ("Einfach: 0.0125 per recipient", {"model": "flat", "unit_price": "0.0125"}, "12000"),
    "volume": (
        "Preisstaffel: all 2,500 units at the second tier's price, plus its fee",
        {"model": "volume", "tiers": TIERS},
        "2500",
    ),
    "graduated": (
        "Intervallstaffel: each tier's units at its own price",
        {"model": "graduated", "tiers": TIERS},
        "2500",
    ),
    "bucket": (
        "Intervallskala: whole buckets per tier, the rest per unit",
        {"model": "bucket", "tiers": BUCKETS},
        "6500",
    ),
    "discount_volume": (
        "Rabattstaffel (volume): every unit at the discount of the tier holding q",
        {"model": "discount", "base_unit_price": "0.02", "mode": "volume", "tiers": DISCOUNTS},
        "2500",
    ),
    "discount_graduated": (
        "Rabattstaffel (graduated): each tier's units at its own discount",
        {"model": "discount", "base_unit_price": "0.02", "mode": "graduated", "tiers": DISCOUNTS},
        "2500",
    ),
    "package": (
        "Package: 9.90 per started 1,000",
        {"model": "package", "package_size": "1000", "package_price": "9.90"},
        "2500",
    ),
    "free": ("Kostenlos: 0, quantity still reported", {"model": "free"}, "500"),
}
"""An example of every price model: (summary, model, quantity to price)."""

MAILING_CREDITS: dict[str, Any] = {
    "id": "mailing-credits",
    "name": "Credits per recipient",
    "currency": "CREDITS",
    "first_version": {
        "effective_from": EFFECTIVE_FROM,
        "metered_components": {
            "recipients": {
                "name": "Recipients",
                "unit": "recipient",
                "price": {"model": "flat", "unit_price": "1.05"},
            }
        },
    },
}
"""What a mailing costs in credits: 1.05 credits per recipient."""

CREDIT_PRICES_EUR: dict[str, Any] = {
    "id": "credit-prices-eur",
    "name": "Credit packages",
    "currency": "EUR",
    "first_version": {
        "effective_from": EFFECTIVE_FROM,
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
}
"""What credits cost in EUR (Preisstaffelung: volume tiers)."""

NEWSLETTER_PLANS: dict[str, Any] = {
    "id": "newsletter-plans",
    "name": "Newsletter plans",
    "currency": "EUR",
    "first_version": {
        "effective_from": EFFECTIVE_FROM,
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
                "price": {"model": "graduated", "tiers": TIERS},
            }
        },
    },
}
"""Plan variants with a recurring and a metered component."""

PRICE_LISTS: tuple[dict[str, Any], ...] = (MAILING_CREDITS, CREDIT_PRICES_EUR, NEWSLETTER_PLANS)

NEW_MAILING_CREDITS_VERSION: dict[str, Any] = {
    "version": 2,
    "effective_from": "2030-01-01T00:00:00Z",
    "metered_components": {
        "recipients": {
            "name": "Recipients",
            "unit": "recipient",
            "price": {"model": "flat", "unit_price": "1.00"},
        }
    },
}
"""A price change of :data:`MAILING_CREDITS`: 1.00 credit per recipient from 2030 on."""
