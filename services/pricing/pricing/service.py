"""Use cases of the pricing service: evaluate, price lists and versions, quotes, batch quotes.

Every use case takes a decoded JSON document (numbers already exact, see
:mod:`pricing.api.bodies`) and returns a JSON-ready dict. The domain's parse functions are the
one place that validates, so every endpoint answers the same 422 shape with the JSON path of
the fault. The service knows no HTTP: it raises the domain's :class:`PricingError` (422),
:class:`NotFound` and :class:`VersionNotFound` (404) and :class:`Conflict` (409).

Versions are immutable, so their parsed definitions are cached in process by
``(price list id, version)`` (:class:`VersionCache`). Which version is in effect at a time is
NOT cached: every batch asks the database once, so a version created a moment ago is used
by the very next batch.
"""

from __future__ import annotations

import gc
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

import orjson

from pricing.domain import (
    CREDITS,
    InvalidDefinition,
    InvalidInput,
    PriceList,
    PriceListVersion,
    PriceModel,
    PricingError,
    VersionNotFound,
    as_list,
    as_object,
    billing_cycle,
    check_currency,
    child,
    evaluate_component,
    evaluation_to_json,
    in_utc_range,
    parse_decimal,
    parse_price_list_version,
    parse_price_model,
    price_list_version_to_json,
    quote_to_json,
    to_minor_units,
)
from pricing.domain import evaluate as evaluate_model
from pricing.domain import quote as quote_plan_variant

MAX_BATCH_ITEMS = 10_000
"""Most items one batch quote may hold (the ledger sends at most this many)."""

RECIPIENTS_COMPONENT = "recipients"
"""Metered component of a CREDITS price list: credits per recipient of a mailing."""
CREDITS_COMPONENT = "credits"
"""Metered component of a money price list: the price of credits (volume tiers)."""


class NotFound(PricingError):
    """A price list or version that does not exist (404), with the path of the name."""


class Conflict(Exception):
    """A write that repeats an existing id or version number (409): someone else won."""


def status_of(error: PricingError) -> int:
    """The HTTP status of a pricing error: 404 for what does not exist, else 422."""
    return 404 if isinstance(error, (NotFound, VersionNotFound)) else 422


def utc_now() -> datetime:
    """The service's clock (tests pass their own)."""
    return datetime.now(UTC)


# --- what the service needs from storage ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class VersionRef:
    """A version's number and the time it takes effect (no definition)."""

    version: int
    effective_from: datetime


