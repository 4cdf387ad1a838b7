"""Tiers: their rules, how they are read and written, and the tables models evaluate with.

Tier rules (spec "Tiers"): ``up_to`` is an inclusive upper bound, strictly increasing, the
first above 0; the last tier, and only it, has ``up_to=None``. Units in tier i are
``min(q, up_to_i) - up_to_(i-1)``, never below 0, so q = 10.5 with tiers up to 10 and 20 lies
in the second tier. ``flat_fee`` may be left out and means 0; it is then left out of the
JSON too.

Speed: everything that does not depend on the quantity is computed once, when a model is
built (tier lower bounds, unit prices, the lines and running totals of fully used tiers), in
a :class:`TierTable`. Evaluating then costs one bisection, one multiplication and a few
additions. The two walks here are shared: ``volume`` and ``discount`` in volume mode use
:func:`volume_walk`, ``graduated`` and ``discount`` in graduated mode :func:`graduated_walk`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar, Self, TypeVar

from .._json import as_list, as_object, child, item
from ..breakdown import TierLine
from ..errors import InvalidDefinition
from ..numbers import ZERO, decimal_to_json
from .base import (
    Priced,
    add,
    check_number,
    check_price,
    is_required,
    mul,
    set_field,
    sub,
    wire_fields,
)

_Row = TypeVar("_Row")

EXAMPLE_TIERS: list[dict[str, Any]] = [
    {"up_to": "1000", "unit_price": "0.02"},
    {"up_to": "10000", "unit_price": "0.015", "flat_fee": "5"},
    {"up_to": None, "unit_price": "0.01", "flat_fee": "20"},
]
"""Three per-unit tiers (the second and third with a flat fee): the examples of ``volume``
and ``graduated`` price the same tiers, so they show how the two differ."""


# --- reading and writing tiers ------------------------------------------------------------

_MEMBERS: dict[type[Any], tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _members(cls: type[Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional) JSON members of a tier dataclass: its fields, in their order."""
    members = wire_fields(cls)
    found = (
        tuple(m.name for m in members if is_required(m)),
        tuple(m.name for m in members if not is_required(m)),
    )
    _MEMBERS[cls] = found
    return found


def read_row(cls: type[_Row], value: object, path: str) -> _Row:
    """A tier dataclass from a JSON object: its fields are the members (those with a default
    optional). Only the shape is checked; the model's constructor validates the values."""
    required, optional = _MEMBERS.get(cls) or _members(cls)
    data = as_object(value, path, InvalidDefinition, required=required, optional=optional)
    # Every key is a known member now, and every required one is there.
    return cls(**data)


def read_tiers(data: Mapping[str, Any], cls: type[_Row]) -> tuple[_Row, ...]:
    """The ``tiers`` member of a model's JSON, each tier read as ``cls``."""
    path = "$.tiers"
    return tuple(
        read_row(cls, value, item(path, i))
        for i, value in enumerate(as_list(data["tiers"], path, InvalidDefinition))
    )


def optional_json(number: Decimal | None) -> str | None:
    return None if number is None else decimal_to_json(number)


def tiers_to_json(tiers: Iterable[Any]) -> list[dict[str, Any]]:
    """Tiers as JSON objects in field order; ``up_to`` always written (null = no limit), every
    other member only when set."""
    result = []
    for tier in tiers:
        data: dict[str, Any] = {"up_to": optional_json(tier.up_to)}
        for name in tier.__match_args__[1:]:  # the other fields, in their order
            value = getattr(tier, name)
            if value is not None:
                data[name] = decimal_to_json(value)
        result.append(data)
    return result


# --- validation (paths relative to the model) ---------------------------------------------


def tiers_of(tiers: object, kind: type[_Row], path: str = "$.tiers") -> tuple[_Row, ...]:
    """``tiers`` as a tuple of ``kind`` (a model built in code may pass any iterable)."""
    if isinstance(tiers, (str, bytes)) or not isinstance(tiers, Iterable):
        raise InvalidDefinition(path, "must be a sequence of tiers")
    result = tuple(tiers)
    for index, tier in enumerate(result):
        if not isinstance(tier, kind):
            raise InvalidDefinition(item(path, index), f"must be a {kind.__name__}")
    return result


