"""``volume`` (Preisstaffel, pro Einheit): all units at the price of the tier holding q,
plus that tier's flat fee.

At q = 0 the first tier applies, its fee too. Lines: one, the tier holding q, all units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from .base import Example, Priced
from .tiers import EXAMPLE_TIERS, PerUnitTiers, volume_walk


@dataclass(frozen=True, slots=True)
class VolumePrice(PerUnitTiers):
    """Preisstaffel (pro Einheit): all units at the price of the tier holding q, plus its fee."""

    model: ClassVar[str] = "volume"
    examples: ClassVar[Mapping[str, Example]] = {
        "volume": Example(
            "Preisstaffel: all 2,500 units at the second tier's price, plus its fee",
            {"model": "volume", "tiers": EXAMPLE_TIERS},
            "2500",
        ),
    }

    def priced(self, quantity: Decimal) -> Priced:
        return volume_walk(self._table, quantity)
