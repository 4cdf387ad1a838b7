"""``package``: ceil(q / package_size) x package_price (as Stripe, Lago and Orb).

q = 0 costs 0 packages (Stripe's ``transform_quantity`` with ``round: up``). Lines: one over
all units, shown like a bucket line (``bucket_size`` = the package size, ``buckets`` = the
number of packages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Self

from ..breakdown import TierLine
from ..numbers import ZERO, ceil_div, decimal_to_json
from .base import Example, Priced, check_price, check_size, mul, set_field


@dataclass(frozen=True, slots=True)
class PackagePrice:
    """ceil(q / package_size) x package_price (as Stripe, Lago and Orb package pricing)."""

    model: ClassVar[str] = "package"
    free_quota_applies: ClassVar[bool] = True
    examples: ClassVar[Mapping[str, Example]] = {
        "package": Example(
            "Package: 9.90 per started 1,000",
            {"model": "package", "package_size": "1000", "package_price": "9.90"},
            "2500",
        ),
    }

    package_size: Decimal
    package_price: Decimal

    def __post_init__(self) -> None:
        set_field(self, "package_size", check_size(self.package_size, "$.package_size"))
        set_field(self, "package_price", check_price(self.package_price, "$.package_price"))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(data["package_size"], data["package_price"])

    def to_json(self) -> dict[str, Any]:
        return {
            "package_size": decimal_to_json(self.package_size),
            "package_price": decimal_to_json(self.package_price),
        }

    def priced(self, quantity: Decimal) -> Priced:
        packages = ceil_div(quantity, self.package_size)
        amount = mul(packages, self.package_price)
        line = TierLine(
            1,
            ZERO,
            None,
            quantity,
            None,
            ZERO,
            amount,
            self.package_price,
            self.package_size,
            packages,
        )
        return amount, (line,)
