"""Properties of the pricing rules over generated models, quantities and versions.

The reference below reads the spec's table literally (a plain loop over the JSON tiers,
nothing precomputed) so that the fast evaluation is checked against an independent one.
"""

from __future__ import annotations

import json
from decimal import ROUND_CEILING, Decimal, localcontext
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.domain import (
    evaluate,
    parse_price_list_version,
    parse_price_model,
    price_list_version_to_json,
    price_model_to_json,
    round_money,
)

from .strategies import per_unit_model, price_list_version_json, price_model_json, quantities

D = Decimal
FAST = settings(max_examples=200, deadline=None)


def _ceil(value: Decimal) -> Decimal:
    return value.to_integral_value(rounding=ROUND_CEILING)


def reference(model: dict[str, Any], q: Decimal) -> Decimal:
    """The spec's table for quantity q (already net of any free quota)."""
    with localcontext() as context:
        context.prec = 200
        name = model["model"]
        if name == "flat":
            return q * D(model["unit_price"])
        if name == "free":
            return D(0)
        if name == "package":
            return _ceil(q / D(model["package_size"])) * D(model["package_price"])
        tiers = model.get("tiers", [])
        tops = [None if t["up_to"] is None else D(t["up_to"]) for t in tiers]
        lows = [D(0), *(top for top in tops[:-1] if top is not None)]

        def units(i: int) -> Decimal:
            top = tops[i]
            return max(D(0), (q if top is None else min(q, top)) - lows[i])

        def holding() -> int:  # the tier holding q; the first one at q = 0
            return next(i for i, top in enumerate(tops) if top is None or q <= top)

        if name in ("volume", "graduated"):
            prices = [D(t["unit_price"]) for t in tiers]
            fees = [D(t.get("flat_fee") or 0) for t in tiers]
            if name == "volume":
                k = holding()
                return q * prices[k] + fees[k]
            reached = [i for i in range(len(tiers)) if i == 0 or q > lows[i]]
            return sum((units(i) * prices[i] + fees[i] for i in reached), D(0))
        if name == "discount":
            base = D(model["base_unit_price"])
            rates = [base * (1 - D(t["discount_percent"]) / 100) for t in tiers]
            if model.get("mode", "volume") == "volume":
                return q * rates[holding()]
            return sum((units(i) * rates[i] for i in range(len(tiers))), D(0))
        assert name == "bucket"
        total = D(0)
        for i, tier in enumerate(tiers):
            if "unit_price" in tier:
                total += units(i) * D(tier["unit_price"])
            else:
                top = tops[i]
                size = D(tier["bucket_size"]) if "bucket_size" in tier else top - lows[i]  # type: ignore[operator]
                total += _ceil(units(i) / size) * D(tier["bucket_price"])
        return total


@FAST
@given(definition=price_model_json, quantity=quantities, included=quantities | st.just(D(0)))
def test_evaluation_matches_the_spec_table_and_its_own_invariants(
    definition: dict[str, Any], quantity: Decimal, included: Decimal
) -> None:
    model = parse_price_model(definition)
    evaluation = evaluate(model, quantity, "EUR", included)
    ignores_quota = definition["model"] == "bucket"
    billable = quantity if ignores_quota else max(D(0), quantity - included)

    assert evaluation.quantity == quantity
    assert evaluation.billable_quantity == billable
    assert 0 <= evaluation.billable_quantity <= quantity
    assert evaluation.exact_amount == reference(definition, billable)
    assert sum((line.amount for line in evaluation.lines), D(0)) == evaluation.exact_amount
    assert evaluation.amount == round_money(evaluation.exact_amount, "EUR")
    for line in evaluation.lines:
        per = line.unit_price if line.unit_price is not None else line.bucket_price
        count = line.quantity if line.unit_price is not None else line.buckets
        assert per is not None and count is not None
        assert line.amount == count * per + line.flat_fee
    whole = definition["model"] == "volume" or (
        definition["model"] == "discount" and definition.get("mode", "volume") == "volume"
    )
    for line in evaluation.lines:
        if whole:  # one line: the tier holding the billable quantity prices all of it
            assert line.quantity == billable
            assert line.from_ < billable or line.tier == 1
            assert line.to is None or billable <= line.to
        else:  # one line per tier touched, each with the units inside that tier
            assert line.to is None or line.from_ + line.quantity <= line.to


@FAST
@given(definition=per_unit_model("graduated"), a=quantities, b=quantities)
def test_graduated_prices_never_decrease_as_the_quantity_grows(
    definition: dict[str, Any], a: Decimal, b: Decimal
) -> None:
    model = parse_price_model(definition)
    low, high = sorted((a, b))
    assert evaluate(model, low, "EUR").exact_amount <= evaluate(model, high, "EUR").exact_amount


@FAST
@given(definition=price_model_json)
def test_every_model_survives_its_canonical_json_and_a_json_text_round_trip(
    definition: dict[str, Any],
) -> None:
    model = parse_price_model(definition)
    canonical = price_model_to_json(model)
    assert parse_price_model(canonical) == model
    text = json.dumps(canonical)
    assert parse_price_model(json.loads(text, parse_float=Decimal)) == model
    assert price_model_to_json(parse_price_model(json.loads(text))) == canonical


@settings(max_examples=60, deadline=None)
@given(document=price_list_version_json())
def test_every_version_survives_its_canonical_json_and_a_json_text_round_trip(
    document: dict[str, Any],
) -> None:
    version = parse_price_list_version(document)
    canonical = price_list_version_to_json(version)
    assert parse_price_list_version(canonical) == version
    text = json.dumps(canonical)
    assert parse_price_list_version(json.loads(text, parse_float=Decimal)) == version
