"""The answers the use cases give are what the OpenAPI document says they are.

The routes encode the use cases' dicts themselves, so nothing at run time checks them against
the declared ``response_model``: this test does, on the answers the document shows as examples
(computed by the use cases on the canonical example lists) and on every price model.
"""

from typing import Any

import pytest
from pydantic import BaseModel

from pricing.api import responses
from pricing.api.openapi import EXAMPLES_AT, build_examples
from pricing.bootstrap import in_memory_service
from pricing.domain import MODELS
from pricing.examples import PRICE_MODELS
from pricing.service_layer.evaluation import evaluate

EXAMPLES = build_examples(in_memory_service(lambda: EXAMPLES_AT))
MODEL_OF: dict[str, type[BaseModel]] = {
    "POST /v1/evaluate": responses.Evaluation,
    "POST /v1/price-lists/{price_list_id}/versions": responses.PriceListVersion,
    "POST /v1/quotes": responses.Quote,
    "POST /v1/quotes/batch": responses.BatchQuoteResponse,
    "POST /v1/credits/price": responses.PricedItem,
    "POST /v1/credits/for-recipients": responses.CreditsForRecipients,
}


def answers() -> list[tuple[str, str, Any]]:
    return [
        (route, name, example["value"])
        for route, found in EXAMPLES.items()
        for name, example in found.get("response", {}).items()
    ]


def test_every_route_with_an_example_answer_has_its_model_here() -> None:
    assert {route for route, _, _ in answers()} == set(MODEL_OF)


@pytest.mark.parametrize(("route", "name", "answer"), answers())
def test_an_example_answer_fits_its_response_model(route: str, name: str, answer: Any) -> None:
    MODEL_OF[route].model_validate(answer)


def test_the_batch_example_holds_a_priced_item_and_an_item_error() -> None:
    [(_, _, answer)] = [a for a in answers() if a[0] == "POST /v1/quotes/batch"]

    assert answer["items"][0]["amount"] == "5250"
    assert answer["items"][1] == {
        "error": {
            "status": 404,
            "detail": "no price list 'no-such-list'",
            "field": "$.items[1].price_list_id",
        }
    }


def test_the_canonical_examples_show_every_price_model() -> None:
    assert {price["model"] for _, price, _ in PRICE_MODELS.values()} == set(MODELS)


@pytest.mark.parametrize("name", sorted(PRICE_MODELS))
def test_the_evaluation_of_every_model_fits_its_response_model(name: str) -> None:
    _, price, quantity = PRICE_MODELS[name]
    responses.Evaluation.model_validate(
        evaluate({"price": price, "quantity": quantity, "currency": "EUR"})
    )


def test_an_answer_with_a_field_the_document_does_not_show_is_refused() -> None:
    _, price, quantity = PRICE_MODELS["flat"]
    answer = evaluate({"price": price, "quantity": quantity, "currency": "EUR"})

    with pytest.raises(ValueError, match="extra"):
        responses.Evaluation.model_validate({**answer, "surprise": 1})
