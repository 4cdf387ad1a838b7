"""Checks any service's OpenAPI document can be put through (`from tests.openapi_checks import
untyped_answers`): every successful answer must say what its body is, so that a generated client
gets a typed object and not a bare dict."""

from typing import Any

# Answers that carry no body by definition (RFC 9110): nothing to describe.
BODILESS = {"204", "205", "304"}


def untyped_answers(document: dict[str, Any]) -> list[str]:
    """Every 2xx answer of ``document`` whose body has no schema, or only a shapeless one
    (`{}`, or an object with neither properties nor typed additional properties, as
    `dict[str, Any]` comes out), as `"METHOD /path STATUS media-type: why"`; empty when all
    are typed. A `$ref` must name a schema the document has."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    found: list[str] = []
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue  # a path-level `parameters`, `summary`, ...
            for status, response in operation["responses"].items():
                if not status.startswith("2") or status in BODILESS:
                    continue
                where = f"{method.upper()} {path} {status}"
                content = response.get("content") or {}
                if not content:
                    found.append(f"{where}: no content")
                for media_type, body in content.items():
                    why = _shapeless(body.get("schema"), schemas)
                    if why:
                        found.append(f"{where} {media_type}: {why}")
    return found


def _shapeless(schema: dict[str, Any] | None, schemas: dict[str, Any]) -> str | None:
    if not schema:
        return "no schema"
    reference = schema.get("$ref")
    if reference is not None:
        name = str(reference).removeprefix("#/components/schemas/")
        if name not in schemas:
            return f"{reference} names no schema"
        return _shapeless(schemas[name], schemas)
    alternatives = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if alternatives:
        for alternative in alternatives:
            why = _shapeless(alternative, schemas)
            if why:
                return why
        return None
    if schema.get("type") == "object" and not schema.get("properties"):
        extra = schema.get("additionalProperties", True)
        if extra is True or extra == {}:
            return "an object of any shape"
    if "type" not in schema and "enum" not in schema and "const" not in schema:
        return "no type"
    return None