def bounds(raw_bounds: Sequence[object], path: str = "$.tiers") -> tuple[Decimal | None, ...]:
    """Validate the ``up_to`` of each tier and return them as decimals (``None`` = no limit)."""
    if not raw_bounds:
        raise InvalidDefinition(path, "must have at least one tier")
    result: list[Decimal | None] = []
    last = len(raw_bounds) - 1
    previous = ZERO
    for index, raw in enumerate(raw_bounds):
        # Errors name "$" and are re-rooted at the tier's up_to below: formatting that path
        # for every valid tier cost a tenth of parsing a model.
        try:
            if raw is None:
                if index != last:
                    raise InvalidDefinition("$", "only the last tier may have no limit (null)")
                result.append(None)
                continue
            bound = check_number(raw, "$")
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


# --- per-unit tier tables and their two walks ---------------------------------------------


class TierTable:
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
        self.full_lines, self.before = full_tiers(
            self.uppers, self.lowers, partial(_graduated_line, self)
        )


def full_tiers(
    uppers: Sequence[Decimal], lowers: Sequence[Decimal], line: Callable[[int, Decimal], TierLine]
) -> tuple[tuple[TierLine, ...], tuple[Decimal, ...]]:
    """The line of every bounded tier when fully used (``line(index, units)``), and the sum of
    those lines below each tier: what an evaluation takes as is for the tiers below q."""
    lines: list[TierLine] = []
    before = [ZERO]
    for index, top in enumerate(uppers):
        full = line(index, sub(top, lowers[index]))
        lines.append(full)
        before.append(add(before[-1], full.amount))
    return tuple(lines), tuple(before)


def _graduated_line(table: TierTable, index: int, units: Decimal) -> TierLine:
    unit_price = table.prices[index]
    fee = table.fees[index]
    return TierLine(
        index + 1,
        table.lowers[index],
        table.tops[index],
        units,
        unit_price,
        fee,
        add(mul(units, unit_price), fee),
    )


def graduated_walk(table: TierTable, quantity: Decimal) -> Priced:
    """Each tier's units at its own price, plus the fee of every tier reached."""
    # bisect_left finds the first tier with up_to >= q: bounds are inclusive. Tiers below
    # it are full (precomputed); q = 0 lands in tier 1 with 0 units, so its fee applies.
    index = bisect_left(table.uppers, quantity)
    line = _graduated_line(table, index, sub(quantity, table.lowers[index]))
    return add(table.before[index], line.amount), (*table.full_lines[:index], line)


def volume_walk(table: TierTable, quantity: Decimal) -> Priced:
    """All units at the price of the tier holding q, plus that tier's fee."""
    # The one tier holding q prices every unit; at q = 0 that is the first tier (its fee).
    index = bisect_left(table.uppers, quantity)
    unit_price = table.prices[index]
    fee = table.fees[index]
    amount = add(mul(quantity, unit_price), fee)
    line = TierLine(
        index + 1, table.lowers[index], table.tops[index], quantity, unit_price, fee, amount
    )
    return amount, (line,)


# --- per-unit tiers: the tiers of volume and graduated -------------------------------------


@dataclass(frozen=True, slots=True)
class Tier:
    """A tier of ``volume``/``graduated``: inclusive ``up_to`` (``None``: no limit)."""

    up_to: Decimal | None
    unit_price: Decimal
    flat_fee: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PerUnitTiers:
    """What ``volume`` and ``graduated`` share: the same tiers, read, checked and written
    the same way; they differ in their name and in how they walk the tiers."""

    tiers: tuple[Tier, ...]
    _table: TierTable = field(init=False, repr=False, compare=False)

    free_quota_applies: ClassVar[bool] = True

    def __post_init__(self) -> None:
        raw = tiers_of(self.tiers, Tier)
        checked = []
        for index, (tier, bound) in enumerate(
            zip(raw, bounds([t.up_to for t in raw]), strict=True)
        ):
            try:
                fee = None if tier.flat_fee is None else check_price(tier.flat_fee, "$.flat_fee")
                checked.append(Tier(bound, check_price(tier.unit_price, "$.unit_price"), fee))
            except InvalidDefinition as error:
                raise error.rebased(item("$.tiers", index)) from None
        set_field(self, "tiers", tuple(checked))
        set_field(
            self,
            "_table",
            TierTable(
                [tier.up_to for tier in checked],
                [tier.unit_price for tier in checked],
                [tier.flat_fee if tier.flat_fee is not None else ZERO for tier in checked],
            ),
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(read_tiers(data, Tier))

    def to_json(self) -> dict[str, Any]:
        return {"tiers": tiers_to_json(self.tiers)}
