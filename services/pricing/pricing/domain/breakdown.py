"""Results of pricing a quantity: the exact total, the rounded amount and one line per tier.

What a line looks like for each model (``from_`` is the exclusive lower bound of the tier,
``to`` its inclusive upper bound, ``None`` for no limit):

* ``graduated`` (and ``discount`` in graduated mode): one line per tier touched, the first
  tier always (its flat fee applies even at q = 0); ``quantity`` = units in that tier.
* ``volume`` (and ``discount`` in volume mode): one line, the tier holding q, all units.
* ``discount``: ``unit_price`` is the already discounted unit price, base x (1 - d/100).
* ``bucket``: one line per tier touched, none at q = 0 (that costs nothing). A bucket tier has
  ``unit_price=None`` and shows ``bucket_price``, ``bucket_size`` and the number of
  ``buckets``; ``amount = buckets x bucket_price``. A last tier with ``unit_price`` is an
  ordinary per-unit line.
* ``package``: one line over all units, shown like a bucket (package size and count).
* ``flat`` and ``free``: one line over all units, tier 1 from 0 without limit; ``free`` has
  unit price 0, so the quantity is still reported.

``TierLine`` and ``Evaluation`` are ``NamedTuple``s rather than frozen dataclasses: they are
built on every evaluation, and a frozen dataclass's ``__init__`` (one ``object.__setattr__``
per field) measured about four times slower, a third of the time of a graduated evaluation.
They are just as immutable, which matters: the lines of fully used tiers are computed once
per price model and shared by all evaluations.

Invariant of every line: ``amount = quantity x unit_price + flat_fee`` when ``unit_price`` is
set, else ``amount = buckets x bucket_price + flat_fee``. Lines are exact and add up to
``exact_amount``; only ``amount`` (the total) is rounded, once.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NamedTuple

from .numbers import decimal_to_json


class TierLine(NamedTuple):
    """What one tier contributes to a price (see the module docstring)."""

    tier: int
    """1-based index of the tier in the price model (1 for models without tiers)."""
    from_: Decimal
    to: Decimal | None
    quantity: Decimal
    unit_price: Decimal | None
    flat_fee: Decimal
    amount: Decimal
    bucket_price: Decimal | None = None
    bucket_size: Decimal | None = None
    buckets: Decimal | None = None


class Evaluation(NamedTuple):
    """A price model applied to a quantity.

    ``billable_quantity`` is what the model priced: the quantity less the free quota
    (never below 0), or the whole quantity for ``bucket``, which ignores free quotas.
    """

    currency: str
    quantity: Decimal
    billable_quantity: Decimal
    exact_amount: Decimal
    amount: Decimal
    lines: tuple[TierLine, ...]


def _opt(number: Decimal | None) -> str | None:
    return None if number is None else decimal_to_json(number)


def tier_line_to_json(line: TierLine) -> dict[str, Any]:
    """JSON object of a line; decimals as strings, bucket fields only on bucket lines."""
    data: dict[str, Any] = {
        "tier": line.tier,
        "from": decimal_to_json(line.from_),
        "to": _opt(line.to),
        "quantity": decimal_to_json(line.quantity),
        "unit_price": _opt(line.unit_price),
        "flat_fee": decimal_to_json(line.flat_fee),
        "amount": decimal_to_json(line.amount),
    }
    if line.buckets is not None:
        data["bucket_price"] = _opt(line.bucket_price)
        data["bucket_size"] = _opt(line.bucket_size)
        data["buckets"] = decimal_to_json(line.buckets)
    return data


def evaluation_to_json(evaluation: Evaluation) -> dict[str, Any]:
    """The body of ``POST /v1/evaluate``: decimals as strings, lines in tier order."""
    return {
        "currency": evaluation.currency,
        "quantity": decimal_to_json(evaluation.quantity),
        "billable_quantity": decimal_to_json(evaluation.billable_quantity),
        "exact_amount": decimal_to_json(evaluation.exact_amount),
        "amount": decimal_to_json(evaluation.amount),
        "lines": [tier_line_to_json(line) for line in evaluation.lines],
    }
