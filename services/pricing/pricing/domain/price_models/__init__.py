"""Price models: one module per model, and the registry that knows them all.

``base`` says what a model is (:class:`PriceModel`) and holds the registry
(:class:`PriceModels`), which reads, evaluates and writes models; ``tiers`` holds the tier
rules and the tables and walks that tiered models share; every other module is one model
(its dataclass, how it is read, written and evaluated, its example). :data:`MODELS` below is
the service's registry: the request schema, the OpenAPI document and its examples, and
``docs/pricing.md`` (checked by a test) all follow it.

The list is explicit rather than filled by imports that register themselves: its order is
the order of every message and document that names the models (``expected one of flat,
volume, ...``), a model left out is visibly left out, and nothing depends on which modules
happen to be imported first. Adding a model: see "Adding a price model" in docs/pricing.md.
"""

from __future__ import annotations

from .base import Example, Priced, PriceModel, PriceModels, is_required, wire_fields
from .bucket import BucketPrice, BucketTier
from .discount import DiscountMode, DiscountPrice, DiscountTier
from .flat import FlatPrice
from .free import FreePrice
from .graduated import GraduatedPrice
from .package import PackagePrice
from .tiers import Tier
from .volume import VolumePrice

MODELS = PriceModels(
    FlatPrice,
    VolumePrice,
    GraduatedPrice,
    BucketPrice,
    DiscountPrice,
    PackagePrice,
    FreePrice,
)
"""The price models of the service, by name, in the order documents list them."""

parse_price_model = MODELS.parse
evaluate = MODELS.evaluate
price_model_to_json = MODELS.to_json

__all__ = [
    "MODELS",
    "BucketPrice",
    "BucketTier",
    "DiscountMode",
    "DiscountPrice",
    "DiscountTier",
    "Example",
    "FlatPrice",
    "FreePrice",
    "GraduatedPrice",
    "PackagePrice",
    "PriceModel",
    "PriceModels",
    "Priced",
    "Tier",
    "VolumePrice",
    "evaluate",
    "is_required",
    "parse_price_model",
    "price_model_to_json",
    "wire_fields",
]
