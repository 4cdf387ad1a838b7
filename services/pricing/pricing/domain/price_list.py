"""Price lists: immutable numbered versions of plan variants and components.

JSON of a version (decimals as strings; maps keyed by id)::

    {"version": 2, "effective_from": "2025-01-01T00:00:00+00:00", "currency": "EUR",
     "plan_variants": {"pro_yearly": {"name": "Pro", "setup_fee": "99", "recurring_fee": "49",
                                      "fee_period": "P1M", "billing_period": "P1Y",
                                      "included_quantities": {"recipients": "10000"}}},
     "recurring_components": {"seats": {"name": "Seats", "unit": "seat", "fee_period": "P1M",
                                        "price": {"model": "flat", "unit_price": "5"}}},
     "metered_components": {"recipients": {"name": "Recipients", "unit": "recipient",
                                           "price": {"model": "graduated", "tiers": [...]}}}}

Choices where the spec is silent:

* ``billing_period`` must be a whole multiple of ``fee_period`` (P1M fee billed P1Y: x12).
  A fee is never divided: a P1Y fee billed monthly is refused, like Stripe, which refuses
  prices whose interval differs from the subscription's. ``billing_period`` defaults to
  ``fee_period``; ``setup_fee`` defaults to 0.
* Recurring components carry their own ``fee_period`` (seats at 5 per P1M cost 60 on a plan
  billed P1Y); whether it fits a plan's billing period is checked when quoting, because a
  version may hold components meant only for some plan variants. Metered components have
  no fee period: their usage is summed over the billing period.
* Ids are 1 to 64 characters of ``A-Z a-z 0-9 _ -``, unique across recurring and metered
  components (quotes and free quotas name components by id alone).
* Free quotas (``included_quantities``) may only name metered components.
* ``PriceList.add_version``: numbers run 1, 2, 3 without gaps; a new version's
  ``effective_from`` must be strictly later than the previous one's, and, when the caller
  passes ``now``, not in the past. Otherwise an already issued quote for time t would no
  longer match ``version_at(t)``; old versions stay readable forever for audits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ._json import as_list, as_object, as_text, child, item
from .currencies import check_currency
from .errors import InvalidDefinition, VersionNotFound
from .numbers import ZERO, decimal_to_json, parse_decimal
from .periods import Period, parse_period
from .price_models import MODELS, PriceModel, parse_price_model, price_model_to_json

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_set = object.__setattr__


def check_id(value: object, path: str) -> str:
    """An id of a plan variant, component or price list: 1-64 of ``A-Z a-z 0-9 _ -``."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidDefinition(
            path, f"ids are 1 to 64 characters of A-Z, a-z, 0-9, _ and -; got {value!r}"
        )
    return value


