"""The ledger's OpenAPI document describes every answer with a typed model."""

from typing import Any

from ledger.api.app import create_app
from ledger.settings import LedgerSettings
from tests.openapi_checks import untyped_answers

DOCUMENT: dict[str, Any] = create_app(LedgerSettings()).openapi()


def _ok(path: str, method: str = "get") -> dict[str, Any]:
    response: dict[str, Any] = DOCUMENT["paths"][path][method]["responses"]["200"]
    return response


def test_usage_routes_answer_json_models_or_csv() -> None:
    for path, model in (
        ("/v1/partners/{partner_id}/customers/{customer_id}/usage", "CustomerUsageReport"),
        ("/v1/partners/{partner_id}/usage", "PartnerUsageReport"),
    ):
        content = _ok(path)["content"]
        assert content["application/json"]["schema"]["$ref"].endswith(f"/{model}")
        assert "text/csv" in content


def test_contract_and_statement_routes_are_typed() -> None:
    contract = "/v1/partners/{partner_id}/customers/{customer_id}/contract"
    for method in ("get", "put"):
        schema = _ok(contract, method)["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/ContractView")
    content = _ok("/v1/partners/{partner_id}/customers/{customer_id}/statement")["content"]
    assert content["application/json"]["schema"]["$ref"].endswith("/StatementView")
    assert {"text/csv", "text/html"} <= set(content)
    report = DOCUMENT["components"]["schemas"]["CustomerUsageReport"]
    assert "from" in report["properties"]


def test_every_successful_answer_has_a_typed_body() -> None:
    assert untyped_answers(DOCUMENT) == []


def test_partner_routes_answer_named_models() -> None:
    expected = {
        ("post", "/v1/partners", "201"): "RegisteredPartner",
        ("get", "/v1/partners/{partner_id}", "200"): "Partner",
        ("post", "/v1/partners/{partner_id}/customers", "201"): "Customer",
        ("get", "/v1/partners/{partner_id}/customers", "200"): "CustomerList",
        ("get", "/v1/partners/{partner_id}/balance", "200"): "Balance",
        ("get", "/v1/partners/{partner_id}/events", "200"): "EventPage",
        ("get", "/v1/partners/{partner_id}/billing", "200"): "Billing",
        ("put", "/v1/partners/{partner_id}/billing", "200"): "Billing",
        ("post", "/v1/partners/{partner_id}/purchases", "202"): "PurchaseRequested",
        ("post", "/v1/partners/{partner_id}/reservations", "201"): "Reservation",
        ("get", "/v1/partners/{partner_id}/reservations/{reservation_id}", "200"): "Reservation",
        (
            "post",
            "/v1/partners/{partner_id}/reservations/{reservation_id}/release",
            "200",
        ): "Reservation",
        ("post", "/v1/partners/{partner_id}/credits/grants", "201"): "Balance",
        ("post", "/v1/partners/{partner_id}/credits/adjustments", "201"): "Balance",
        ("post", "/v1/partners/{partner_id}/debt/settlements", "201"): "Balance",
    }
    for (method, path, status), model in expected.items():
        response = DOCUMENT["paths"][path][method]["responses"][status]
        schema = response["content"]["application/json"]["schema"]
        assert schema["$ref"] == f"#/components/schemas/{model}", (method, path)


def test_answers_keep_their_types_and_present_nulls() -> None:
    """Money and counts are integers; fields that may be null are still required (always in
    the body, as null), so a client reads them without guessing."""
    schemas = DOCUMENT["components"]["schemas"]
    balance = schemas["Balance"]
    assert {name: p["type"] for name, p in balance["properties"].items()} == {
        "partner_id": "string",
        "balance": "integer",
        "held": "integer",
        "available": "integer",
        "debt": "integer",
        "debt_minor": "integer",
        "version": "integer",
    }
    assert set(schemas["Billing"]["required"]) == {
        "billing_mode",
        "reminder_threshold",
        "auto_purchase",
        "payment_method",
    }
    reservation = schemas["Reservation"]
    assert "mailing_id" in reservation["required"]
    assert reservation["properties"]["expires_at"] == {
        "format": "date-time",
        "title": "Expires At",
        "type": "string",
    }
    assert schemas["PurchaseRequested"]["properties"]["amount_minor"]["type"] == "integer"
    method = schemas["PaymentMethodOnFile"]
    assert method["additionalProperties"] == {"type": "string"}


def test_operations_are_named_after_their_routes() -> None:
    """A generated client calls `get_balance`, not `get_balance_v1_partners__partner_id_..`."""
    ids = {
        operation["operationId"]
        for path, operations in DOCUMENT["paths"].items()
        if path.startswith("/v1/partners")
        for operation in operations.values()
    }
    assert {"create_partner", "add_customer", "create_reservation", "get_balance"} <= ids
    assert {"list_events", "get_statement", "put_contract"} <= ids
