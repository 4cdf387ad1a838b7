"""``free`` (Kostenlos): costs 0; the quantity is still recorded and reported.

Lines: one over all units at unit price 0, tier 1 from 0 without limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Self

from ..numbers import ZERO
from .base import Example, Priced, single_line


@dataclass(frozen=True, slots=True)
class FreePrice:
    """Kostenlos: costs 0; the quantity is still recorded and reported."""

    model: ClassVar[str] = "free"
    free_quota_applies: ClassVar[bool] = True
    examples: ClassVar[Mapping[str, Example]] = {
        "free": Example("Kostenlos: 0, quantity still reported", {"model": "free"}, "500"),
    }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls()

    def to_json(self) -> dict[str, Any]:
        return {}

    def priced(self, quantity: Decimal) -> Priced:
        return single_line(quantity, ZERO)
