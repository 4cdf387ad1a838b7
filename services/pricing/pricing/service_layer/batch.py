"""Batch quotes, the ledger's hot path, and the two credit conveniences built on them.

How it is fast: one query per batch reads the version index of every price list the batch
names (so a version created a moment ago is used by the very next batch); definitions come
from the process's cache of immutable versions; items are read in one pydantic call and
priced on domain objects; the collector pauses while the batch allocates.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

from pricing.domain import (
    CREDITS,
    InvalidInput,
    PriceListVersion,
    PricingError,
    child,
    evaluate_component,
    evaluation_to_json,
    to_minor_units,
)
from pricing.service_layer.commands import (
    BatchItem,
    BatchQuoteRequest,
    CreditsForRecipientsRequest,
    CreditsPriceRequest,
    read,
)
from pricing.service_layer.errors import NotFound, status_of
from pricing.service_layer.use_cases import UseCases

RECIPIENTS_COMPONENT = "recipients"
"""Metered component of a CREDITS price list: credits per recipient of a mailing."""
CREDITS_COMPONENT = "credits"
"""Metered component of a money price list: the price of credits (volume tiers)."""


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


def _priced(price_list_id: str, number: int, item: BatchItem, version: PriceListVersion) -> Any:
    component = item["component"]
    evaluation = evaluate_component(version, component, item["quantity"])
    return {
        "price_list_id": price_list_id,
        "price_list_version": number,
        "component": component,
        **evaluation_to_json(evaluation),
        "amount_minor": to_minor_units(evaluation.amount, evaluation.currency),
    }


def _error_json(error: PricingError) -> dict[str, Any]:
    return {"error": {"status": status_of(error), "detail": error.message, "field": error.path}}


class BatchUseCases(UseCases):
    """``POST /v1/quotes/batch`` and the credits endpoints."""

    async def quote_batch(self, body: object) -> dict[str, Any]:
        """``POST /v1/quotes/batch``: price many ``{price_list_id, component, quantity, at}``.

        Each item uses the version of its price list in effect at ``at`` (no free quota).
        The answer holds one entry per item, in order: the priced item or its own error
        ``{"error": {"status", "detail", "field"}}``; only a malformed request as a whole
        (not an object, ``items`` missing, not a list or longer than 10,000) raises.
        """
        with collector_paused():
            items = read(BatchQuoteRequest, body).items
        results = await self._price(items)
        out: list[Any] = []
        for index, result in enumerate(results):
            if isinstance(result, PricingError):
                out.append(_error_json(result.rebased(f"$.items[{index}]")))
            else:
                out.append(result)
        return {"items": out}

    async def _price(self, items: Sequence[BatchItem | PricingError]) -> list[Any]:
        """Price batch items: one query for the version indexes, cached definitions.

        Returns per item its JSON or its error (paths relative to the item); errors given
        in ``items`` pass through.
        """
        infos = await self._repository.find(
            {item["price_list_id"] for item in items if type(item) is dict}
        )
        # First which version each item needs (so that missing definitions are read in one
        # go), then the prices. Errors stay in place: one per item, in order.
        keys: list[Any] = []
        for item in items:
            if type(item) is not dict:
                keys.append(item)
                continue
            info = infos.get(item["price_list_id"])
            try:
                if info is None:
                    raise NotFound("$.price_list_id", f"no price list {item['price_list_id']!r}")
                keys.append((info.id, info.version_at(item["at"], "$.at")))
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
                try:  # an item with a key was read: it is a BatchItem
                    append(_priced(key[0], key[1], item, versions[key]))  # type: ignore[arg-type]
                except PricingError as error:
                    append(error)
        return results

    async def price_credits(self, body: object) -> dict[str, Any]:
        """``POST /v1/credits/price``: what ``credits`` credits cost in money at ``at``.

        ``{"price_list_id", "credits", "at"?}`` -> the batch item of the price list's
        ``credits`` component (``amount``, ``amount_minor``, tier lines).
        """
        request = read(CreditsPriceRequest, body)
        return await self._price_one(
            request.price_list_id, request.credits, request.at, "credits", CREDITS_COMPONENT
        )

    async def credits_for_recipients(self, body: object) -> dict[str, Any]:
        """``POST /v1/credits/for-recipients``: the credits a mailing to N recipients costs.

        ``{"price_list_id", "recipients", "at"?}`` -> the batch item of the CREDITS price
        list's ``recipients`` component plus ``credits``: its amount, a whole number.
        """
        request = read(CreditsForRecipientsRequest, body)
        result = await self._price_one(
            request.price_list_id, request.recipients, request.at, "recipients",
            RECIPIENTS_COMPONENT,
        )  # fmt: skip
        return {**result, "credits": result["amount_minor"]}

    async def _price_one(
        self,
        price_list_id: str,
        quantity: Decimal,
        at: datetime | None,
        count: str,
        component: str,
    ) -> dict[str, Any]:
        # One item through the batch's code path, so the two can never disagree.
        item: BatchItem = {
            "price_list_id": price_list_id,
            "component": component,
            "quantity": quantity,
            "at": self._clock() if at is None else at,
        }
        [result] = await self._price([item])
        if isinstance(result, PricingError):
            # The caller named a price list, not a component: point at what it sent.
            path = {"$.quantity": child("$", count), "$.component": "$.price_list_id"}
            raise type(result)(path.get(result.path, result.path), result.message)
        in_credits = component == RECIPIENTS_COMPONENT
        if (result["currency"] == CREDITS) != in_credits:
            expected = "CREDITS" if in_credits else "a money currency, not CREDITS"
            raise InvalidInput(
                "$.price_list_id",
                f"price list {price_list_id!r} is in {result['currency']}; expected {expected}",
            )
        return dict(result)
