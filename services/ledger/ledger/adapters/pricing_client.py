"""The pricing service seen from the ledger: one batch quote call per batch of mailings."""

import bisect
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson

from ledger.service_layer.ports import (
    PlanVersion,
    PricedItem,
    PricingRefused,
    PricingUnavailable,
    QuoteItem,
    RejectedItem,
)

QUOTE_FIELDS = (
    "component",
    "currency",
    "quantity",
    "billable_quantity",
    "exact_amount",
    "amount",
    "amount_minor",
    "lines",
)


class PricingClient:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def quote_batch(self, items: Sequence[QuoteItem]) -> list[PricedItem | RejectedItem]:
        """One result per item, in the same order."""
        if not items:
            return []
        body = {
            "items": [
                {
                    "price_list_id": i.price_list_id,
                    "component": i.component,
                    "quantity": str(i.quantity),
                    "at": i.at.isoformat(),
                }
                for i in items
            ]
        }
        try:
            # orjson both ways: on a live stream every batch is quoted here, and the standard
            # library's JSON took over a quarter of this call's time in the consumer.
            response = await self._client.post(
                "/v1/quotes/batch",
                content=orjson.dumps(body),
                headers={"content-type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise PricingUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise PricingUnavailable(f"pricing answered {response.status_code}")
        if response.status_code != 200:
            # The whole request was refused: a bug on our side, not bad input from one mailing.
            raise RuntimeError(f"pricing refused the batch: {response.status_code} {response.text}")
        results: list[PricedItem | RejectedItem] = []
        for item in orjson.loads(response.content)["items"]:
            if "error" in item:
                results.append(RejectedItem(item["error"]["detail"]))
            else:
                results.append(
                    PricedItem(
                        price_list_id=item["price_list_id"],
                        price_list_version=item["price_list_version"],
                        currency=item["currency"],
                        amount=Decimal(item["amount"]),
                        # What an audit needs to recompute the price; the list and version
                        # are kept beside it.
                        quote={key: item[key] for key in QUOTE_FIELDS if key in item},
                    )
                )
        return results

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise PricingUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise PricingUnavailable(f"pricing answered {response.status_code}")
        body: dict[str, Any] = response.json()
        if response.status_code != 200:
            errors = body.get("errors") or [{}]
            raise PricingRefused(
                response.status_code, errors[0].get("field"), str(body.get("detail", body))
            )
        return body

    async def version_at(self, price_list_id: str, at: datetime) -> PlanVersion:
        """``GET /v1/price-lists/{id}/version-at``, reduced to what contracts need.

        Pricing answers 404 both for no such list and for no version yet; the second is
        told apart (``field`` ``$.at``) by reading the list itself.
        """
        try:
            body = await self._call(
                "GET",
                f"/v1/price-lists/{price_list_id}/version-at",
                params={"at": at.isoformat()},
            )
        except PricingRefused as refused:
            if refused.status != 404:
                raise
            await self._call("GET", f"/v1/price-lists/{price_list_id}")  # 404: no such list
            raise PricingRefused(404, "$.at", refused.detail) from None
        return PlanVersion(
            price_list_id=price_list_id,
            version=body["version"],
            currency=body["currency"],
            billing_periods={
                vid: v.get("billing_period") or v["fee_period"]
                for vid, v in body["plan_variants"].items()
            },
            recurring_components=frozenset(body["recurring_components"]),
            metered_components=frozenset(body["metered_components"]),
        )

    async def price_list(self, price_list_id: str) -> dict[str, Any]:
        """``GET /v1/price-lists/{id}``: the header and its versions' ``effective_from``."""
        return await self._call("GET", f"/v1/price-lists/{price_list_id}")

    async def quote(self, request: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/quotes``: the answer as it is."""
        return await self._call("POST", "/v1/quotes", json=request)


class _VersionIndex:
    """A price list's versions as pricing listed them at ``as_of``: which version is in effect
    at any time up to ``as_of`` is settled, since a version never takes effect in the past."""

    def __init__(self, starts: list[tuple[datetime, int]], read_at: datetime, skew: timedelta):
        self.starts = [at for at, _ in starts]  # effective_from, in order
        self.versions = [version for _, version in starts]
        self.read_at = read_at
        self.as_of = read_at - skew

    def version_at(self, at: datetime) -> int | None:
        found = bisect.bisect_right(self.starts, at)
        return self.versions[found - 1] if found else None


class CachedQuotes:
    """The pricing client with the quotes of immutable price list versions kept in memory.

    A version never changes, so the quote for a quantity of its component is the same quote
    every time; and which version is in effect at a time up to the moment the list was read is
    settled (versions are never retroactive). Items the cache cannot answer for sure (a time
    after the list was last read, allowing ``clock_skew`` between the services' clocks; a new
    quantity) go to pricing in one batch call. Refusals are not kept.
    """

    def __init__(
        self,
        client: PricingClient,
        *,
        max_quotes: int = 200_000,
        clock_skew: timedelta = timedelta(seconds=1),
        reread_every: timedelta = timedelta(milliseconds=200),
    ) -> None:
        self._client = client
        self._quotes: dict[tuple[str, int, str, int], PricedItem] = {}
        self._indexes: dict[str, _VersionIndex] = {}
        self._max = max_quotes
        self._skew = clock_skew
        self._reread = reread_every

    async def _index(self, price_list_id: str, latest: datetime) -> _VersionIndex | None:
        index = self._indexes.get(price_list_id)
        now = datetime.now(UTC)
        if index is not None and (latest <= index.as_of or now - index.read_at < self._reread):
            return index
        try:
            body = await self._client.price_list(price_list_id)
        except PricingRefused:
            return None  # e.g. no such list: pricing itself says so per item
        starts = [
            (datetime.fromisoformat(v["effective_from"]), int(v["version"]))
            for v in body["versions"]
        ]
        index = _VersionIndex(sorted(starts), now, self._skew)
        self._indexes[price_list_id] = index
        return index

    async def quote_batch(self, items: Sequence[QuoteItem]) -> list[PricedItem | RejectedItem]:
        results: list[PricedItem | RejectedItem | None] = [None] * len(items)
        latest: dict[str, datetime] = {}
        for item in items:
            seen = latest.get(item.price_list_id)
            if seen is None or item.at > seen:
                latest[item.price_list_id] = item.at
        indexes = {pid: await self._index(pid, at) for pid, at in latest.items()}
        quotes = self._quotes
        missing: list[int] = []
        for n, (price_list_id, component, quantity, at) in enumerate(items):
            index = indexes[price_list_id]
            version = index.version_at(at) if index is not None and at <= index.as_of else None
            cached = (
                quotes.get((price_list_id, version, component, quantity))
                if version is not None
                else None
            )
            if cached is None:
                missing.append(n)
            else:
                results[n] = cached
        if missing:
            answers = await self._client.quote_batch([items[n] for n in missing])
            if len(self._quotes) + len(missing) > self._max:
                self._quotes.clear()  # rarely: the set of quantities in use is small
            for n, answer in zip(missing, answers, strict=True):
                results[n] = answer
                if isinstance(answer, PricedItem):
                    key = (answer.price_list_id, answer.price_list_version, items[n].component)
                    self._quotes[(*key, items[n].quantity)] = answer
        return [r for r in results if r is not None]  # every item has its answer by now
