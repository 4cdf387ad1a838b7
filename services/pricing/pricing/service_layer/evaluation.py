"""The stateless calculator: a price model given in the request, priced for a quantity."""

from __future__ import annotations

from typing import Any

from pricing.domain import evaluate as evaluate_model
from pricing.domain import evaluation_to_json
from pricing.service_layer.commands import EvaluateRequest, read


def evaluate(body: object) -> dict[str, Any]:
    """``POST /v1/evaluate``: price a quantity with a price model given in the request.

    ``{"price": <model>, "quantity": "121", "currency": "EUR", "included_quantity": "0"}``
    -> the evaluation (exact and rounded amount, one line per tier). The model is read once
    and remembered (:func:`pricing.service_layer.commands.remembered_price_model`).
    """
    request = read(EvaluateRequest, body)
    return evaluation_to_json(
        evaluate_model(request.price, request.quantity, request.currency, request.included_quantity)
    )
