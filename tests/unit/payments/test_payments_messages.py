"""Results on the wire: valid against the shared schema, with ids stable per status."""

from dataclasses import replace
from datetime import UTC, datetime

from payments.domain.outcomes import Outcome
from payments.domain.requests import PaymentRequest
from payments.service_layer.messages import payment_result, result_id
from payments.service_layer.ports import Attempt
from shared.codec import decode, encode

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ATTEMPT = Attempt(
    request=PaymentRequest("pu1", "purchase", "p1", 1000, "EUR", None, "m1"),
    gateway="stripe",
    status="charging",
    tries=1,
    created_at=NOW,
    gateway_reference=None,
)


def test_a_failed_result() -> None:
    event = payment_result(
        ATTEMPT, "failed", Outcome("failed", "pi_9", "insufficient_funds", "no money", True), NOW
    )
    decoded = decode(encode(event))
    assert decoded.type == "payments.payment_result"
    assert decoded.subject == "pu1"
    assert decoded.id == result_id("pu1", "failed")
    assert decoded.data == {
        "partner_id": "p1",
        "request_id": "pu1",
        "kind": "purchase",
        "status": "failed",
        "amount_minor": 1000,
        "currency": "EUR",
        "reason": "no money",
        "code": "insufficient_funds",
        "retryable": True,
        "gateway": "stripe",
        "gateway_reference": "pi_9",
        "occurred_at": "2026-11-23T12:00:00+00:00",
    }


def test_success_carries_no_failure_fields() -> None:
    data = payment_result(
        replace(ATTEMPT, gateway_reference="pi_1"), "succeeded", Outcome("succeeded"), NOW
    ).data
    assert (data["status"], data["reason"], data["code"], data["retryable"]) == (
        "succeeded",
        None,
        None,
        False,
    )
    assert data["gateway_reference"] == "pi_1"


def test_result_ids() -> None:
    assert result_id("pu1", "succeeded") == result_id("pu1", "succeeded")
    assert (
        len(
            {
                result_id("pu1", "succeeded"),
                result_id("pu1", "returned"),
                result_id("pu2", "succeeded"),
            }
        )
        == 3
    )
