"""The pricing requests: pydantic models that both validate and document every request body.

A use case reads its body with :func:`read`, which answers a fault as the domain's
:class:`PricingError` with the JSON path of the fault (``$.items[3].quantity``), as every
pricing error is answered. Values are read by the domain's own functions (exact decimals
with their limits, currencies, ids, periods, price models), used as the fields' validators,
so a value means the same in a request as in a stored definition; pydantic checks the shape
(objects, fields, required, unknown) and the OpenAPI document shows these same models.

Bodies arrive decoded by the API with JSON numbers as ``Decimal`` (``parse_float=Decimal``):
pydantic never sees a float, and the domain's decimal reader refuses one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    ClassVar,
    TypeVar,
    get_args,
    get_origin,
    get_type_hints,
)

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    TypeAdapter,
    ValidationError,
    model_validator,
    with_config,
)
from pydantic_core import ErrorDetails
from typing_extensions import TypedDict

from pricing.domain import Component as DomainComponent
from pricing.domain import (
    InvalidDefinition,
    InvalidInput,
    PriceListVersion,
    PriceModel,
    PricingError,
    as_text,
    check_currency,
    check_id,
    child,
    in_utc_range,
    item,
    kind_of,
    parse_decimal,
    parse_period,
    parse_price_model,
)
from pricing.domain import Period as DomainPeriod
from pricing.domain import PlanVariant as DomainPlanVariant
from pricing.domain.numbers import ZERO
from pricing.service_layer.price_model_schemas import DecimalValue, PriceModelSchema

MAX_BATCH_ITEMS = 10_000
"""Most items one batch quote may hold (the ledger sends at most this many)."""

_Model = TypeVar("_Model", bound="Request")


# --- reading a body --------------------------------------------------------------------------


def read(model: type[_Model], document: object) -> _Model:
    """``document`` validated by ``model``; the first fault as a :class:`PricingError`."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise fault_of(error, model, model.error) from None


def fault_of(
    error: ValidationError, root: Any, kind: type[PricingError] = InvalidInput
) -> PricingError:
    """The first fault of ``error`` as a pricing error at its JSON path.

    Unknown fields come first, then missing ones, then values in field order: the order in
    which a reader of the document meets them. A domain reader's own error keeps its message
    and its path under the field (``$.price`` + ``$.tiers[1].up_to``).
    """
    errors = error.errors(include_url=False)
    first = next(
        (e for e in errors if e["type"] == "extra_forbidden"),
        next((e for e in errors if e["type"] == "missing"), errors[0]),
    )
    path = "$"
    for step in first["loc"]:
        path = item(path, step) if isinstance(step, int) else child(path, step)
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, PricingError):
        return cause.rebased(path)
    return kind(path, _message(first, root))


