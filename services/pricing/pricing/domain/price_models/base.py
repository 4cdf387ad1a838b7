"""What every price model is, and the registry that reads, evaluates and writes them.

A price model is a frozen dataclass (:class:`PriceModel` says what it must offer); its
``model`` class attribute is its name in JSON. Its init fields (those not starting with
``_``) are its JSON members: required when they have no default, optional otherwise. The
registry (:class:`PriceModels`) derives each model's JSON shape from those fields, so the
reader and the generated request schema (:mod:`pricing.service_layer.price_model_schemas`)
cannot disagree, and it is the one place that dispatches on the model's name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal, Inexact
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple, Protocol, Self, TypeAlias

from .._json import as_object
from ..breakdown import Evaluation, TierLine
from ..currencies import QUANTA, check_currency
from ..errors import InvalidDefinition, InvalidInput
from ..numbers import EXACT, LIMIT, ROUNDING, ZERO, parse_decimal

set_field = object.__setattr__
"""How a frozen dataclass normalizes its own fields in ``__post_init__``."""
mul = EXACT.multiply
add = EXACT.add
sub = EXACT.subtract

Priced: TypeAlias = tuple[Decimal, tuple[TierLine, ...]]
"""What a model makes of a billable quantity: the exact amount and its lines."""


class Example(NamedTuple):
    """A named example of a model: shown in the OpenAPI document, priced by the service."""

    summary: str
    price: dict[str, Any]
    quantity: str


class PriceModel(Protocol):
    """What a price model class offers (every model is a frozen dataclass).

    Constructing one validates it (paths relative to the model, ``$.tiers[1].up_to``), so an
    invalid model cannot exist.
    """

    model: ClassVar[str]
    """Its name in JSON: the value of ``model``."""
    free_quota_applies: ClassVar[bool]
    """Whether an included quantity is taken off before pricing (not for ``bucket``)."""
    examples: ClassVar[Mapping[str, Example]]
    """At least one example; the OpenAPI document shows each under its key."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """The model of a JSON object whose members the registry has checked (no unknown,
        none missing); the values are still raw and validated by the constructor."""
        ...

    def to_json(self) -> dict[str, Any]:
        """Its JSON members other than ``model``, in the order they are written out."""
        ...

    def priced(self, quantity: Decimal) -> Priced:
        """The exact amount and the lines of a billable quantity (>= 0, already checked)."""
        ...


def wire_fields(cls: type[Any]) -> tuple[dataclasses.Field[Any], ...]:
    """The fields of a model's or tier's dataclass that are its JSON members, in order."""
    return tuple(
        member
        for member in dataclasses.fields(cls)
        if member.init and not member.name.startswith("_")
    )


def is_required(member: dataclasses.Field[Any]) -> bool:
    return member.default is dataclasses.MISSING and member.default_factory is dataclasses.MISSING


# --- validation of numbers (paths relative to the model) ---------------------------------


def check_number(value: object, path: str) -> Decimal:
    """Any finite bounded number (sign checked by the caller)."""
    return parse_decimal(value, path, minimum=None, error=InvalidDefinition)


def check_price(value: object, path: str) -> Decimal:
    """A price or fee: a number >= 0."""
    return parse_decimal(value, path, minimum=0, error=InvalidDefinition)


def check_size(value: object, path: str) -> Decimal:
    """A package or bucket size: a number > 0."""
    result = check_price(value, path)
    if not result:
        raise InvalidDefinition(path, "must be greater than 0")
    return result


def single_line(quantity: Decimal, unit_price: Decimal) -> Priced:
    """All units on one line, tier 1 from 0 without limit."""
    amount = mul(quantity, unit_price)
    return amount, (TierLine(1, ZERO, None, quantity, unit_price, ZERO, amount),)


# --- the registry -------------------------------------------------------------------------


class PriceModels(Mapping[str, type[PriceModel]]):
    """The price models a service knows: name -> class, in the order given.

    Immutable: a registry is built from its list of classes once (the service's list is in
    :mod:`pricing.domain.price_models`), so a test can build its own without touching the
    service's. Reading, evaluating and writing a model go through it.
    """

    __slots__ = ("_classes", "_expected", "_members", "_types", "examples")

    def __init__(self, *classes: type[PriceModel]) -> None:
        self._classes: dict[str, type[PriceModel]] = {}
        self._members: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        examples: dict[str, Example] = {}
        for cls in classes:
            name = _checked_class(cls)
            if name in self._classes:
                raise ValueError(f"two price models are named {name!r}")
            for key, example in cls.examples.items():
                if key in examples:
                    raise ValueError(f"two examples are named {key!r}")
                examples[key] = example
            members = wire_fields(cls)
            self._classes[name] = cls
            self._members[name] = (
                ("model", *(m.name for m in members if is_required(m))),
                tuple(m.name for m in members if not is_required(m)),
            )
        self._expected = ", ".join(self._classes)
        self._types = frozenset(self._classes.values())
        self.examples: Mapping[str, Example] = MappingProxyType(examples)
        """The examples of every model, by their names (unique across models)."""

    def __getitem__(self, name: str) -> type[PriceModel]:
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def knows(self, model: object) -> bool:
        """Whether ``model`` is an instance of one of these models (not of a subclass)."""
        return type(model) in self._types

    def parse(self, value: object, path: str = "$") -> PriceModel:
        """Read a price model from decoded JSON (decimals as strings, ``Decimal`` or ``int``).

        Raises ``InvalidDefinition(path, message)`` with the JSON path of the fault under
        ``path``, e.g. ``$.price.tiers[2].up_to``, for anything the rules refuse: unknown
        model, mode or field, missing field, wrong type, empty or unsorted tiers, a null bound
        before the last tier, a bounded last tier, negative prices, a discount outside 0..100,
        a size <= 0.
        """
        try:
            return self._read(value)
        except InvalidDefinition as error:
            raise error.rebased(path) from None

    def _read(self, value: object) -> PriceModel:
        # Only the shape of the JSON is checked here (an object, known members); the model's
        # constructor validates every value with its path: one validation, not two.
        if not isinstance(value, Mapping):
            as_object(value, "$", InvalidDefinition)  # raises: not an object
            raise AssertionError("unreachable")
        if "model" not in value:
            raise InvalidDefinition("$.model", f"is required; one of {self._expected}")
        name = value["model"]
        cls = self._classes.get(name) if isinstance(name, str) else None
        if cls is None:
            raise InvalidDefinition(
                "$.model", f"unknown model {name!r}; expected one of {self._expected}"
            )
        required, optional = self._members[name]
        data = as_object(value, "$", InvalidDefinition, required=required, optional=optional)
        return cls.from_json(data)

    def to_json(self, model: PriceModel) -> dict[str, Any]:
        """Canonical JSON of a model (decimals as strings, ``model`` first); :meth:`parse`
        reads it back to an equal model."""
        if not self.knows(model):
            raise TypeError(f"not a price model: {model!r}")
        data: dict[str, Any] = {"model": model.model}
        data.update(model.to_json())
        return data

    def evaluate(
        self,
        model: PriceModel,
        quantity: Decimal,
        currency: str,
        included_quantity: Decimal = ZERO,
    ) -> Evaluation:
        """Price ``quantity`` with ``model`` in ``currency``.

        ``included_quantity`` is a free quota: the model prices ``max(0, quantity -
        included)``, unless the model says free quotas do not apply (``bucket``); then it
        prices the whole quantity. ``exact_amount`` is the exact sum of the lines, ``amount``
        that total rounded once, half-up, to the currency's minor unit. Raises
        ``InvalidInput`` at ``$.quantity`` or ``$.included_quantity`` for a negative,
        non-finite or too large value, and at ``$.currency`` for an unknown code. Quantities
        are expected already read by :func:`parse_decimal` (which also limits their
        decimals), so only the cheap checks run here; a value with more digits than exact
        arithmetic can carry is refused, never rounded.
        """
        quantum = QUANTA.get(currency) if type(currency) is str else None
        if quantum is None:
            check_currency(currency, "$.currency")  # raises with a helpful message
            raise AssertionError("unreachable")
        if type(quantity) is not Decimal or not (quantity.is_finite() and ZERO <= quantity < LIMIT):
            quantity = parse_decimal(quantity, "$.quantity")
        if type(model) not in self._types:
            raise TypeError(f"not a price model: {model!r}")
        billable = quantity
        if included_quantity is not ZERO:
            if type(included_quantity) is not Decimal or not (
                included_quantity.is_finite() and ZERO <= included_quantity < LIMIT
            ):
                included_quantity = parse_decimal(included_quantity, "$.included_quantity")
            if model.free_quota_applies and included_quantity:
                billable = (
                    sub(quantity, included_quantity) if quantity > included_quantity else ZERO
                )
        try:
            exact, lines = model.priced(billable)
        except Inexact:
            # Only reachable with inputs beyond parse_decimal's limits (thousands of digits).
            raise InvalidInput("$.quantity", "has too many digits to be priced exactly") from None
        return Evaluation(
            currency,
            quantity,
            billable,
            exact,
            exact.quantize(quantum, ROUND_HALF_UP, ROUNDING),
            lines,
        )


def _checked_class(cls: type[Any]) -> str:
    """The name of a model class, after checking it has what the registry relies on."""
    name = getattr(cls, "model", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls!r} has no model name")
    if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise TypeError(f"price model {name!r} must be a frozen dataclass")
    for method in ("from_json", "to_json", "priced"):
        if not callable(getattr(cls, method, None)):
            raise TypeError(f"price model {name!r} has no {method}()")
    if not isinstance(getattr(cls, "free_quota_applies", None), bool):
        raise TypeError(f"price model {name!r} must say whether free quotas apply")
    examples = getattr(cls, "examples", None)
    if not isinstance(examples, Mapping) or not examples:
        raise TypeError(f"price model {name!r} needs at least one example")
    for key, example in examples.items():
        if example.price.get("model") != name:
            raise TypeError(f"example {key!r} of price model {name!r} is not of that model")
    return name
