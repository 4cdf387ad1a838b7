"""``graduated`` (Intervallstaffel, pro Stück): each tier's units at its own price, plus the
flat fee of every tier reached.

The first tier counts as reached even at q = 0, as in Stripe. Lines: one per tier touched,
the first always; ``quantity`` is the units in that tier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from .base import Example, Priced
from .tiers import EXAMPLE_TIERS, PerUnitTiers, graduated_walk


@dataclass(frozen=True, slots=True)
class GraduatedPrice(PerUnitTiers):
    """Intervallstaffel (pro Stück): each tier's units at its price, plus the fee of every
    tier reached (the first tier is reached even at q = 0, as in Stripe)."""

    model: ClassVar[str] = "graduated"
    examples: ClassVar[Mapping[str, Example]] = {
        "graduated": Example(
            "Intervallstaffel: each tier's units at its own price",
            {"model": "graduated", "tiers": EXAMPLE_TIERS},
            "2500",
        ),
    }

    def priced(self, quantity: Decimal) -> Priced:
        return graduated_walk(self._table, quantity)