def _message(error: ErrorDetails, root: Any) -> str:
    kind, value = error["type"], error["input"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        fields = _fields_at(root, error["loc"][:-1])
        return f"unknown field; expected {', '.join(fields) if fields else 'no fields'}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be an object, got {kind_of(value)}"
    if kind == "list_type":
        return f"must be an array, got {kind_of(value)}"
    if kind == "string_type":
        return f"must be a string, got {kind_of(value)}"
    if kind == "too_long":
        context = error.get("ctx") or {}
        return f"must hold at most {context['max_length']} items, got {context['actual_length']}"
    return error["msg"]


def _fields_at(root: Any, loc: Sequence[int | str]) -> tuple[str, ...]:
    """The field names of the object type at ``loc`` under ``root`` (a model or TypedDict)."""
    current = root
    for step in (*loc, None):
        while get_origin(current) is Annotated:
            current = get_args(current)[0]
        if isinstance(step, int) or (step is not None and get_origin(current) in (dict, list)):
            current = get_args(current)[-1]
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            hints = {name: info.annotation for name, info in current.model_fields.items()}
        else:
            hints = get_type_hints(current) if isinstance(current, type) else {}
        if step is None:
            return tuple(hints)
        current = hints.get(step)
    return ()


# --- value types: each read by the domain ---------------------------------------------------


def _field(read_value: Callable[[Any, str], Any], schema: Any) -> PlainValidator:
    """A field read by a domain function (its errors name ``$``, re-rooted at the field)."""
    return PlainValidator(lambda value: read_value(value, "$"), json_schema_input_type=schema)


def _quantity(value: object, path: str) -> Decimal:
    return parse_decimal(value, path)


def _price(value: object, path: str) -> Decimal:
    return parse_decimal(value, path, error=InvalidDefinition)


def _whole(value: object, path: str) -> Decimal:
    number = parse_decimal(value, path)
    if number != number.to_integral_value():
        raise InvalidInput(path, "must be a whole number")
    return number


def _text(value: object, path: str) -> str:
    if type(value) is not str:
        raise InvalidInput(path, "must be a string")
    return value


def instant(value: object, path: str) -> datetime:
    """An RFC 3339 date-time with a UTC offset (``2025-03-01T10:00:00Z``)."""
    if type(value) is str:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(
                path, f"must be an RFC 3339 date-time like 2025-03-01T10:00:00Z, got {value!r}"
            ) from None
        if parsed.tzinfo is not None and parsed.utcoffset() is not None:
            if not in_utc_range(parsed):
                raise InvalidInput(path, "must lie between the years 1 and 9999 in UTC")
            return parsed
    raise InvalidInput(path, "must be an RFC 3339 date-time with a UTC offset (Z or +01:00)")


def _day(value: object, path: str) -> date:
    if type(value) is str:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInput(path, f"must be a date like 2025-03-01, got {value!r}")


def _optional_day(value: object, path: str) -> date | None:
    return None if value is None else _day(value, path)


def _optional_period(value: object, path: str) -> DomainPeriod | None:
    return None if value is None else parse_period(value, path)


def _positive_int(value: object, path: str) -> int:
    if type(value) is not int or value < 1:
        raise InvalidInput(path, "must be a whole number >= 1")
    return value


def _flag(value: object, path: str) -> bool:
    if type(value) is not bool:
        raise InvalidInput(path, "must be true or false")
    return value


def _name(value: object, path: str) -> str:
    return as_text(value, path, InvalidDefinition)


def _unit(value: object, path: str) -> str:
    return as_text(value, path, InvalidDefinition, max_length=50)


def _list_currency(value: object, path: str) -> str:
    return check_currency(value, path, InvalidDefinition)


_ID_SCHEMA = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", examples=["mailing-credits"])]
_DAY_SCHEMA = Annotated[str, Field(description="A date, YYYY-MM-DD.", examples=["2025-03-01"])]
_INSTANT_SCHEMA = Annotated[
    str, Field(description="RFC 3339 date-time with offset.", examples=["2025-03-01T10:00:00Z"])
]
_CURRENCY_SCHEMA = Annotated[
    str, Field(description="ISO 4217 code (upper case) or CREDITS.", examples=["EUR"])
]
_PERIOD_SCHEMA = Annotated[
    str, Field(description="ISO 8601 period of months or days: P1M, P1Y, P2W.", examples=["P1M"])
]

Quantity = Annotated[Decimal, _field(_quantity, DecimalValue)]
"""A decimal >= 0 (quantities, counts)."""
Price = Annotated[Decimal, _field(_price, DecimalValue)]
"""A price or fee in a definition: a decimal >= 0."""
WholeCount = Annotated[Decimal, _field(_whole, DecimalValue)]
Currency = Annotated[str, _field(check_currency, _CURRENCY_SCHEMA)]
ListCurrency = Annotated[str, _field(_list_currency, _CURRENCY_SCHEMA)]
Text = Annotated[str, _field(_text, str)]
Id = Annotated[str, _field(check_id, _ID_SCHEMA)]
Name = Annotated[str, _field(_name, str)]
# Optional fields that may be left out but not sent as null: the type says None (the default)
# and the reader refuses a null that was sent.
OptionalInstant = Annotated[datetime | None, _field(instant, _INSTANT_SCHEMA)]
Instant = Annotated[datetime, _field(instant, _INSTANT_SCHEMA)]
Day = Annotated[date, _field(_day, _DAY_SCHEMA)]
OptionalVersion = Annotated[int | None, _field(_positive_int, int)]
Flag = Annotated[bool, _field(_flag, bool)]
Period = Annotated[DomainPeriod, _field(parse_period, _PERIOD_SCHEMA)]
OptionalPeriod = Annotated[DomainPeriod | None, _field(_optional_period, _PERIOD_SCHEMA | None)]
OptionalName = Annotated[str | None, _field(_name, str)]
OptionalUnit = Annotated[str | None, _field(_unit, str)]

_MODELS: dict[bytes, PriceModel] = {}
_MAX_MODELS = 1024
_MAX_KEY_BYTES = 16_384


def remembered_price_model(document: object, path: str) -> PriceModel:
    """``parse_price_model``, remembering the models it built.

    Portals preview one model with many quantities, and parsing a 10-tier model costs ten
    times more than evaluating it. Models are immutable, so a parsed one can be shared. The
    key is the document's canonical JSON (keys sorted, decimals as text): documents with the
    same key parse to equal models. Only valid models of up to 16 KB of JSON are remembered;
    at most 1,024, the oldest go first.
    """
    import orjson

    try:
        key = orjson.dumps(document, default=str, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # e.g. an integer beyond 64 bits: no key, parse it every time
        return parse_price_model(document, path)
    model = _MODELS.get(key)
    if model is None:
        model = parse_price_model(document, path)
        if len(key) <= _MAX_KEY_BYTES:  # a giant model is not worth its memory
            if len(_MODELS) >= _MAX_MODELS:
                del _MODELS[next(iter(_MODELS))]
            _MODELS[key] = model
    return model


if TYPE_CHECKING:
    PriceModelField = PriceModel
else:
    # Declared Any for pydantic: it must not build schemas of the domain's dataclasses.
    PriceModelField = Annotated[Any, _field(remembered_price_model, PriceModelSchema)]
"""A price model, read by the domain (validated once, remembered), documented by the
models generated from the domain's dataclasses."""


# --- the requests ---------------------------------------------------------------------------


class Request(BaseModel):
    """A request body: an object with exactly these fields (a typo such as ``flat_amount``
    for ``flat_fee`` would otherwise silently change a price)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    error: ClassVar[type[PricingError]] = InvalidInput
    """The domain error a fault of this body is (both answer 422)."""

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise cls.error("$", f"must be an object, got {kind_of(data)}")
        return data


class EvaluateRequest(Request):
    """``POST /v1/evaluate``: a price model, a quantity and a currency."""

    price: PriceModelField
    quantity: Quantity
    currency: Currency
    included_quantity: Quantity = Field(
        ZERO, description="Free quota: the model prices max(0, quantity - included)."
    )


class PlanVariant(Request):
    error: ClassVar[type[PricingError]] = InvalidDefinition
    name: OptionalName = None
    setup_fee: Price = Field(Decimal(0), description="Billed on a contract's first invoice only.")
    recurring_fee: Price
    fee_period: Period
    billing_period: OptionalPeriod = Field(
        None, description="A whole multiple of fee_period; defaults to it."
    )
    included_quantities: dict[str, Price] = Field(
        default_factory=dict, description="Free quota per metered component and billing period."
    )

    def to_domain(self) -> DomainPlanVariant:
        """The domain's plan variant (it checks the periods); paths relative to it."""
        for key in self.included_quantities:
            check_id(key, child("$.included_quantities", key))
        return DomainPlanVariant(
            recurring_fee=self.recurring_fee,
            fee_period=self.fee_period,
            billing_period=self.billing_period or self.fee_period,
            setup_fee=self.setup_fee,
            included_quantities=self.included_quantities,
            name=self.name,
        )


class MeteredComponent(Request):
    error: ClassVar[type[PricingError]] = InvalidDefinition
    name: Name
    unit: OptionalUnit = None
    price: PriceModelField

    def to_domain(self) -> DomainComponent:
        """The domain's component."""
        return DomainComponent(self.name, self.price, self.unit)


class RecurringComponent(MeteredComponent):
    fee_period: Period

    def to_domain(self) -> DomainComponent:
        """The domain's component, billed per ``fee_period``."""
        return DomainComponent(self.name, self.price, self.unit, self.fee_period)


class VersionCreate(Request):
    """A new version of a price list (``POST /v1/price-lists/{id}/versions``)."""

    error: ClassVar[type[PricingError]] = InvalidDefinition
    version: OptionalVersion = Field(
        None, description="Optional: the number you expect to create (409 if it exists)."
    )
    effective_from: OptionalInstant = Field(
        None, description="Defaults to now; must not be in the past (except the first version)."
    )
    currency: Annotated[str | None, _field(_list_currency, _CURRENCY_SCHEMA)] = Field(
        None, description="Optional: must be the list's currency."
    )
    plan_variants: dict[str, PlanVariant] = Field(default_factory=dict)
    recurring_components: dict[str, RecurringComponent] = Field(default_factory=dict)
    metered_components: dict[str, MeteredComponent] = Field(default_factory=dict)

    def to_domain(self, number: int, currency: str, now: datetime) -> PriceListVersion:
        """The domain's version: ``number``, ``currency`` and ``now`` unless the request
        names them. Raises the domain's errors with paths relative to the version."""
        sections: dict[str, Mapping[str, Any]] = {
            "plan_variants": self.plan_variants,
            "recurring_components": self.recurring_components,
            "metered_components": self.metered_components,
        }
        built: dict[str, dict[str, Any]] = {}
        for section, entries in sections.items():
            built[section] = {}
            for key, entry in entries.items():
                where = child(child("$", section), key)
                check_id(key, where)
                try:
                    built[section][key] = entry.to_domain()
                except PricingError as error:
                    raise error.rebased(where) from None
        return PriceListVersion(
            version=number if self.version is None else self.version,
            effective_from=now if self.effective_from is None else self.effective_from,
            currency=currency if self.currency is None else self.currency,
            **built,
        )


class PriceListCreate(Request):
    """A new price list with its first version (``POST /v1/price-lists``)."""

    error: ClassVar[type[PricingError]] = InvalidDefinition
    id: Id
    name: Name
    currency: ListCurrency
    first_version: VersionCreate


class QuoteRequest(Request):
    """``POST /v1/quotes``: a plan variant with its components over a billing period."""

    price_list_id: Text
    plan_variant_id: Text
    period_start: Day
    period_end: Day = Field(description="Exclusive end of the period.")
    version: OptionalVersion = Field(
        None, description="Default: the version in effect at 00:00 UTC of period_start."
    )
    billing_anchor: Annotated[date | None, _field(_optional_day, _DAY_SCHEMA | None)] = Field(
        None, description="Start of the contract's billing cycles: a shorter period is prorated."
    )
    first_invoice: Flag = Field(False, description="Adds the setup fee.")
    booked: dict[str, Quantity] = Field(
        default_factory=dict, description="Booked quantity per recurring component."
    )
    usage: dict[str, list[Quantity]] = Field(
        default_factory=dict, description="Usage reports per metered component (summed)."
    )


@with_config(ConfigDict(extra="forbid"))
class BatchItem(TypedDict):
    """One component quantity to price at a time (the ledger sends one per mailing)."""

    price_list_id: Annotated[str, Strict()]
    component: Annotated[str, Strict()]
    quantity: Quantity
    at: Instant


_ITEMS = TypeAdapter(list[BatchItem])
_ITEM = TypeAdapter(BatchItem)


def _items(value: object, path: str) -> list[BatchItem | PricingError]:
    """The items of a batch, each read or its own fault (paths relative to the item).

    A batch is read in one pydantic call; only a batch with a faulty item is read again,
    item by item, to keep every good item and the fault of every bad one in its place.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, list):
        raise InvalidInput(path, f"must be an array, got {kind_of(value)}")
    if len(value) > MAX_BATCH_ITEMS:
        raise InvalidInput(path, f"must hold at most {MAX_BATCH_ITEMS} items, got {len(value)}")
    try:
        return _ITEMS.validate_python(value)  # type: ignore[return-value]
    except ValidationError:
        pass
    items: list[BatchItem | PricingError] = []
    for raw in value:
        try:
            items.append(_ITEM.validate_python(raw))
        except ValidationError as error:
            items.append(fault_of(error, BatchItem))
    return items


class BatchQuoteRequest(Request):
    """``POST /v1/quotes/batch``: up to 10,000 items, each priced or refused on its own."""

    items: Annotated[
        list[BatchItem | PricingError],
        _field(_items, Annotated[list[BatchItem], Field(max_length=MAX_BATCH_ITEMS)]),
    ]


class CreditsPriceRequest(Request):
    """``POST /v1/credits/price``: what a whole number of credits costs in money."""

    price_list_id: Text
    credits: WholeCount = Field(description="A whole number of credits.")
    at: OptionalInstant = Field(None, description="Defaults to now.")


class CreditsForRecipientsRequest(Request):
    """``POST /v1/credits/for-recipients``: the credits a mailing to N recipients costs."""

    price_list_id: Text
    recipients: WholeCount = Field(description="A whole number of recipients.")
    at: OptionalInstant = Field(None, description="Defaults to now.")


REQUESTS: tuple[type[Request], ...] = (
    EvaluateRequest,
    PriceListCreate,
    VersionCreate,
    QuoteRequest,
    BatchQuoteRequest,
    CreditsPriceRequest,
    CreditsForRecipientsRequest,
)
"""Every request body of the service (the OpenAPI document shows each)."""
