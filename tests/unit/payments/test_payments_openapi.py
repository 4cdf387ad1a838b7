"""The payments API's OpenAPI document describes its answers: the webhook's receipt and its
problems."""

from typing import Any

from payments.api.app import create_app
from payments.settings import PaymentsSettings
from tests.openapi_checks import untyped_answers

DOCUMENT: dict[str, Any] = create_app(PaymentsSettings()).openapi()


def test_every_successful_answer_has_a_typed_body() -> None:
    assert untyped_answers(DOCUMENT) == []


def test_the_webhook_answers_a_receipt_or_problem_details() -> None:
    responses = DOCUMENT["paths"]["/v1/webhooks/stripe"]["post"]["responses"]
    ok = responses["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/WebhookReceipt"}
    receipt = DOCUMENT["components"]["schemas"]["WebhookReceipt"]
    assert receipt["required"] == ["received", "event_id", "result"]
    for status in ("400", "413"):
        problem = responses[status]["content"]["application/problem+json"]["schema"]
        assert problem == {"$ref": "#/components/schemas/ProblemDetails"}
