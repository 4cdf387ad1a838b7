"""Errors of the pricing rules.

Every error names the JSON path of the fault (``$.price.tiers[2].up_to``) and says what is
wrong, so the HTTP layer can answer 422 with a problem body that points at the parameter.
"""

from __future__ import annotations

from typing import Self


class PricingError(ValueError):
    """A value or definition the pricing rules reject, with the JSON path of the fault."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message

    def rebased(self, path: str) -> Self:
        """The same error with its root ``$`` replaced by ``path``.

        Objects validate themselves with paths relative to their own root; whoever parsed
        them from a bigger document knows where they sit and re-roots the path.
        """
        if not self.path.startswith("$"):
            return self
        return type(self)(path + self.path[1:], self.message)


class InvalidDefinition(PricingError):
    """A price model, plan variant, component or price list that breaks the rules."""


class InvalidInput(PricingError):
    """A request value that breaks the rules: quantity, currency, period, unknown id."""


class VersionNotFound(PricingError):
    """No version of a price list is in effect at the asked time."""
