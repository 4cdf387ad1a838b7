"""``discount`` (Rabattstaffel): ``base_unit_price`` less the tier's ``discount_percent``.

``mode`` ``volume`` (the default, always written out): every unit at the discount of the
tier holding q, walked as ``volume``; ``graduated``: each tier's units at that tier's
discount, walked as ``graduated``. 0 and 100 percent are both allowed. Lines: as the mode's
model, with ``unit_price`` the discounted unit price, base x (1 - d/100).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Literal, Self, TypeAlias

from .._json import child, item
from ..errors import InvalidDefinition
from ..numbers import EXACT, HUNDRED, ZERO, decimal_to_json
from .base import Example, Priced, check_price, mul, set_field, sub
from .tiers import (
    TierTable,
    bounds,
    graduated_walk,
    read_tiers,
    tiers_of,
    tiers_to_json,
    volume_walk,
)

DiscountMode: TypeAlias = Literal["volume", "graduated"]

_EXAMPLE_DISCOUNTS: list[dict[str, Any]] = [
    {"up_to": "1000", "discount_percent": "0"},
    {"up_to": "10000", "discount_percent": "10"},
    {"up_to": None, "discount_percent": "25"},
]


@dataclass(frozen=True, slots=True)
class DiscountTier:
    """A tier of ``discount``: ``discount_percent`` (0..100) off the base unit price."""

    up_to: Decimal | None
    discount_percent: Decimal


def _check_mode(mode: object) -> None:
    if mode not in ("volume", "graduated"):
        raise InvalidDefinition(
            "$.mode", f"unknown mode {mode!r}; expected 'volume' or 'graduated'"
        )


@dataclass(frozen=True, slots=True)
class DiscountPrice:
    """Rabattstaffel: ``base_unit_price`` less the tier's ``discount_percent``.

    ``mode="volume"``: every unit at the discount of the tier holding q;
    ``mode="graduated"``: each tier's units at that tier's discount.
    """

    model: ClassVar[str] = "discount"
    free_quota_applies: ClassVar[bool] = True
    examples: ClassVar[Mapping[str, Example]] = {
        f"discount_{mode}": Example(
            summary,
            {
                "model": "discount",
                "base_unit_price": "0.02",
                "mode": mode,
                "tiers": _EXAMPLE_DISCOUNTS,
            },
            "2500",
        )
        for mode, summary in (
            ("volume", "Rabattstaffel (volume): every unit at the discount of the tier holding q"),
            ("graduated", "Rabattstaffel (graduated): each tier's units at its own discount"),
        )
    }

    base_unit_price: Decimal
    tiers: tuple[DiscountTier, ...]
    mode: DiscountMode = "volume"
    _table: TierTable = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        base = check_price(self.base_unit_price, "$.base_unit_price")
        _check_mode(self.mode)
        raw = tiers_of(self.tiers, DiscountTier)
        tops = bounds([tier.up_to for tier in raw])
        tiers = []
        for index, (tier, bound) in enumerate(zip(raw, tops, strict=True)):
            where = child(item("$.tiers", index), "discount_percent")
            percent = check_price(tier.discount_percent, where)
            if percent > HUNDRED:
                raise InvalidDefinition(where, "must be between 0 and 100")
            tiers.append(DiscountTier(bound, percent))
        set_field(self, "base_unit_price", base)
        set_field(self, "tiers", tuple(tiers))
        # base x (100 - d) / 100 is exact: dividing by 100 only moves the decimal point.
        prices = [
            mul(base, sub(HUNDRED, tier.discount_percent)).scaleb(-2, EXACT) for tier in tiers
        ]
        set_field(self, "_table", TierTable(tops, prices, [ZERO] * len(tiers)))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        mode = data.get("mode", "volume")
        _check_mode(mode)  # a bad mode is reported before any fault in the tiers
        return cls(data["base_unit_price"], read_tiers(data, DiscountTier), mode)

    def to_json(self) -> dict[str, Any]:
        return {
            "base_unit_price": decimal_to_json(self.base_unit_price),
            "mode": self.mode,
            "tiers": tiers_to_json(self.tiers),
        }

    def priced(self, quantity: Decimal) -> Priced:
        walk = graduated_walk if self.mode == "graduated" else volume_walk
        return walk(self._table, quantity)
