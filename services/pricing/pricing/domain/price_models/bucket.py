"""``bucket`` (Intervallskala, gesamt): per tier, ceil(units in tier / bucket_size) x
bucket_price.

Choices where the spec is silent: only the last tier may bill per unit (``unit_price``); it
may instead be a bucket tier, which then needs ``bucket_size`` because it has no width. A
tier without ``bucket_size`` is one bucket as wide as the tier; a ``bucket_size`` larger than
the tier is allowed (one bucket then covers the tier). Free quotas do not apply (the source
page says so explicitly).

Lines: one per tier touched, none at q = 0 (that costs nothing). A bucket tier's line has
``unit_price=None`` and shows ``bucket_price``, ``bucket_size`` and the number of
``buckets``; a last tier with ``unit_price`` is an ordinary per-unit line.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar, Self

from .._json import child, item
from ..breakdown import TierLine
from ..errors import InvalidDefinition
from ..numbers import ZERO, ceil_div
from .base import Example, Priced, add, check_price, check_size, mul, set_field, sub
from .tiers import bounds, full_tiers, read_tiers, tiers_of, tiers_to_json


@dataclass(frozen=True, slots=True)
class BucketTier:
    """A tier of ``bucket``: ``bucket_price`` per ``bucket_size`` units, or (last tier only)
    ``unit_price`` per unit."""

    up_to: Decimal | None
    bucket_price: Decimal | None = None
    bucket_size: Decimal | None = None
    unit_price: Decimal | None = None


class BucketTable:
    """Bucket tiers, ready for evaluation: like :class:`~.tiers.TierTable`, but a tier
    prices ceil(units / size) buckets."""

    __slots__ = (
        "before",
        "bucket_prices",
        "full_lines",
        "lowers",
        "sizes",
        "tops",
        "unit_prices",
        "uppers",
    )

    def __init__(self, tiers: Sequence[BucketTier]) -> None:
        self.tops = tuple(tier.up_to for tier in tiers)
        self.uppers = tuple(top for top in self.tops if top is not None)
        self.lowers = (ZERO, *self.uppers)
        self.bucket_prices = tuple(tier.bucket_price for tier in tiers)
        self.unit_prices = tuple(tier.unit_price for tier in tiers)
        # A tier without bucket_size is one bucket as wide as the tier.
        self.sizes = tuple(
            tier.bucket_size if tier.bucket_size is not None else _width(tier.up_to, low)
            for tier, low in zip(tiers, self.lowers, strict=True)
        )
        self.full_lines, self.before = full_tiers(
            self.uppers, self.lowers, partial(_bucket_line, self)
        )


def _width(top: Decimal | None, low: Decimal) -> Decimal | None:
    return None if top is None else sub(top, low)


def _bucket_line(table: BucketTable, index: int, units: Decimal) -> TierLine:
    unit_price = table.unit_prices[index]
    if unit_price is not None:
        amount = mul(units, unit_price)
        return TierLine(
            index + 1, table.lowers[index], table.tops[index], units, unit_price, ZERO, amount
        )
    bucket_price = table.bucket_prices[index]
    size = table.sizes[index]
    assert bucket_price is not None and size is not None  # guaranteed by BucketPrice
    buckets = ceil_div(units, size)
    return TierLine(
        index + 1,
        table.lowers[index],
        table.tops[index],
        units,
        None,
        ZERO,
        mul(buckets, bucket_price),
        bucket_price,
        size,
        buckets,
    )


def _checked_bucket_tier(
    tier: BucketTier, bound: Decimal | None, where: str, last: bool
) -> BucketTier:
    if tier.unit_price is not None:
        if not last:
            raise InvalidDefinition(
                child(where, "unit_price"), "only the last tier may bill units one by one"
            )
        if tier.bucket_price is not None or tier.bucket_size is not None:
            raise InvalidDefinition(where, "give either unit_price or bucket_price, not both")
        return BucketTier(
            bound, unit_price=check_price(tier.unit_price, child(where, "unit_price"))
        )
    if tier.bucket_price is None:
        needed = "bucket_price (or unit_price in the last tier)" if last else "bucket_price"
        raise InvalidDefinition(child(where, "bucket_price"), f"is required: {needed}")
    if tier.bucket_size is None and last:
        raise InvalidDefinition(
            child(where, "bucket_size"), "is required in the last tier (it has no upper bound)"
        )
    size = (
        None
        if tier.bucket_size is None
        else check_size(tier.bucket_size, child(where, "bucket_size"))
    )
    return BucketTier(bound, check_price(tier.bucket_price, child(where, "bucket_price")), size)


@dataclass(frozen=True, slots=True)
class BucketPrice:
    """Intervallskala (gesamt): per tier, ceil(units in tier / bucket_size) x bucket_price.

    Free quotas do not apply to this model (the source page says so explicitly).
    """

    model: ClassVar[str] = "bucket"
    free_quota_applies: ClassVar[bool] = False
    examples: ClassVar[Mapping[str, Example]] = {
        "bucket": Example(
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
    }

    tiers: tuple[BucketTier, ...]
    _table: BucketTable = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        raw = tiers_of(self.tiers, BucketTier)
        tops = bounds([tier.up_to for tier in raw])
        tiers = []
        last = len(raw) - 1
        for index, (tier, bound) in enumerate(zip(raw, tops, strict=True)):
            tiers.append(_checked_bucket_tier(tier, bound, item("$.tiers", index), index == last))
        set_field(self, "tiers", tuple(tiers))
        set_field(self, "_table", BucketTable(self.tiers))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(read_tiers(data, BucketTier))

    def to_json(self) -> dict[str, Any]:
        return {"tiers": tiers_to_json(self.tiers)}

    def priced(self, quantity: Decimal) -> Priced:
        if not quantity:
            return ZERO, ()  # the first interval is "more than 0": nothing to bill
        table = self._table
        index = bisect_left(table.uppers, quantity)
        line = _bucket_line(table, index, sub(quantity, table.lowers[index]))
        return add(table.before[index], line.amount), (*table.full_lines[:index], line)
