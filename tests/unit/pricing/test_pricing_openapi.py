"""The OpenAPI document: a named example for every price model, real responses, sound refs."""

from typing import Any

import pytest

from pricing.api.app import create_app
from pricing.domain import MODELS
from pricing.service_layer.evaluation import evaluate
from pricing.settings import PricingSettings

# The engine connects lazily: building the document needs no database.
DOCUMENT: dict[str, Any] = create_app(
    PricingSettings(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none")
).openapi()


def body_examples(path: str) -> dict[str, Any]:
    content = DOCUMENT["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    examples: dict[str, Any] = content["examples"]
    return examples


def refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


def test_evaluate_has_a_named_example_of_every_price_model() -> None:
    examples = body_examples("/v1/evaluate")

    assert {example["value"]["price"]["model"] for example in examples.values()} == set(MODELS)
    modes = {e["value"]["price"].get("mode") for e in examples.values()}
    assert {"volume", "graduated"} <= modes


def test_the_response_examples_of_evaluate_are_what_the_engine_answers() -> None:
    requests = body_examples("/v1/evaluate")
    content = DOCUMENT["paths"]["/v1/evaluate"]["post"]["responses"]["200"]["content"]
    responses = content["application/json"]["examples"]

    assert set(responses) == set(requests)
    for name, example in requests.items():
        assert responses[name]["value"] == evaluate(example["value"]), name


@pytest.mark.parametrize(
    "path",
    [
        "/v1/evaluate",
        "/v1/price-lists",
        "/v1/price-lists/{price_list_id}/versions",
        "/v1/quotes",
        "/v1/quotes/batch",
        "/v1/credits/price",
        "/v1/credits/for-recipients",
    ],
)
def test_every_request_body_has_a_schema_and_examples(path: str) -> None:
    content = DOCUMENT["paths"][path]["post"]["requestBody"]["content"]["application/json"]

    assert content["schema"]["$ref"].startswith("#/components/schemas/")
    assert content["examples"]


def test_every_reference_resolves() -> None:
    schemas = DOCUMENT["components"]["schemas"]

    missing = {
        ref for ref in refs(DOCUMENT) if ref.removeprefix("#/components/schemas/") not in schemas
    }
    assert missing == set()
