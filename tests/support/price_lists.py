"""The price lists every test, benchmark and the demo load into pricing.

They are the pricing service's own canonical examples (`pricing.examples`, which its OpenAPI
document is built from), so one set of lists is written once; this module only names them for
the ledger's side and says what they cost, as an oracle independent of the pricing code.
"""

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pricing import examples

MAILING_PRICE_LIST: dict[str, Any] = examples.MAILING_CREDITS
"""What a mailing costs in credits: a flat price per recipient."""
CREDIT_PRICE_LIST: dict[str, Any] = examples.CREDIT_PRICES_EUR
"""What credits cost in EUR: volume tiers (every credit at the price of the tier the whole
quantity falls in)."""
PLAN_PRICE_LIST: dict[str, Any] = examples.NEWSLETTER_PLANS
"""Plan variants with a recurring and a metered component."""
LEDGER_PRICE_LISTS = (MAILING_PRICE_LIST, CREDIT_PRICE_LIST)
"""The two lists the ledger needs: mailings in credits, credits in money."""
NEW_MAILING_CREDITS_VERSION: dict[str, Any] = examples.NEW_MAILING_CREDITS_VERSION
"""A price change of :data:`MAILING_PRICE_LIST`: 1.00 credit per recipient from 2030 on."""
EXAMPLE_TIERS: list[dict[str, Any]] = examples.TIERS
"""Three per-unit tiers, up to 1,000 at 0.02, up to 10,000 at 0.015 (+5 flat), above at 0.01
(+20 flat): the tiers of :data:`PLAN_PRICE_LIST`'s recipients and of the pricing service's
``volume`` and ``graduated`` examples. Shared, so not to be changed in place."""


def resale_price_list(price_list_id: str) -> dict[str, Any]:
    """A partner's own price list for its customers (statements, the demo): EUR 49 setup,
    EUR 30 a month, seats at EUR 5, recipients graduated with 1,000 free a month."""
    return {
        "id": price_list_id,
        "name": "Newsletter plans of an agency",
        "currency": "EUR",
        "first_version": {
            "effective_from": "2020-01-01T00:00:00Z",
            "plan_variants": {
                "basic_monthly": {
                    "name": "Basic",
                    "setup_fee": "49",
                    "recurring_fee": "30",
                    "fee_period": "P1M",
                    "included_quantities": {"recipients": "1000"},
                }
            },
            "recurring_components": {
                "seats": {
                    "name": "Seats",
                    "fee_period": "P1M",
                    "price": {"model": "flat", "unit_price": "5"},
                }
            },
            "metered_components": {
                "recipients": {
                    "name": "Recipients",
                    "price": {
                        "model": "graduated",
                        "tiers": [
                            {"up_to": "1000", "unit_price": "0.02"},
                            {"up_to": "10000", "unit_price": "0.015", "flat_fee": "5"},
                            {"up_to": None, "unit_price": "0.01"},
                        ],
                    },
                }
            },
        },
    }


CREDITS_PER_RECIPIENT = Decimal(
    MAILING_PRICE_LIST["first_version"]["metered_components"]["recipients"]["price"]["unit_price"]
)
CREDIT_TIERS: tuple[tuple[int | None, Decimal], ...] = tuple(
    (None if tier["up_to"] is None else int(tier["up_to"]), Decimal(tier["unit_price"]))
    for tier in CREDIT_PRICE_LIST["first_version"]["metered_components"]["credits"]["price"][
        "tiers"
    ]
)
"""(up to, unit price in EUR) of each credit tier, the last one open-ended."""


def credits_for(recipients: int) -> int:
    """What a mailing to ``recipients`` costs: the exact amount rounded once, half-up."""
    return int((recipients * CREDITS_PER_RECIPIENT).quantize(Decimal(1), ROUND_HALF_UP))


def price_minor(credits: int) -> int:
    """What ``credits`` cost in euro cents: all of them at the unit price of the tier the
    quantity falls in, rounded once, half-up."""
    for up_to, unit_price in CREDIT_TIERS:
        if up_to is None or credits <= up_to:
            return int((credits * unit_price * 100).quantize(Decimal(1), ROUND_HALF_UP))
    raise AssertionError("the last credit tier is open-ended")
