"""The pricing service seen from the ledger: one batch quote call per batch of mailings."""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

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
            response = await self._client.post("/v1/quotes/batch", json=body)
        except httpx.HTTPError as exc:
            raise PricingUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise PricingUnavailable(f"pricing answered {response.status_code}")
        if response.status_code != 200:
            # The whole request was refused: a bug on our side, not bad input from one mailing.
            raise RuntimeError(f"pricing refused the batch: {response.status_code} {response.text}")
        results: list[PricedItem | RejectedItem] = []
        for item in response.json()["items"]:
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

    async def quote(self, request: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/quotes``: the answer as it is."""
        return await self._call("POST", "/v1/quotes", json=request)
