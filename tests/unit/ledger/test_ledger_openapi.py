"""The ledger's OpenAPI document describes the customer billing routes with typed answers."""

from typing import Any

from ledger.api.app import create_app
from ledger.settings import LedgerSettings

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
