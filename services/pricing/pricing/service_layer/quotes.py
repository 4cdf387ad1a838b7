"""Quotes of a plan variant with its components over a billing period."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from pricing.domain import InvalidInput, billing_cycle, quote_to_json, to_minor_units
from pricing.domain import quote as quote_plan_variant
from pricing.service_layer.commands import QuoteRequest, read
from pricing.service_layer.errors import NotFound
from pricing.service_layer.use_cases import UseCases


class QuoteUseCases(UseCases):
    """``POST /v1/quotes``."""

    async def quote(self, body: object) -> dict[str, Any]:
        """``POST /v1/quotes``: a plan variant with its components over a billing period.

        The version is the one in effect at 00:00 UTC of ``period_start`` unless ``version``
        names one. ``billing_anchor`` (a date) places the period in its billing cycle: a
        period shorter than its cycle is prorated by actual days.
        """
        request = read(QuoteRequest, body)
        price_list_id, start, end = request.price_list_id, request.period_start, request.period_end
        info = await self._info(price_list_id, "$.price_list_id")
        if request.version is not None:
            number = request.version
            if not info.has_version(number):
                raise NotFound("$.version", f"price list {price_list_id!r} has no version {number}")
        else:
            number = info.version_at(datetime.combine(start, time(), UTC), "$.period_start")
        version = await self._version(price_list_id, number)

        full_period = None
        variant = version.plan_variants.get(request.plan_variant_id)
        if request.billing_anchor is not None and variant is not None and start < end:
            full_period = billing_cycle(request.billing_anchor, variant.billing_period, start)
            if end > full_period[1]:
                raise InvalidInput(
                    "$.period_end",
                    f"must not be after {full_period[1].isoformat()}, the end of the billing"
                    f" cycle that holds period_start",
                )
        result = quote_plan_variant(
            version,
            request.plan_variant_id,
            start,
            end,
            booked=request.booked,
            usage=request.usage,
            first_invoice=request.first_invoice,
            full_period=full_period,
        )
        return {
            "price_list_id": price_list_id,
            **quote_to_json(result),
            "total_minor": to_minor_units(result.total, result.currency),
        }
