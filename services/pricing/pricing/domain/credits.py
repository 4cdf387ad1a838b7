"""Credit prices for the ledger: credits per mailing, and the money price of credits.

A credit price list is an ordinary price model: recipients -> credits (``flat`` 1.05 credits
per recipient) and credits -> money (``volume`` tiers, "Preisstaffelung").

Credits are whole numbers, so a fractional credit amount is rounded UP (ceil), not half-up:
a mailing to 1 recipient at 1.05 credits costs 2 credits, never 1. Rounding half-up would
let many small mailings under-charge systematically (each 1.4 credits billed as 1); the
ledger must never debit less than the price list says.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from .breakdown import Evaluation
from .currencies import CREDITS
from .errors import InvalidInput
from .numbers import ceil_to_int
from .price_models import PriceModel, evaluate


def _count(value: object, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(path, "must be a whole number >= 0")
    return Decimal(value)


def credits_for_recipients(model: PriceModel, recipients: int) -> int:
    """Credits a mailing to ``recipients`` costs: the model's exact amount, rounded up.

    Flat 1.05 credits per recipient: 5,000 recipients -> 5,250 credits; 1 -> 2.
    Raises ``InvalidInput`` at ``$.recipients``.
    """
    try:
        evaluation = evaluate(model, _count(recipients, "$.recipients"), CREDITS)
    except InvalidInput as error:
        raise InvalidInput("$.recipients", error.message) from None
    return ceil_to_int(evaluation.exact_amount)


def credits_for_mailings(model: PriceModel, recipients: Iterable[int]) -> list[int]:
    """:func:`credits_for_recipients` for many mailings priced by the same model, in order.

    An invalid count raises ``InvalidInput`` at ``$[index]``.
    """
    result = []
    for index, count in enumerate(recipients):
        try:
            result.append(credits_for_recipients(model, count))
        except InvalidInput as error:
            raise InvalidInput(f"$[{index}]", error.message) from None
    return result


def price_of_credits(model: PriceModel, credits: int, currency: str) -> Evaluation:
    """What ``credits`` credits cost in ``currency`` under the credit price list's ``model``.

    ``amount`` is the money to charge (rounded once, half-up); the lines show the tiers.
    """
    return evaluate(model, _count(credits, "$.credits"), currency)
