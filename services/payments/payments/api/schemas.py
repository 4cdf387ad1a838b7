"""Answers of the payments API."""

from pydantic import BaseModel, Field

from payments.domain.outcomes import AttemptStatus


class WebhookReceipt(BaseModel):
    """Stripe's event was verified and recorded (a redelivery changes nothing)."""

    received: bool = Field(description="Always true: Stripe need not send it again")
    event_id: str
    result: AttemptStatus | None = Field(
        description="The payment's new status, or null when the event changed none (seen"
        " before, or of a kind that settles nothing)"
    )
