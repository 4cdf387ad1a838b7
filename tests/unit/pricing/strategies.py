"""Hypothesis strategies: valid price models and price list versions, as decoded JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

D = Decimal

prices = st.decimals(min_value=0, max_value=1000, places=4)
quantities = st.decimals(min_value=0, max_value=100_000, places=3)
percents = st.decimals(min_value=0, max_value=100, places=2)
sizes = st.decimals(min_value=D("0.5"), max_value=5000, places=1)


def as_json_number(value: Decimal) -> st.SearchStrategy[Any]:
    """A decimal as the JSON layer may hand it over: a string or a ``Decimal``."""
    return st.sampled_from([str(value), value])


@st.composite
def bounds(draw: st.DrawFn, max_tiers: int = 5) -> list[Decimal | None]:
    """Strictly increasing ``up_to`` values above 0, the last one ``None``."""
    finite = draw(
        st.lists(
            st.decimals(min_value=D("0.01"), max_value=50_000, places=2),
            max_size=max_tiers - 1,
            unique=True,
        )
    )
    return [*sorted(finite), None]


def _bound(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@st.composite
def per_unit_model(draw: st.DrawFn, model: str) -> dict[str, Any]:
    tiers = []
    for up_to in draw(bounds()):
        tier: dict[str, Any] = {
            "up_to": _bound(up_to),
            "unit_price": draw(as_json_number(draw(prices))),
        }
        if draw(st.booleans()):
            tier["flat_fee"] = str(draw(prices))
        tiers.append(tier)
    return {"model": model, "tiers": tiers}


@st.composite
def bucket_model(draw: st.DrawFn) -> dict[str, Any]:
    limits = draw(bounds())
    tiers = []
    for up_to in limits[:-1]:
        tier: dict[str, Any] = {"up_to": _bound(up_to), "bucket_price": str(draw(prices))}
        if draw(st.booleans()):
            tier["bucket_size"] = str(draw(sizes))
        tiers.append(tier)
    if draw(st.booleans()):
        tiers.append({"up_to": None, "unit_price": str(draw(prices))})
    else:
        tiers.append(
            {"up_to": None, "bucket_price": str(draw(prices)), "bucket_size": str(draw(sizes))}
        )
    return {"model": "bucket", "tiers": tiers}


@st.composite
def discount_model(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {
        "model": "discount",
        "base_unit_price": str(draw(prices)),
        "tiers": [
            {"up_to": _bound(up_to), "discount_percent": str(draw(percents))}
            for up_to in draw(bounds())
        ],
    }
    mode = draw(st.sampled_from([None, "volume", "graduated"]))
    if mode is not None:
        data["mode"] = mode
    return data


price_model_json: st.SearchStrategy[dict[str, Any]] = st.one_of(
    prices.map(lambda p: {"model": "flat", "unit_price": str(p)}),
    per_unit_model("volume"),
    per_unit_model("graduated"),
    bucket_model(),
    discount_model(),
    st.builds(
        lambda size, price: {
            "model": "package",
            "package_size": str(size),
            "package_price": str(price),
        },
        sizes,
        prices,
    ),
    st.just({"model": "free"}),
)

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=12)
months_periods = st.sampled_from(["P1M", "P3M", "P6M", "P1Y"])


@st.composite
def price_list_version_json(draw: st.DrawFn) -> dict[str, Any]:
    """A valid version: components, and plan variants whose quotas name metered components."""
    component_ids = draw(st.lists(ids, max_size=5, unique=True))
    split = draw(st.integers(min_value=0, max_value=len(component_ids)))
    recurring, metered = component_ids[:split], component_ids[split:]
    plan_variants = {}
    for variant_id in draw(st.lists(ids, max_size=3, unique=True)):
        fee_period = draw(st.sampled_from(["P1M", "P3M", "P1W", "P1D"]))
        multiple = draw(st.integers(min_value=1, max_value=4))
        unit = fee_period[-1]
        count = int(fee_period[1:-1]) * multiple
        variant: dict[str, Any] = {
            "recurring_fee": str(draw(prices)),
            "fee_period": fee_period,
            "billing_period": f"P{count}{unit}",
            "setup_fee": str(draw(prices)),
            "included_quantities": {
                component_id: str(draw(quantities))
                for component_id in draw(st.lists(st.sampled_from(metered), unique=True))
            }
            if metered
            else {},
        }
        if draw(st.booleans()):
            variant["name"] = draw(st.text(min_size=1, max_size=20).filter(str.strip))
        plan_variants[variant_id] = variant
    return {
        "version": draw(st.integers(min_value=1, max_value=1000)),
        "effective_from": draw(
            st.datetimes(
                min_value=datetime(2000, 1, 1),
                max_value=datetime(2100, 1, 1),
                timezones=st.sampled_from([UTC, timezone(timedelta(hours=2))]),
            )
        ).isoformat(),
        "currency": draw(st.sampled_from(["EUR", "JPY", "BHD", "CREDITS"])),
        "plan_variants": plan_variants,
        "recurring_components": {
            component_id: {
                "name": f"Component {component_id}",
                "unit": "seat",
                "fee_period": draw(months_periods),
                "price": draw(price_model_json),
            }
            for component_id in recurring
        },
        "metered_components": {
            component_id: {"name": f"Metered {component_id}", "price": draw(price_model_json)}
            for component_id in metered
        },
    }
