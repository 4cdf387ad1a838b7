"""Results of pricing a quantity: the exact total, the rounded amount and one line per tier.

A line is what one tier contributes: ``from_`` is the exclusive lower bound of the tier,
``to`` its inclusive upper bound (``None`` for no limit), ``quantity`` the units in it. Models
without tiers show one line, tier 1 from 0 without limit. Bucket-like lines (``bucket``'s
bucket tiers, ``package``) have ``unit_price=None`` and show ``bucket_price``,
``bucket_size`` and the number of ``buckets``. Which lines a model gives is said in its own
module (:mod:`pricing.domain.price_models`).

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


# Both functions run for every priced item of a batch quote (10,000 per call), so they
# unpack the tuples instead of reading attributes (a NamedTuple attribute is a descriptor
# call) and inline the optional fields: together about a third faster.


def tier_line_to_json(line: TierLine) -> dict[str, Any]:
    """JSON object of a line; decimals as strings, bucket fields only on bucket lines."""
    text = decimal_to_json
    tier, from_, to, quantity, unit_price, flat_fee, amount, bucket_price, size, buckets = line
    data: dict[str, Any] = {
        "tier": tier,
        "from": text(from_),
        "to": None if to is None else text(to),
        "quantity": text(quantity),
        "unit_price": None if unit_price is None else text(unit_price),
        "flat_fee": text(flat_fee),
        "amount": text(amount),
    }
    if buckets is not None:
        data["bucket_price"] = None if bucket_price is None else text(bucket_price)
        data["bucket_size"] = None if size is None else text(size)
        data["buckets"] = text(buckets)
    return data


def evaluation_to_json(evaluation: Evaluation) -> dict[str, Any]:
    """The body of ``POST /v1/evaluate``: decimals as strings, lines in tier order."""
    text = decimal_to_json
    currency, quantity, billable, exact, amount, lines = evaluation
    return {
        "currency": currency,
        "quantity": text(quantity),
        "billable_quantity": text(billable),
        "exact_amount": text(exact),
        "amount": text(amount),
        "lines": [tier_line_to_json(line) for line in lines],
    }
