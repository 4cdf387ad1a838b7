"""``flat`` (Einfach): every unit at ``unit_price``.

Lines: one over all units, tier 1 from 0 without limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Self

from ..numbers import decimal_to_json
from .base import Example, Priced, check_price, set_field, single_line


@dataclass(frozen=True, slots=True)
class FlatPrice:
    """Einfach: every unit at ``unit_price``."""

    model: ClassVar[str] = "flat"
    free_quota_applies: ClassVar[bool] = True
    examples: ClassVar[Mapping[str, Example]] = {
        "flat": Example(
            "Einfach: 0.0125 per recipient", {"model": "flat", "unit_price": "0.0125"}, "12000"
        ),
    }

    unit_price: Decimal

    def __post_init__(self) -> None:
        set_field(self, "unit_price", check_price(self.unit_price, "$.unit_price"))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(data["unit_price"])

    def to_json(self) -> dict[str, Any]:
        return {"unit_price": decimal_to_json(self.unit_price)}

    def priced(self, quantity: Decimal) -> Priced:
        return single_line(quantity, self.unit_price)
