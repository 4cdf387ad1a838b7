"""The pricing use cases: evaluate, price lists and versions, quotes, batch quotes.

Every use case takes a decoded JSON document (numbers already exact, see
:mod:`pricing.api.bodies`), reads it with its request model (:mod:`.commands`) and returns a
JSON-ready dict. The service layer knows no HTTP: it raises the domain's
:class:`PricingError` (422), :class:`.errors.NotFound` and ``VersionNotFound`` (404) and
:class:`.errors.Conflict` (409). It reaches storage only through :mod:`.ports`.
"""

from pricing.service_layer.batch import BatchUseCases
from pricing.service_layer.price_lists import PriceListUseCases
from pricing.service_layer.quotes import QuoteUseCases


class PricingService(PriceListUseCases, QuoteUseCases, BatchUseCases):
    """Every use case on stored price lists; one instance per request (its session)."""


__all__ = ["PricingService"]