@dataclass(frozen=True, slots=True)
class PriceListInfo:
    """A price list's header and the index of its versions, ordered by number."""

    id: str
    name: str
    currency: str
    versions: tuple[VersionRef, ...]
    _starts: tuple[datetime, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", tuple(ref.effective_from for ref in self.versions))

    def version_at(self, at: datetime, path: str) -> int:
        """Number of the version in effect at ``at``; ``VersionNotFound(path)`` if none is."""
        # Numbers and effective_from grow together (PriceList.add_version), so bisect works.
        index = bisect_right(self._starts, at)
        if index == 0:
            raise VersionNotFound(
                path, f"no version of price list {self.id!r} is in effect at {at.isoformat()}"
            )
        return self.versions[index - 1].version

    def has_version(self, number: int) -> bool:
        """Whether version ``number`` exists."""
        return 1 <= number <= len(self.versions)

    def to_json(self) -> dict[str, Any]:
        """JSON of the header with its version index."""
        return {
            "id": self.id,
            "name": self.name,
            "currency": self.currency,
            "versions": [
                {"version": ref.version, "effective_from": ref.effective_from.isoformat()}
                for ref in self.versions
            ],
        }


class PriceListRepository(Protocol):
    """Storage of price lists (``pricing.adapters.postgres`` in production)."""

    async def create(self, price_list: PriceList) -> None:
        """Store a new price list with its versions; ``Conflict`` if the id exists."""

    async def add_version(self, price_list_id: str, version: PriceListVersion) -> None:
        """Store a new version; ``Conflict`` if its number exists already."""

    async def find(self, ids: Collection[str]) -> dict[str, PriceListInfo]:
        """Headers and version indexes of the price lists with these ids (one query)."""

    async def page(self, after: str | None, limit: int) -> list[PriceListInfo]:
        """Up to ``limit`` price lists ordered by id, starting after id ``after``."""

    async def versions(
        self, keys: Collection[tuple[str, int]]
    ) -> dict[tuple[str, int], PriceListVersion]:
        """The definitions of these ``(price list id, version)`` pairs that exist."""


class VersionCache:
    """Parsed version definitions by ``(price list id, version)``, shared by all requests.

    A version never changes once written, so an entry can never be stale; the cache only
    saves reading and parsing JSON. Bounded: beyond ``max_entries`` the oldest entries go.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: dict[tuple[str, int], PriceListVersion] = {}
        self._max_entries = max_entries

    async def get(
        self, repository: PriceListRepository, keys: Collection[tuple[str, int]]
    ) -> dict[tuple[str, int], PriceListVersion]:
        """The versions of ``keys`` that exist, read from the repository only when missing."""
        entries = self._entries
        found: dict[tuple[str, int], PriceListVersion] = {}
        missing = []
        for key in keys:
            version = entries.get(key)
            if version is None:
                missing.append(key)
            else:
                found[key] = version
        if missing:
            loaded = await repository.versions(missing)
            for key, version in loaded.items():
                if len(entries) >= self._max_entries:
                    del entries[next(iter(entries))]
                entries[key] = version
            found.update(loaded)
        return found


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a burst of allocations.

    Pricing a batch allocates tens of thousands of small dicts that live until the response
    is sent and form no cycles. Each allocation burst makes the collector walk them, and
    every few batches the whole heap: a third of a batch's time, measured. Only wrap code
    without ``await`` (no other task runs meanwhile); the collector resumes afterwards.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# --- reading request values ---------------------------------------------------------------


def _text(value: object, path: str) -> str:
    if type(value) is not str:
        raise InvalidInput(path, "must be a string")
    return value


def _instant(value: object, path: str) -> datetime:
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


def _whole(value: object, path: str) -> Decimal:
    number = parse_decimal(value, path)
    if number != number.to_integral_value():
        raise InvalidInput(path, "must be a whole number")
    return number


def _positive_int(value: object, path: str) -> int:
    if type(value) is not int or value < 1:
        raise InvalidInput(path, "must be a whole number >= 1")
    return value


def _object_by_id(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(path, "must be an object keyed by component id")
    return value


# --- the stateless calculator -------------------------------------------------------------


def evaluate(body: object) -> dict[str, Any]:
    """``POST /v1/evaluate``: price a quantity with a price model given in the request.

    ``{"price": <model>, "quantity": "121", "currency": "EUR", "included_quantity": "0"}``
    -> the evaluation (exact and rounded amount, one line per tier).
    """
    data = as_object(
        body,
        "$",
        InvalidInput,
        required=("price", "quantity", "currency"),
        optional=("included_quantity",),
    )
    model = _price_model(data["price"])
    quantity = parse_decimal(data["quantity"], "$.quantity")
    currency = check_currency(data["currency"], "$.currency")
    free = parse_decimal(data.get("included_quantity", 0), "$.included_quantity")
    return evaluation_to_json(evaluate_model(model, quantity, currency, free))


_MODELS: dict[bytes, PriceModel] = {}
_MAX_MODELS = 1024
_MAX_KEY_BYTES = 16_384


def _price_model(document: object) -> PriceModel:
    """``parse_price_model`` at ``$.price``, remembering the models it built.

    Portals preview one model with many quantities, and parsing a 10-tier model costs ten
    times more than evaluating it. Models are immutable, so a parsed one can be shared. The
    key is the document's canonical JSON (keys sorted, decimals as text): documents with the
    same key parse to equal models. Only valid models of up to 16 KB of JSON are remembered;
    at most 1,024, the oldest go first.
    """
    try:
        key = orjson.dumps(document, default=str, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # e.g. an integer beyond 64 bits: no key, parse it every time
        return parse_price_model(document, "$.price")
    model = _MODELS.get(key)
    if model is None:
        model = parse_price_model(document, "$.price")
        if len(key) <= _MAX_KEY_BYTES:  # a giant model is not worth its memory
            if len(_MODELS) >= _MAX_MODELS:
                del _MODELS[next(iter(_MODELS))]
            _MODELS[key] = model
    return model


# --- batch quotes: the ledger's hot path --------------------------------------------------


class _Item(NamedTuple):
    price_list_id: str
    component: str
    quantity: Decimal
    at: datetime


_ITEM_FIELDS = ("price_list_id", "component", "quantity", "at")
_ITEM_KEYS = frozenset(_ITEM_FIELDS)


def _read_item(raw: object) -> _Item:
    """One batch item; error paths relative to the item (``$.quantity``)."""
    if type(raw) is not dict or raw.keys() != _ITEM_KEYS:
        as_object(raw, "$", InvalidInput, required=_ITEM_FIELDS)  # raises the precise fault
        raise InvalidInput("$", "must be an object")  # a Mapping that is no dict: never sent
    price_list_id, component = raw["price_list_id"], raw["component"]
    if type(price_list_id) is not str:
        raise InvalidInput("$.price_list_id", "must be a string")
    if type(component) is not str:
        raise InvalidInput("$.component", "must be a string")
    return _Item(
        price_list_id,
        component,
        parse_decimal(raw["quantity"], "$.quantity"),
        _instant(raw["at"], "$.at"),
    )


def _priced(price_list_id: str, number: int, item: _Item, version: PriceListVersion) -> Any:
    evaluation = evaluate_component(version, item.component, item.quantity)
    return {
        "price_list_id": price_list_id,
        "price_list_version": number,
        "component": item.component,
        **evaluation_to_json(evaluation),
        "amount_minor": to_minor_units(evaluation.amount, evaluation.currency),
    }


def _error_json(error: PricingError) -> dict[str, Any]:
    return {"error": {"status": status_of(error), "detail": error.message, "field": error.path}}


# --- the use cases that read or write price lists -----------------------------------------


class PricingService:
    """The use cases on price lists; one instance per request (its repository's session)."""

    def __init__(
        self,
        repository: PriceListRepository,
        cache: VersionCache,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._repository = repository
        self._cache = cache
        self._clock = clock

    # price lists and versions

    async def create_price_list(self, body: object) -> dict[str, Any]:
        """``POST /v1/price-lists``: ``{"id", "name", "currency", "first_version": {...}}``.

        The first version may take effect in the past (nothing was priced with the list
        before it existed); it defaults to now.
        """
        data = as_object(
            body,
            "$",
            InvalidDefinition,
            required=("id", "name", "currency", "first_version"),
        )
        empty = PriceList(data["id"], data["name"], data["currency"])  # validates the header
        first = self._version_from(data["first_version"], empty, "$.first_version", self._clock())
        try:
            price_list = empty.add_version(first)
        except PricingError as error:
            raise error.rebased("$.first_version") from None
        await self._repository.create(price_list)
        return _info_of(price_list).to_json()

    async def add_version(self, price_list_id: str, body: object) -> dict[str, Any]:
        """``POST /v1/price-lists/{id}/versions``: a new immutable version.

        ``effective_from`` defaults to now and must not be in the past (a version is never
        retroactive). ``version`` may be given for optimistic concurrency: a number that
        exists already is a 409, and so is losing the race to another writer.
        """
        price_list = await self._price_list(price_list_id)
        number = body.get("version") if isinstance(body, Mapping) else None
        if type(number) is int and 1 <= number < price_list.next_version:
            raise Conflict(f"version {number} of price list {price_list_id!r} exists already")
        now = self._clock()
        version = self._version_from(body, price_list, "$", now)
        price_list.add_version(version, now=now)  # validates number, currency and time
        await self._repository.add_version(price_list_id, version)
        return {"price_list_id": price_list_id, **price_list_version_to_json(version)}

    @staticmethod
    def _version_from(
        raw: object, price_list: PriceList, path: str, now: datetime
    ) -> PriceListVersion:
        data = as_object(
            raw,
            path,
            InvalidDefinition,
            optional=(
                "version",
                "effective_from",
                "currency",
                "plan_variants",
                "recurring_components",
                "metered_components",
            ),
        )
        document = {
            "version": price_list.next_version,
            "currency": price_list.currency,
            "effective_from": now,
            **data,
        }
        return parse_price_list_version(document, path)

    async def price_list(self, price_list_id: str) -> dict[str, Any]:
        """``GET /v1/price-lists/{id}``: the header and the index of versions."""
        return (await self._info(price_list_id, "$.path.price_list_id")).to_json()

    async def price_lists(self, *, after: str | None, limit: int) -> dict[str, Any]:
        """``GET /v1/price-lists``: a page ordered by id; ``next_after`` fetches the next."""
        infos = await self._repository.page(after, limit + 1)  # one more: is there a next?
        page = infos[:limit]
        return {
            "items": [info.to_json() for info in page],
            "next_after": page[-1].id if len(infos) > limit else None,
        }

    async def version(self, price_list_id: str, number: int) -> dict[str, Any]:
        """``GET /v1/price-lists/{id}/versions/{n}``: one version, as it was written."""
        info = await self._info(price_list_id, "$.path.price_list_id")
        if not info.has_version(number):
            raise NotFound(
                "$.path.version", f"price list {price_list_id!r} has no version {number}"
            )
        return await self._version_json(price_list_id, number)

    async def version_at(self, price_list_id: str, at: object) -> dict[str, Any]:
        """``GET /v1/price-lists/{id}/version-at?at=T``: the version in effect at ``T``."""
        when = _instant(at, "$.query.at")
        info = await self._info(price_list_id, "$.path.price_list_id")
        return await self._version_json(price_list_id, info.version_at(when, "$.query.at"))

    async def _version_json(self, price_list_id: str, number: int) -> dict[str, Any]:
        versions = await self._cache.get(self._repository, [(price_list_id, number)])
        version = versions[(price_list_id, number)]
        return {"price_list_id": price_list_id, **price_list_version_to_json(version)}

    async def _info(self, price_list_id: str, path: str) -> PriceListInfo:
        info = (await self._repository.find([price_list_id])).get(price_list_id)
        if info is None:
            raise NotFound(path, f"no price list {price_list_id!r}")
        return info

    async def _price_list(self, price_list_id: str) -> PriceList:
        info = await self._info(price_list_id, "$.path.price_list_id")
        keys = [(price_list_id, ref.version) for ref in info.versions]
        versions = await self._cache.get(self._repository, keys)
        return PriceList(info.id, info.name, info.currency, tuple(versions[key] for key in keys))

    # quotes

    async def quote(self, body: object) -> dict[str, Any]:
        """``POST /v1/quotes``: a plan variant with its components over a billing period.

        The version is the one in effect at 00:00 UTC of ``period_start`` unless ``version``
        names one. ``billing_anchor`` (a date) places the period in its billing cycle: a
        period shorter than its cycle is prorated by actual days.
        """
        data = as_object(
            body,
            "$",
            InvalidInput,
            required=("price_list_id", "plan_variant_id", "period_start", "period_end"),
            optional=("version", "billing_anchor", "first_invoice", "booked", "usage"),
        )
        price_list_id = _text(data["price_list_id"], "$.price_list_id")
        plan_variant_id = _text(data["plan_variant_id"], "$.plan_variant_id")
        start = _day(data["period_start"], "$.period_start")
        end = _day(data["period_end"], "$.period_end")
        first_invoice = data.get("first_invoice", False)
        if type(first_invoice) is not bool:
            raise InvalidInput("$.first_invoice", "must be true or false")
        booked = _object_by_id(data.get("booked", {}), "$.booked")
        usage = _object_by_id(data.get("usage", {}), "$.usage")

        info = await self._info(price_list_id, "$.price_list_id")
        if "version" in data:
            number = _positive_int(data["version"], "$.version")
            if not info.has_version(number):
                raise NotFound("$.version", f"price list {price_list_id!r} has no version {number}")
        else:
            number = info.version_at(datetime.combine(start, time(), UTC), "$.period_start")
        version = (await self._cache.get(self._repository, [(price_list_id, number)]))[
            (price_list_id, number)
        ]

        full_period = None
        variant = version.plan_variants.get(plan_variant_id)
        if data.get("billing_anchor") is not None and variant is not None and start < end:
            anchor = _day(data["billing_anchor"], "$.billing_anchor")
            full_period = billing_cycle(anchor, variant.billing_period, start)
            if end > full_period[1]:
                raise InvalidInput(
                    "$.period_end",
                    f"must not be after {full_period[1].isoformat()}, the end of the billing"
                    f" cycle that holds period_start",
                )
        result = quote_plan_variant(
            version,
            plan_variant_id,
            start,
            end,
            booked=booked,
            usage=usage,
            first_invoice=first_invoice,
            full_period=full_period,
        )
        return {
            "price_list_id": price_list_id,
            **quote_to_json(result),
            "total_minor": to_minor_units(result.total, result.currency),
        }

    async def quote_batch(self, body: object) -> dict[str, Any]:
        """``POST /v1/quotes/batch``: price many ``{price_list_id, component, quantity, at}``.

        Each item uses the version of its price list in effect at ``at`` (no free quota).
        The answer holds one entry per item, in order: the priced item or its own error
        ``{"error": {"status", "detail", "field"}}``; only a malformed request as a whole
        (not an object, ``items`` missing, not a list or longer than 10,000) raises.
        """
        data = as_object(body, "$", InvalidInput, required=("items",))
        raw_items = as_list(data["items"], "$.items", InvalidInput)
        if len(raw_items) > MAX_BATCH_ITEMS:
            raise InvalidInput(
                "$.items", f"must hold at most {MAX_BATCH_ITEMS} items, got {len(raw_items)}"
            )
        with collector_paused():
            items: list[_Item | PricingError] = []
            for raw in raw_items:
                try:
                    items.append(_read_item(raw))
                except PricingError as error:
                    items.append(error)
        results = await self._price(items)
        out: list[Any] = []
        for index, result in enumerate(results):
            if isinstance(result, PricingError):
                out.append(_error_json(result.rebased(f"$.items[{index}]")))
            else:
                out.append(result)
        return {"items": out}

    async def _price(self, items: Sequence[_Item | PricingError]) -> list[Any]:
        """Price batch items: one query for the version indexes, cached definitions.

        Returns per item its JSON or its error (paths relative to the item); errors given
        in ``items`` pass through.
        """
        infos = await self._repository.find(
            {item.price_list_id for item in items if type(item) is _Item}
        )
        # First which version each item needs (so that missing definitions are read in one
        # go), then the prices. Errors stay in place: one per item, in order.
        keys: list[Any] = []
        for item in items:
            if type(item) is not _Item:
                keys.append(item)
                continue
            info = infos.get(item.price_list_id)
            try:
                if info is None:
                    raise NotFound("$.price_list_id", f"no price list {item.price_list_id!r}")
                keys.append((info.id, info.version_at(item.at, "$.at")))
            except PricingError as error:
                keys.append(error)
        versions = await self._cache.get(
            self._repository, {key for key in keys if type(key) is tuple}
        )
        results: list[Any] = []
        append = results.append
        with collector_paused():
            for item, key in zip(items, keys, strict=True):
                if type(key) is not tuple:
                    append(key)
                    continue
                try:  # an item with a key was read: it is an _Item
                    append(_priced(key[0], key[1], item, versions[key]))  # type: ignore[arg-type]
                except PricingError as error:
                    append(error)
        return results

    # credits for the ledger

    async def price_credits(self, body: object) -> dict[str, Any]:
        """``POST /v1/credits/price``: what ``credits`` credits cost in money at ``at``.

        ``{"price_list_id", "credits", "at"?}`` -> the batch item of the price list's
        ``credits`` component (``amount``, ``amount_minor``, tier lines).
        """
        return await self._price_one(body, "credits", CREDITS_COMPONENT, in_credits=False)

    async def credits_for_recipients(self, body: object) -> dict[str, Any]:
        """``POST /v1/credits/for-recipients``: the credits a mailing to N recipients costs.

        ``{"price_list_id", "recipients", "at"?}`` -> the batch item of the CREDITS price
        list's ``recipients`` component plus ``credits``: its amount, a whole number.
        """
        result = await self._price_one(body, "recipients", RECIPIENTS_COMPONENT, in_credits=True)
        return {**result, "credits": result["amount_minor"]}

    async def _price_one(
        self, body: object, count: str, component: str, *, in_credits: bool
    ) -> dict[str, Any]:
        # One item through the batch's code path, so the two can never disagree.
        data = as_object(
            body, "$", InvalidInput, required=("price_list_id", count), optional=("at",)
        )
        price_list_id = _text(data["price_list_id"], "$.price_list_id")
        quantity = _whole(data[count], child("$", count))
        at = _instant(data["at"], "$.at") if "at" in data else self._clock()
        [result] = await self._price([_Item(price_list_id, component, quantity, at)])
        if isinstance(result, PricingError):
            # The caller named a price list, not a component: point at what it sent.
            path = {"$.quantity": child("$", count), "$.component": "$.price_list_id"}
            raise type(result)(path.get(result.path, result.path), result.message)
        if (result["currency"] == CREDITS) != in_credits:
            expected = "CREDITS" if in_credits else "a money currency, not CREDITS"
            raise InvalidInput(
                "$.price_list_id",
                f"price list {price_list_id!r} is in {result['currency']}; expected {expected}",
            )
        return dict(result)


def _info_of(price_list: PriceList) -> PriceListInfo:
    return PriceListInfo(
        price_list.id,
        price_list.name,
        price_list.currency,
        tuple(VersionRef(v.version, v.effective_from) for v in price_list.versions),
    )
