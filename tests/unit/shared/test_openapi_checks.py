"""`tests.openapi_checks.untyped_answers` finds what a generated client would get as a dict."""

from typing import Any

from tests.openapi_checks import untyped_answers


def _document(responses: dict[str, Any], schemas: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "paths": {"/things": {"get": {"responses": responses}, "parameters": []}},
        "components": {"schemas": schemas or {}},
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": "", "content": {"application/json": {"schema": schema}}}


def test_typed_bodies_and_bodiless_answers_pass() -> None:
    thing = {"type": "object", "properties": {"id": {"type": "string"}}}
    document = _document(
        {
            "200": _json({"$ref": "#/components/schemas/Thing"}),
            "201": _json({"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}),
            "202": _json({"type": "object", "additionalProperties": {"type": "integer"}}),
            "204": {"description": "nothing"},
            "404": {"description": "not found"},
        },
        {"Thing": thing},
    )
    assert untyped_answers(document) == []


def test_shapeless_and_missing_bodies_are_named() -> None:
    document = _document(
        {
            "200": _json({}),
            "201": _json({"type": "object", "additionalProperties": True, "title": "Any"}),
            "202": {"description": "no content"},
            "203": _json({"$ref": "#/components/schemas/Missing"}),
            "206": _json({"$ref": "#/components/schemas/Loose"}),
            "207": _json({"anyOf": [{"type": "string"}, {}]}),
        },
        {"Loose": {"type": "object"}},
    )
    assert untyped_answers(document) == [
        "GET /things 200 application/json: no schema",
        "GET /things 201 application/json: an object of any shape",
        "GET /things 202: no content",
        "GET /things 203 application/json: #/components/schemas/Missing names no schema",
        "GET /things 206 application/json: an object of any shape",
        "GET /things 207 application/json: no schema",
    ]
