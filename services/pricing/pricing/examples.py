"""The canonical example price lists and price models of the pricing service.

One set, written once: the OpenAPI document's examples are built from it (and computed by
the service itself, see :mod:`pricing.api.openapi`); tests, benchmarks and the demo are to
use the same lists. Production code never imports tests, so the canonical lists live here.
The example of each price model lives in that model's module and is gathered here through
the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pricing.domain import MODELS, Example
from pricing.domain.price_models.tiers import EXAMPLE_TIERS

EFFECTIVE_FROM = "2025-01-01T00:00:00Z"

TIERS: list[dict[str, Any]] = EXAMPLE_TIERS
"""Three per-unit tiers (the second and third with a flat fee), as in the examples of
``volume`` and ``graduated``."""

PRICE_MODELS: Mapping[str, Example] = MODELS.examples
"""An example of every price model: (summary, model, quantity to price). Each model's module
holds its own (``examples`` of its class); the registry gathers them in its order."""

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
                        {"up_to": "10000", "unit_price": "0.01"},
                        {"up_to": "100000", "unit_price": "0.008"},
                        {"up_to": None, "unit_price": "0.006"},
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
