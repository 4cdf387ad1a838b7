"""The OpenAPI document: a named example for every price model, real responses, sound refs."""

from typing import Any

import pytest
from pydantic import TypeAdapter

from pricing.api.app import create_app
from pricing.domain import MODELS
from pricing.service_layer.evaluation import evaluate
from pricing.service_layer.price_model_schemas import PriceModelSchema
from pricing.settings import PricingSettings
from tests.openapi_checks import untyped_answers

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


def test_every_success_answer_has_a_schema() -> None:
    missing = [
        f"{method.upper()} {path} {status}"
        for path, operations in DOCUMENT["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status.startswith("2")
        and not any("schema" in media for media in response.get("content", {}).values())
    ]

    assert DOCUMENT["paths"], "no paths in the document"
    assert missing == []


def test_every_successful_answer_has_a_typed_body() -> None:
    # Not just a schema: one a generated client can type (no bare object, no `{}`).
    assert untyped_answers(DOCUMENT) == []


def test_the_registry_the_request_schema_and_the_document_name_the_same_models() -> None:
    union = TypeAdapter(PriceModelSchema).json_schema()
    in_union = {
        union["$defs"][ref.removeprefix("#/$defs/")]["properties"]["model"]["const"]
        for ref in union["discriminator"]["mapping"].values()
    }
    schemas = DOCUMENT["components"]["schemas"]
    evaluate_price = schemas["EvaluateRequest"]["properties"]["price"]
    in_document = set(evaluate_price["discriminator"]["mapping"])
    for ref in evaluate_price["discriminator"]["mapping"].values():
        assert ref.removeprefix("#/components/schemas/") in schemas, ref

    assert set(MODELS) == in_union == in_document
    assert set(evaluate_price["discriminator"]["mapping"]) == set(union["discriminator"]["mapping"])
