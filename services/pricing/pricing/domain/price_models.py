"""Price models: definitions, validation, JSON, and evaluation of a quantity.

A price model is a frozen dataclass; ``model`` (a class attribute) is its JSON discriminator.
Constructing one validates it (paths relative to the model, ``$.tiers[1].up_to``), so an
invalid model cannot exist; :func:`parse_price_model` reads JSON and re-roots those paths.

Tier rules (spec "Tiers"): ``up_to`` is an inclusive upper bound, strictly increasing, the
first above 0; the last tier, and only it, has ``up_to=None``. Units in tier i are
``min(q, up_to_i) - up_to_(i-1)``, never below 0, so q = 10.5 with tiers up to 10 and 20 lies
in the second tier.

Choices where the spec is silent (Stripe Billing where it has an answer):

* ``flat_fee`` may be left out and means 0; ``to_json`` then leaves it out too.
* ``bucket``: only the last tier may bill per unit (``unit_price``); it may instead be a bucket
  tier, which then needs ``bucket_size`` because it has no width. A ``bucket_size`` larger
  than the tier is allowed (one bucket then covers the tier).
* ``discount``: ``mode`` defaults to ``"volume"`` and is always written out by ``to_json``;
  0 and 100 percent are both allowed.
* ``package``: q = 0 costs 0 packages (Stripe's ``transform_quantity`` with ``round: up``).

Speed: everything that does not depend on the quantity is computed once, when the model is
built (tier lower bounds, discounted unit prices, the lines and running totals of fully used
tiers). Evaluating then costs one bisection, one multiplication and a few additions; the
tier walk is shared: discount/volume uses the volume walk, discount/graduated the graduated
one, and the bucket model the same "full tiers + one partial tier" shape.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, Inexact
from typing import Any, ClassVar, Literal, TypeAlias

from ._json import as_list, as_object, child, item
from .breakdown import Evaluation, TierLine
from .currencies import QUANTA, check_currency
from .errors import InvalidDefinition, InvalidInput
from .numbers import (
    EXACT,
    HUNDRED,
    LIMIT,
    ROUNDING,
    ZERO,
    ceil_div,
    decimal_to_json,
    parse_decimal,
)

DiscountMode: TypeAlias = Literal["volume", "graduated"]

_set = object.__setattr__  # how a frozen dataclass normalizes its own fields
_mul = EXACT.multiply
_add = EXACT.add
_sub = EXACT.subtract


# --- validation helpers (paths relative to the model) ------------------------------------


def _number(value: object, path: str) -> Decimal:
    """Any finite bounded number (sign checked by the caller)."""
    return parse_decimal(value, path, minimum=None, error=InvalidDefinition)


def _price(value: object, path: str) -> Decimal:
    """A price or fee: a number >= 0."""
    return parse_decimal(value, path, minimum=0, error=InvalidDefinition)


def _size(value: object, path: str) -> Decimal:
    """A package or bucket size: a number > 0."""
    size = _price(value, path)
    if not size:
        raise InvalidDefinition(path, "must be greater than 0")
    return size


def _bounds(bounds: Sequence[object], path: str = "$.tiers") -> tuple[Decimal | None, ...]:
    """Validate the ``up_to`` of each tier and return them as decimals (``None`` = no limit)."""
    if not bounds:
        raise InvalidDefinition(path, "must have at least one tier")
    result: list[Decimal | None] = []
    last = len(bounds) - 1
    previous = ZERO
    for index, raw in enumerate(bounds):
        # Errors name "$" and are re-rooted at the tier's up_to below: formatting that path
        # for every valid tier cost a tenth of parsing a model.
        try:
            if raw is None:
                if index != last:
                    raise InvalidDefinition("$", "only the last tier may have no limit (null)")
                result.append(None)
                continue
            bound = _number(raw, "$")
            if index == last:
                # A bounded last tier would leave usage above it unbilled.
                raise InvalidDefinition("$", "the last tier must have up_to null (no limit)")
            if bound <= previous:
                if index == 0:
                    raise InvalidDefinition("$", "must be greater than 0")
                raise InvalidDefinition(
                    "$",
                    f"must be greater than the previous tier's up_to {decimal_to_json(previous)}",
                )
        except InvalidDefinition as error:
            raise error.rebased(child(item(path, index), "up_to")) from None
        result.append(bound)
        previous = bound
    return tuple(result)


def _tiers_of(tiers: object, kind: type[Any], path: str = "$.tiers") -> tuple[Any, ...]:
    if isinstance(tiers, (str, bytes)) or not isinstance(tiers, Iterable):
        raise InvalidDefinition(path, "must be a sequence of tiers")
    result = tuple(tiers)
    for index, tier in enumerate(result):
        if not isinstance(tier, kind):
            raise InvalidDefinition(item(path, index), f"must be a {kind.__name__}")
    return result


# --- tier tables: what a model precomputes for fast evaluation ---------------------------


class _TierTable:
    """Per-unit tiers (volume, graduated, discount), ready for evaluation.

    ``uppers`` holds the finite bounds for bisection; ``full_lines[i]``/``before[k]`` are the
    line of tier i when fully used and the sum of the full tiers below tier k (graduated).
    """

    __slots__ = ("before", "fees", "full_lines", "lowers", "prices", "tops", "uppers")

    def __init__(
        self, tops: Sequence[Decimal | None], prices: Sequence[Decimal], fees: Sequence[Decimal]
    ) -> None:
        self.tops = tuple(tops)
        self.uppers = tuple(top for top in tops if top is not None)
        self.lowers = (ZERO, *self.uppers)
        self.prices = tuple(prices)
        self.fees = tuple(fees)
        lines: list[TierLine] = []
        before = [ZERO]
        for index, top in enumerate(self.uppers):
            line = _graduated_line(self, index, _sub(top, self.lowers[index]))
            lines.append(line)
            before.append(_add(before[-1], line.amount))
        self.full_lines = tuple(lines)
        self.before = tuple(before)


def _graduated_line(table: _TierTable, index: int, units: Decimal) -> TierLine:
    price = table.prices[index]
    fee = table.fees[index]
    return TierLine(
        index + 1,
        table.lowers[index],
        table.tops[index],
        units,
        price,
        fee,
        _add(_mul(units, price), fee),
    )


def _graduated(table: _TierTable, quantity: Decimal) -> tuple[Decimal, tuple[TierLine, ...]]:
    # bisect_left finds the first tier with up_to >= q: bounds are inclusive. Tiers below
    # it are full (precomputed); q = 0 lands in tier 1 with 0 units, so its fee applies.
    index = bisect_left(table.uppers, quantity)
    line = _graduated_line(table, index, _sub(quantity, table.lowers[index]))
    return _add(table.before[index], line.amount), (*table.full_lines[:index], line)


def _volume(table: _TierTable, quantity: Decimal) -> tuple[Decimal, tuple[TierLine, ...]]:
    # The one tier holding q prices every unit; at q = 0 that is the first tier (its fee).
    index = bisect_left(table.uppers, quantity)
    price = table.prices[index]
    fee = table.fees[index]
    amount = _add(_mul(quantity, price), fee)
    line = TierLine(index + 1, table.lowers[index], table.tops[index], quantity, price, fee, amount)
    return amount, (line,)


class _BucketTable:
    """Bucket tiers: like :class:`_TierTable`, but a tier prices ceil(units / size) buckets."""

    __slots__ = (
        "before",
        "bucket_prices",
        "full_lines",
        "lowers",
        "sizes",
        "tops",
        "unit_prices",
        "uppers",
    )

    def __init__(self, tiers: Sequence[BucketTier]) -> None:
        self.tops = tuple(tier.up_to for tier in tiers)
        self.uppers = tuple(top for top in self.tops if top is not None)
        self.lowers = (ZERO, *self.uppers)
        self.bucket_prices = tuple(tier.bucket_price for tier in tiers)
        self.unit_prices = tuple(tier.unit_price for tier in tiers)
        # A tier without bucket_size is one bucket as wide as the tier.
        self.sizes = tuple(
            tier.bucket_size if tier.bucket_size is not None else _width(tier.up_to, low)
            for tier, low in zip(tiers, self.lowers, strict=True)
        )
        lines: list[TierLine] = []
        before = [ZERO]
        for index, top in enumerate(self.uppers):
            line = _bucket_line(self, index, _sub(top, self.lowers[index]))
            lines.append(line)
            before.append(_add(before[-1], line.amount))
        self.full_lines = tuple(lines)
        self.before = tuple(before)


def _width(top: Decimal | None, low: Decimal) -> Decimal | None:
    return None if top is None else _sub(top, low)


def _bucket_line(table: _BucketTable, index: int, units: Decimal) -> TierLine:
    unit_price = table.unit_prices[index]
    if unit_price is not None:
        amount = _mul(units, unit_price)
        return TierLine(
            index + 1, table.lowers[index], table.tops[index], units, unit_price, ZERO, amount
        )
    bucket_price = table.bucket_prices[index]
    size = table.sizes[index]
    assert bucket_price is not None and size is not None  # guaranteed by BucketPrice
    buckets = ceil_div(units, size)
    return TierLine(
        index + 1,
        table.lowers[index],
        table.tops[index],
        units,
        None,
        ZERO,
        _mul(buckets, bucket_price),
        bucket_price,
        size,
        buckets,
    )


# --- the models -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tier:
    """A tier of ``volume``/``graduated``: inclusive ``up_to`` (``None``: no limit)."""

    up_to: Decimal | None
    unit_price: Decimal
    flat_fee: Decimal | None = None


@dataclass(frozen=True, slots=True)
class BucketTier:
    """A tier of ``bucket``: ``bucket_price`` per ``bucket_size`` units, or (last tier only)
    ``unit_price`` per unit."""

    up_to: Decimal | None
    bucket_price: Decimal | None = None
    bucket_size: Decimal | None = None
    unit_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class DiscountTier:
    """A tier of ``discount``: ``discount_percent`` (0..100) off the base unit price."""

    up_to: Decimal | None
    discount_percent: Decimal


@dataclass(frozen=True, slots=True)
class FlatPrice:
    """Einfach: every unit at ``unit_price``."""

    model: ClassVar[str] = "flat"
    free_quota_applies: ClassVar[bool] = True
    unit_price: Decimal

    def __post_init__(self) -> None:
        _set(self, "unit_price", _price(self.unit_price, "$.unit_price"))


def _checked_tiers(tiers: object) -> tuple[Tier, ...]:
    raw = _tiers_of(tiers, Tier)
    bounds = _bounds([tier.up_to for tier in raw])
    result = []
    for index, (tier, bound) in enumerate(zip(raw, bounds, strict=True)):
        try:
            fee = None if tier.flat_fee is None else _price(tier.flat_fee, "$.flat_fee")
            result.append(Tier(bound, _price(tier.unit_price, "$.unit_price"), fee))
        except InvalidDefinition as error:
            raise error.rebased(item("$.tiers", index)) from None
    return tuple(result)


def _table_of(tiers: Sequence[Tier]) -> _TierTable:
    return _TierTable(
        [tier.up_to for tier in tiers],
        [tier.unit_price for tier in tiers],
        [tier.flat_fee if tier.flat_fee is not None else ZERO for tier in tiers],
    )


@dataclass(frozen=True, slots=True)
class VolumePrice:
    """Preisstaffel (pro Einheit): all units at the price of the tier holding q, plus its fee."""

    model: ClassVar[str] = "volume"
    free_quota_applies: ClassVar[bool] = True
    tiers: tuple[Tier, ...]
    _table: _TierTable = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _set(self, "tiers", _checked_tiers(self.tiers))
        _set(self, "_table", _table_of(self.tiers))


@dataclass(frozen=True, slots=True)
class GraduatedPrice:
    """Intervallstaffel (pro Stück): each tier's units at its price, plus the fee of every
    tier reached (the first tier is reached even at q = 0, as in Stripe)."""

    model: ClassVar[str] = "graduated"
    free_quota_applies: ClassVar[bool] = True
    tiers: tuple[Tier, ...]
    _table: _TierTable = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _set(self, "tiers", _checked_tiers(self.tiers))
        _set(self, "_table", _table_of(self.tiers))


@dataclass(frozen=True, slots=True)
class BucketPrice:
    """Intervallskala (gesamt): per tier, ceil(units in tier / bucket_size) x bucket_price.

    Free quotas do not apply to this model (the source page says so explicitly).
    """

    model: ClassVar[str] = "bucket"
    free_quota_applies: ClassVar[bool] = False
    tiers: tuple[BucketTier, ...]
    _table: _BucketTable = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        raw = _tiers_of(self.tiers, BucketTier)
        bounds = _bounds([tier.up_to for tier in raw])
        tiers = []
        last = len(raw) - 1
        for index, (tier, bound) in enumerate(zip(raw, bounds, strict=True)):
            tiers.append(_checked_bucket_tier(tier, bound, item("$.tiers", index), index == last))
        _set(self, "tiers", tuple(tiers))
        _set(self, "_table", _BucketTable(self.tiers))


def _checked_bucket_tier(
    tier: BucketTier, bound: Decimal | None, where: str, last: bool
) -> BucketTier:
    if tier.unit_price is not None:
        if not last:
            raise InvalidDefinition(
                child(where, "unit_price"), "only the last tier may bill units one by one"
            )
        if tier.bucket_price is not None or tier.bucket_size is not None:
            raise InvalidDefinition(where, "give either unit_price or bucket_price, not both")
        return BucketTier(bound, unit_price=_price(tier.unit_price, child(where, "unit_price")))
    if tier.bucket_price is None:
        needed = "bucket_price (or unit_price in the last tier)" if last else "bucket_price"
        raise InvalidDefinition(child(where, "bucket_price"), f"is required: {needed}")
    if tier.bucket_size is None and last:
        raise InvalidDefinition(
            child(where, "bucket_size"), "is required in the last tier (it has no upper bound)"
        )
    size = (
        None if tier.bucket_size is None else _size(tier.bucket_size, child(where, "bucket_size"))
    )
    return BucketTier(bound, _price(tier.bucket_price, child(where, "bucket_price")), size)


@dataclass(frozen=True, slots=True)
class DiscountPrice:
    """Rabattstaffel: ``base_unit_price`` less the tier's ``discount_percent``.

    ``mode="volume"``: every unit at the discount of the tier holding q;
    ``mode="graduated"``: each tier's units at that tier's discount.
    """

    model: ClassVar[str] = "discount"
    free_quota_applies: ClassVar[bool] = True
    base_unit_price: Decimal
    tiers: tuple[DiscountTier, ...]
    mode: DiscountMode = "volume"
    _table: _TierTable = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        base = _price(self.base_unit_price, "$.base_unit_price")
        if self.mode not in ("volume", "graduated"):
            raise InvalidDefinition(
                "$.mode", f"unknown mode {self.mode!r}; expected 'volume' or 'graduated'"
            )
        raw = _tiers_of(self.tiers, DiscountTier)
        bounds = _bounds([tier.up_to for tier in raw])
        tiers = []
        for index, (tier, bound) in enumerate(zip(raw, bounds, strict=True)):
            where = child(item("$.tiers", index), "discount_percent")
            percent = _price(tier.discount_percent, where)
            if percent > HUNDRED:
                raise InvalidDefinition(where, "must be between 0 and 100")
            tiers.append(DiscountTier(bound, percent))
        _set(self, "base_unit_price", base)
        _set(self, "tiers", tuple(tiers))
        # base x (100 - d) / 100 is exact: dividing by 100 only moves the decimal point.
        prices = [
            _mul(base, _sub(HUNDRED, tier.discount_percent)).scaleb(-2, EXACT) for tier in tiers
        ]
        _set(self, "_table", _TierTable(bounds, prices, [ZERO] * len(tiers)))


@dataclass(frozen=True, slots=True)
class PackagePrice:
    """ceil(q / package_size) x package_price (as Stripe, Lago and Orb package pricing)."""

    model: ClassVar[str] = "package"
    free_quota_applies: ClassVar[bool] = True
    package_size: Decimal
    package_price: Decimal

    def __post_init__(self) -> None:
        _set(self, "package_size", _size(self.package_size, "$.package_size"))
        _set(self, "package_price", _price(self.package_price, "$.package_price"))


@dataclass(frozen=True, slots=True)
class FreePrice:
    """Kostenlos: costs 0; the quantity is still recorded and reported."""

    model: ClassVar[str] = "free"
    free_quota_applies: ClassVar[bool] = True


PriceModel: TypeAlias = (
    FlatPrice
    | VolumePrice
    | GraduatedPrice
    | BucketPrice
    | DiscountPrice
    | PackagePrice
    | FreePrice
)
MODELS: dict[str, type[PriceModel]] = {
    cls.model: cls
    for cls in (
        FlatPrice,
        VolumePrice,
        GraduatedPrice,
        BucketPrice,
        DiscountPrice,
        PackagePrice,
        FreePrice,
    )
}


# --- one small function per model: the exact amount and lines of a billable quantity -----

_Priced: TypeAlias = tuple[Decimal, tuple[TierLine, ...]]


def _single_line(quantity: Decimal, unit_price: Decimal) -> _Priced:
    amount = _mul(quantity, unit_price)
    return amount, (TierLine(1, ZERO, None, quantity, unit_price, ZERO, amount),)


def _price_flat(model: FlatPrice, quantity: Decimal) -> _Priced:
    return _single_line(quantity, model.unit_price)


def _price_volume(model: VolumePrice, quantity: Decimal) -> _Priced:
    return _volume(model._table, quantity)


def _price_graduated(model: GraduatedPrice, quantity: Decimal) -> _Priced:
    return _graduated(model._table, quantity)


def _price_discount(model: DiscountPrice, quantity: Decimal) -> _Priced:
    walk = _graduated if model.mode == "graduated" else _volume
    return walk(model._table, quantity)


def _price_bucket(model: BucketPrice, quantity: Decimal) -> _Priced:
    if not quantity:
        return ZERO, ()  # the first interval is "more than 0": nothing to bill
    table = model._table
    index = bisect_left(table.uppers, quantity)
    line = _bucket_line(table, index, _sub(quantity, table.lowers[index]))
    return _add(table.before[index], line.amount), (*table.full_lines[:index], line)


def _price_package(model: PackagePrice, quantity: Decimal) -> _Priced:
    packages = ceil_div(quantity, model.package_size)
    amount = _mul(packages, model.package_price)
    line = TierLine(
        1,
        ZERO,
        None,
        quantity,
        None,
        ZERO,
        amount,
        model.package_price,
        model.package_size,
        packages,
    )
    return amount, (line,)


def _price_free(model: FreePrice, quantity: Decimal) -> _Priced:
    return _single_line(quantity, ZERO)


_PRICERS: dict[type[Any], Callable[[Any, Decimal], _Priced]] = {
    FlatPrice: _price_flat,
    VolumePrice: _price_volume,
    GraduatedPrice: _price_graduated,
    DiscountPrice: _price_discount,
    BucketPrice: _price_bucket,
    PackagePrice: _price_package,
    FreePrice: _price_free,
}


def evaluate(
    model: PriceModel,
    quantity: Decimal,
    currency: str,
    included_quantity: Decimal = ZERO,
) -> Evaluation:
    """Price ``quantity`` with ``model`` in ``currency``.

    ``included_quantity`` is a free quota: the model prices ``max(0, quantity - included)``,
    except ``bucket``, which always prices the whole quantity. ``exact_amount`` is the exact
    sum of the lines, ``amount`` that total rounded once, half-up, to the currency's minor
    unit. Raises ``InvalidInput`` at ``$.quantity`` or ``$.included_quantity`` for a negative,
    non-finite or too large value, and at ``$.currency`` for an unknown code. Quantities are
    expected already read by :func:`parse_decimal` (which also limits their decimals), so only
    the cheap checks run here; a value with more digits than exact arithmetic can carry is
    refused, never rounded.
    """
    quantum = QUANTA.get(currency) if type(currency) is str else None
    if quantum is None:
        check_currency(currency, "$.currency")  # raises with a helpful message
        raise AssertionError("unreachable")
    if type(quantity) is not Decimal or not (quantity.is_finite() and ZERO <= quantity < LIMIT):
        quantity = parse_decimal(quantity, "$.quantity")
    billable = quantity
    if included_quantity is not ZERO:
        if type(included_quantity) is not Decimal or not (
            included_quantity.is_finite() and ZERO <= included_quantity < LIMIT
        ):
            included_quantity = parse_decimal(included_quantity, "$.included_quantity")
        if model.free_quota_applies and included_quantity:
            billable = _sub(quantity, included_quantity) if quantity > included_quantity else ZERO
    try:
        exact, lines = _PRICERS[type(model)](model, billable)
    except KeyError:
        raise TypeError(f"not a price model: {model!r}") from None
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


# --- JSON ---------------------------------------------------------------------------------


# The parsers below only check the shape of the JSON (objects, known fields) and hand the
# raw values to the constructors, which validate every number with the same path
# (``$.tiers[1].unit_price``): one validation, not two (it halves the cost of parsing).


def _parse_tier(value: object, path: str) -> Tier:
    data = as_object(
        value, path, InvalidDefinition, required=("up_to", "unit_price"), optional=("flat_fee",)
    )
    return Tier(data["up_to"], data["unit_price"], data.get("flat_fee"))


def _parse_bucket_tier(value: object, path: str) -> BucketTier:
    data = as_object(
        value,
        path,
        InvalidDefinition,
        required=("up_to",),
        optional=("bucket_price", "bucket_size", "unit_price"),
    )
    return BucketTier(
        data["up_to"], data.get("bucket_price"), data.get("bucket_size"), data.get("unit_price")
    )


def _parse_discount_tier(value: object, path: str) -> DiscountTier:
    data = as_object(value, path, InvalidDefinition, required=("up_to", "discount_percent"))
    return DiscountTier(data["up_to"], data["discount_percent"])


def _parse_tiers(data: Mapping[str, Any], parse: Callable[[object, str], Any]) -> tuple[Any, ...]:
    path = "$.tiers"
    return tuple(
        parse(value, item(path, i))
        for i, value in enumerate(as_list(data["tiers"], path, InvalidDefinition))
    )


_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "flat": (("model", "unit_price"), ()),
    "volume": (("model", "tiers"), ()),
    "graduated": (("model", "tiers"), ()),
    "bucket": (("model", "tiers"), ()),
    "discount": (("model", "base_unit_price", "tiers"), ("mode",)),
    "package": (("model", "package_size", "package_price"), ()),
    "free": (("model",), ()),
}


def _parse_model(value: object) -> PriceModel:
    if not isinstance(value, Mapping):
        as_object(value, "$", InvalidDefinition)  # raises: not an object
        raise AssertionError("unreachable")
    if "model" not in value:
        raise InvalidDefinition("$.model", f"is required; one of {', '.join(MODELS)}")
    name = value["model"]
    if not isinstance(name, str) or name not in MODELS:
        expected = ", ".join(MODELS)
        raise InvalidDefinition("$.model", f"unknown model {name!r}; expected one of {expected}")
    required, optional = _FIELDS[name]
    data = as_object(value, "$", InvalidDefinition, required=required, optional=optional)
    if name == "flat":
        return FlatPrice(data["unit_price"])
    if name == "volume":
        return VolumePrice(_parse_tiers(data, _parse_tier))
    if name == "graduated":
        return GraduatedPrice(_parse_tiers(data, _parse_tier))
    if name == "bucket":
        return BucketPrice(_parse_tiers(data, _parse_bucket_tier))
    if name == "discount":
        mode = data.get("mode", "volume")
        if mode not in ("volume", "graduated"):
            raise InvalidDefinition(
                "$.mode", f"unknown mode {mode!r}; expected 'volume' or 'graduated'"
            )
        return DiscountPrice(
            data["base_unit_price"],
            _parse_tiers(data, _parse_discount_tier),
            mode,
        )
    if name == "package":
        return PackagePrice(data["package_size"], data["package_price"])
    return FreePrice()


def parse_price_model(value: object, path: str = "$") -> PriceModel:
    """Read a price model from decoded JSON (decimals as strings, ``Decimal`` or ``int``).

    Raises ``InvalidDefinition(path, message)`` with the JSON path of the fault under
    ``path``, e.g. ``$.price.tiers[2].up_to``, for anything the rules refuse: unknown model,
    mode or field, missing field, wrong type, empty or unsorted tiers, a null bound before the
    last tier, a bounded last tier, negative prices, a discount outside 0..100, a size <= 0.
    """
    try:
        return _parse_model(value)
    except InvalidDefinition as error:
        raise error.rebased(path) from None


def _tiers_to_json(tiers: Iterable[Tier]) -> list[dict[str, Any]]:
    result = []
    for tier in tiers:
        data: dict[str, Any] = {
            "up_to": _opt_json(tier.up_to),
            "unit_price": decimal_to_json(tier.unit_price),
        }
        if tier.flat_fee is not None:
            data["flat_fee"] = decimal_to_json(tier.flat_fee)
        result.append(data)
    return result


def _opt_json(number: Decimal | None) -> str | None:
    return None if number is None else decimal_to_json(number)


def price_model_to_json(model: PriceModel) -> dict[str, Any]:
    """Canonical JSON of a model (decimals as strings); ``parse_price_model`` reads it back
    to an equal model."""
    data: dict[str, Any] = {"model": model.model}
    if isinstance(model, FlatPrice):
        data["unit_price"] = decimal_to_json(model.unit_price)
    elif isinstance(model, (VolumePrice, GraduatedPrice)):
        data["tiers"] = _tiers_to_json(model.tiers)
    elif isinstance(model, BucketPrice):
        data["tiers"] = [
            {
                key: _opt_json(value)
                for key, value in (
                    ("up_to", tier.up_to),
                    ("bucket_price", tier.bucket_price),
                    ("bucket_size", tier.bucket_size),
                    ("unit_price", tier.unit_price),
                )
                if key == "up_to" or value is not None
            }
            for tier in model.tiers
        ]
    elif isinstance(model, DiscountPrice):
        data["base_unit_price"] = decimal_to_json(model.base_unit_price)
        data["mode"] = model.mode
        data["tiers"] = [
            {
                "up_to": _opt_json(tier.up_to),
                "discount_percent": decimal_to_json(tier.discount_percent),
            }
            for tier in model.tiers
        ]
    elif isinstance(model, PackagePrice):
        data["package_size"] = decimal_to_json(model.package_size)
        data["package_price"] = decimal_to_json(model.package_price)
    return data