def _frozen_map(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


def _aware(value: object, path: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidDefinition(path, f"must be an ISO 8601 date-time, got {value!r}") from None
    if not isinstance(value, datetime):
        raise InvalidDefinition(path, "must be an ISO 8601 date-time string")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidDefinition(path, "must include a UTC offset, e.g. 2025-01-01T00:00:00+00:00")
    if not in_utc_range(value):
        raise InvalidDefinition(path, "must lie between the years 1 and 9999 in UTC")
    return value


def in_utc_range(value: datetime) -> bool:
    """Whether an aware time is still within years 1 to 9999 once taken to UTC
    (0001-01-01T00:00:00+14:00 is not: it lies in year 0)."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class PlanVariant:
    """A plan variant: setup fee, recurring fee per ``fee_period``, ``billing_period``, free quotas.

    ``fee_periods_per_billing_period`` (derived) is how many fees one billing period holds.
    """

    recurring_fee: Decimal
    fee_period: Period
    billing_period: Period
    setup_fee: Decimal = ZERO
    included_quantities: Mapping[str, Decimal] = field(default_factory=dict, hash=False)
    name: str | None = None
    fee_periods_per_billing_period: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        _set(
            self,
            "recurring_fee",
            parse_decimal(self.recurring_fee, "$.recurring_fee", error=InvalidDefinition),
        )
        _set(
            self, "setup_fee", parse_decimal(self.setup_fee, "$.setup_fee", error=InvalidDefinition)
        )
        fee_period = parse_period(self.fee_period, "$.fee_period")
        billing_period = parse_period(self.billing_period, "$.billing_period")
        multiple = billing_period.multiple_of(fee_period)
        if multiple is None:
            raise InvalidDefinition(
                "$.billing_period",
                f"{billing_period} is not a whole multiple of fee_period {fee_period}"
                " (a fee is never divided)",
            )
        included = {}
        for key, quantity in dict(self.included_quantities).items():
            where = child("$.included_quantities", key)
            check_id(key, where)
            included[key] = parse_decimal(quantity, where, error=InvalidDefinition)
        if self.name is not None:
            as_text(self.name, "$.name", InvalidDefinition)
        _set(self, "fee_period", fee_period)
        _set(self, "billing_period", billing_period)
        _set(self, "included_quantities", _frozen_map(included))
        _set(self, "fee_periods_per_billing_period", multiple)


@dataclass(frozen=True, slots=True)
class Component:
    """A recurring (booked, with ``fee_period``) or metered (used) component with its price."""

    name: str
    price: PriceModel
    unit: str | None = None
    fee_period: Period | None = None

    def __post_init__(self) -> None:
        as_text(self.name, "$.name", InvalidDefinition)
        if not MODELS.knows(self.price):
            raise InvalidDefinition("$.price", "must be a price model")
        if self.unit is not None:
            as_text(self.unit, "$.unit", InvalidDefinition, max_length=50)
        if self.fee_period is not None:
            _set(self, "fee_period", parse_period(self.fee_period, "$.fee_period"))


def _check_components(
    components: Mapping[str, Component], path: str, *, recurring: bool
) -> Mapping[str, Component]:
    checked = {}
    for key, component in dict(components).items():
        where = child(path, key)
        check_id(key, where)
        if not isinstance(component, Component):
            raise InvalidDefinition(where, "must be a Component")
        if recurring and component.fee_period is None:
            raise InvalidDefinition(
                child(where, "fee_period"), "is required for a recurring component"
            )
        if not recurring and component.fee_period is not None:
            raise InvalidDefinition(
                child(where, "fee_period"),
                "metered components have no fee period: usage is summed per billing period",
            )
        checked[key] = component
    return _frozen_map(checked)


@dataclass(frozen=True, slots=True)
class PriceListVersion:
    """One immutable version of a price list, in effect from ``effective_from`` on."""

    version: int
    effective_from: datetime
    currency: str
    plan_variants: Mapping[str, PlanVariant] = field(default_factory=dict, hash=False)
    recurring_components: Mapping[str, Component] = field(default_factory=dict, hash=False)
    metered_components: Mapping[str, Component] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise InvalidDefinition("$.version", "must be a whole number >= 1")
        _set(self, "effective_from", _aware(self.effective_from, "$.effective_from"))
        check_currency(self.currency, "$.currency", InvalidDefinition)
        recurring = _check_components(
            self.recurring_components, "$.recurring_components", recurring=True
        )
        metered = _check_components(
            self.metered_components, "$.metered_components", recurring=False
        )
        for key in metered:
            if key in recurring:
                raise InvalidDefinition(
                    child("$.metered_components", key), "this id is already a recurring component"
                )
        variants = {}
        for key, variant in dict(self.plan_variants).items():
            where = child("$.plan_variants", key)
            check_id(key, where)
            if not isinstance(variant, PlanVariant):
                raise InvalidDefinition(where, "must be a PlanVariant")
            for component_id in variant.included_quantities:
                if component_id not in metered:
                    why = (
                        "is a recurring component"
                        if component_id in recurring
                        else "is not a metered component"
                    )
                    raise InvalidDefinition(
                        child(child(where, "included_quantities"), component_id),
                        f"{component_id!r} {why}; free quotas apply to metered components only",
                    )
            variants[key] = variant
        _set(self, "plan_variants", _frozen_map(variants))
        _set(self, "recurring_components", recurring)
        _set(self, "metered_components", metered)

    def component(self, component_id: str) -> Component | None:
        """The recurring or metered component with this id, if any."""
        found = self.recurring_components.get(component_id)
        return found if found is not None else self.metered_components.get(component_id)


@dataclass(frozen=True, slots=True)
class PriceList:
    """A price list: id, name, currency and its versions, numbered 1, 2, 3, ... in order."""

    id: str
    name: str
    currency: str
    versions: tuple[PriceListVersion, ...] = ()

    def __post_init__(self) -> None:
        check_id(self.id, "$.id")
        as_text(self.name, "$.name", InvalidDefinition)
        check_currency(self.currency, "$.currency", InvalidDefinition)
        versions = tuple(self.versions)
        for index, version in enumerate(versions):
            _check_next(
                versions[:index], version, self.currency, item("$.versions", index), now=None
            )
        _set(self, "versions", versions)

    def version_at(self, at: datetime) -> PriceListVersion:
        """The version in effect at ``at``: the latest whose ``effective_from`` <= ``at``.

        Raises ``VersionNotFound`` if the first version starts later; ``at`` must be aware.
        """
        if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
            raise VersionNotFound("$.at", "must include a UTC offset")
        for version in reversed(self.versions):
            if version.effective_from <= at:
                return version
        raise VersionNotFound(
            "$.at", f"no version of price list {self.id!r} is in effect at {at.isoformat()}"
        )

    def get_version(self, number: int) -> PriceListVersion:
        """Version ``number`` (1-based), for audits that recompute an old quote."""
        if 1 <= number <= len(self.versions):
            return self.versions[number - 1]
        raise VersionNotFound("$.version", f"price list {self.id!r} has no version {number}")

    @property
    def next_version(self) -> int:
        """The number the next version must have."""
        return len(self.versions) + 1

    def add_version(self, version: PriceListVersion, *, now: datetime | None = None) -> PriceList:
        """A new ``PriceList`` with ``version`` appended (this one is unchanged).

        ``version.version`` must be :attr:`next_version`, its currency the list's, its
        ``effective_from`` later than the previous version's and, if ``now`` is given, not
        before ``now``. Raises ``InvalidDefinition`` otherwise.
        """
        _check_next(self.versions, version, self.currency, "$", now=now)
        return PriceList(self.id, self.name, self.currency, (*self.versions, version))


def _check_next(
    previous: tuple[PriceListVersion, ...],
    version: PriceListVersion,
    currency: str,
    path: str,
    *,
    now: datetime | None,
) -> None:
    if not isinstance(version, PriceListVersion):
        raise InvalidDefinition(path, "must be a PriceListVersion")
    if version.version != len(previous) + 1:
        raise InvalidDefinition(
            child(path, "version"), f"must be {len(previous) + 1}, got {version.version}"
        )
    if version.currency != currency:
        raise InvalidDefinition(
            child(path, "currency"), f"must be the price list's currency {currency}"
        )
    if previous and version.effective_from <= previous[-1].effective_from:
        raise InvalidDefinition(
            child(path, "effective_from"),
            f"must be later than version {len(previous)}'s"
            f" {previous[-1].effective_from.isoformat()}",
        )
    if now is not None and version.effective_from < now:
        raise InvalidDefinition(
            child(path, "effective_from"), "must not be in the past: versions are never retroactive"
        )


# --- JSON ---------------------------------------------------------------------------------


def _parse_map(value: object, path: str) -> Mapping[str, Any]:
    """A JSON object keyed by ids."""
    if not isinstance(value, Mapping):
        raise InvalidDefinition(path, "must be an object keyed by id")
    for key in value:
        check_id(key, child(path, key))
    return value


def parse_plan_variant(value: object, path: str = "$") -> PlanVariant:
    """Read a plan variant from decoded JSON; faults raise ``InvalidDefinition`` under ``path``."""
    try:
        data = as_object(
            value,
            "$",
            InvalidDefinition,
            required=("recurring_fee", "fee_period"),
            optional=("name", "setup_fee", "billing_period", "included_quantities"),
        )
        included = _parse_map(data.get("included_quantities", {}), "$.included_quantities")
        name = data.get("name")
        fee_period = parse_period(data["fee_period"], "$.fee_period")
        billing_period = data.get("billing_period")
        return PlanVariant(
            recurring_fee=parse_decimal(
                data["recurring_fee"], "$.recurring_fee", error=InvalidDefinition
            ),
            fee_period=fee_period,
            billing_period=fee_period
            if billing_period is None
            else parse_period(billing_period, "$.billing_period"),
            setup_fee=parse_decimal(
                data.get("setup_fee", ZERO), "$.setup_fee", error=InvalidDefinition
            ),
            included_quantities={
                key: parse_decimal(
                    quantity, child("$.included_quantities", key), error=InvalidDefinition
                )
                for key, quantity in included.items()
            },
            name=None if name is None else as_text(name, "$.name", InvalidDefinition),
        )
    except InvalidDefinition as error:
        raise error.rebased(path) from None


def parse_component(value: object, path: str = "$", *, recurring: bool) -> Component:
    """Read a component; ``fee_period`` is required when ``recurring`` and refused otherwise."""
    try:
        optional = ("unit", "fee_period") if recurring else ("unit",)
        required = ("name", "price", "fee_period") if recurring else ("name", "price")
        data = as_object(value, "$", InvalidDefinition, required=required, optional=optional)
        unit = data.get("unit")
        return Component(
            name=as_text(data["name"], "$.name", InvalidDefinition),
            price=parse_price_model(data["price"], "$.price"),
            unit=None
            if unit is None
            else as_text(unit, "$.unit", InvalidDefinition, max_length=50),
            fee_period=parse_period(data["fee_period"], "$.fee_period") if recurring else None,
        )
    except InvalidDefinition as error:
        raise error.rebased(path) from None


def parse_price_list_version(value: object, path: str = "$") -> PriceListVersion:
    """Read a price list version from decoded JSON (see the module docstring for the shape).

    Raises ``InvalidDefinition`` with the JSON path of the fault under ``path``, e.g.
    ``$.metered_components.recipients.price.tiers[1].up_to``.
    """
    try:
        data = as_object(
            value,
            "$",
            InvalidDefinition,
            required=("version", "effective_from", "currency"),
            optional=("plan_variants", "recurring_components", "metered_components"),
        )
        sections = {
            name: _parse_map(data.get(name, {}), child("$", name))
            for name in ("plan_variants", "recurring_components", "metered_components")
        }
        return PriceListVersion(
            version=data["version"],
            effective_from=_aware(data["effective_from"], "$.effective_from"),
            currency=check_currency(data["currency"], "$.currency", InvalidDefinition),
            plan_variants={
                key: parse_plan_variant(raw, child("$.plan_variants", key))
                for key, raw in sections["plan_variants"].items()
            },
            recurring_components={
                key: parse_component(raw, child("$.recurring_components", key), recurring=True)
                for key, raw in sections["recurring_components"].items()
            },
            metered_components={
                key: parse_component(raw, child("$.metered_components", key), recurring=False)
                for key, raw in sections["metered_components"].items()
            },
        )
    except InvalidDefinition as error:
        raise error.rebased(path) from None


def parse_price_list(value: object, path: str = "$") -> PriceList:
    """Read a price list ``{"id", "name", "currency", "versions": [...]}`` from decoded JSON."""
    try:
        data = as_object(
            value,
            "$",
            InvalidDefinition,
            required=("id", "name", "currency"),
            optional=("versions",),
        )
        versions = as_list(data.get("versions", []), "$.versions", InvalidDefinition)
        return PriceList(
            id=check_id(data["id"], "$.id"),
            name=as_text(data["name"], "$.name", InvalidDefinition),
            currency=check_currency(data["currency"], "$.currency", InvalidDefinition),
            versions=tuple(
                parse_price_list_version(raw, item("$.versions", index))
                for index, raw in enumerate(versions)
            ),
        )
    except InvalidDefinition as error:
        raise error.rebased(path) from None


def plan_variant_to_json(variant: PlanVariant) -> dict[str, Any]:
    """Canonical JSON of a plan variant (decimals as strings, periods canonical)."""
    data: dict[str, Any] = {}
    if variant.name is not None:
        data["name"] = variant.name
    data["setup_fee"] = decimal_to_json(variant.setup_fee)
    data["recurring_fee"] = decimal_to_json(variant.recurring_fee)
    data["fee_period"] = str(variant.fee_period)
    data["billing_period"] = str(variant.billing_period)
    data["included_quantities"] = {
        key: decimal_to_json(quantity) for key, quantity in variant.included_quantities.items()
    }
    return data


def component_to_json(component: Component) -> dict[str, Any]:
    """Canonical JSON of a component."""
    data: dict[str, Any] = {"name": component.name}
    if component.unit is not None:
        data["unit"] = component.unit
    if component.fee_period is not None:
        data["fee_period"] = str(component.fee_period)
    data["price"] = price_model_to_json(component.price)
    return data


def price_list_version_to_json(version: PriceListVersion) -> dict[str, Any]:
    """Canonical JSON of a version; ``parse_price_list_version`` reads it back equal."""
    return {
        "version": version.version,
        "effective_from": version.effective_from.isoformat(),
        "currency": version.currency,
        "plan_variants": {key: plan_variant_to_json(v) for key, v in version.plan_variants.items()},
        "recurring_components": {
            key: component_to_json(c) for key, c in version.recurring_components.items()
        },
        "metered_components": {
            key: component_to_json(c) for key, c in version.metered_components.items()
        },
    }


def price_list_to_json(price_list: PriceList) -> dict[str, Any]:
    """Canonical JSON of a price list with all its versions."""
    return {
        "id": price_list.id,
        "name": price_list.name,
        "currency": price_list.currency,
        "versions": [price_list_version_to_json(version) for version in price_list.versions],
    }
