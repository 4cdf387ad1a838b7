"""Errors of the pricing use cases, beside the domain's :class:`PricingError` (422).

The service layer knows no HTTP: ``api/problems.py`` turns these into problem details.
"""

from __future__ import annotations

from pricing.domain import PricingError, VersionNotFound


class NotFound(PricingError):
    """A price list or version that does not exist (404), with the path of the name."""


class Conflict(Exception):
    """A write that repeats an existing id or version number (409): someone else won."""


def status_of(error: PricingError) -> int:
    """The HTTP status of a pricing error: 404 for what does not exist, else 422."""
    return 404 if isinstance(error, (NotFound, VersionNotFound)) else 422
