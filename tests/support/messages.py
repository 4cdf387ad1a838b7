"""Builders for messages other systems publish to us (the mailing platform's `mailing.sent`).

Simulators, benchmarks and tests build them here, so they all speak the contract in `schemas/`.
"""

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from shared.codec import to_document
from shared.envelope import CloudEvent

PLATFORM_SOURCE = "/mailing-platform"


def mailing_sent(
    partner_id: str,
    customer_id: str,
    recipients: int,
    *,
    mailing_id: str | None = None,
    sent_at: datetime | None = None,
    reservation_id: str | None = None,
    event_id: str | None = None,
) -> CloudEvent:
    """A `mailing.sent` event; pass `event_id` to make a redelivery of the same event."""
    sent = sent_at or datetime.now(UTC)
    data: dict[str, object] = {
        "mailing_id": mailing_id or f"m-{uuid4().hex}",
        "partner_id": partner_id,
        "customer_id": customer_id,
        "recipients": recipients,
        "sent_at": sent.isoformat(),
    }
    if reservation_id is not None:
        data["reservation_id"] = reservation_id
    return CloudEvent.new(
        "mailing.sent", PLATFORM_SOURCE, data, subject=partner_id, id=event_id, time=sent
    )


def as_published(event: CloudEvent, **data: object) -> dict[str, Any]:
    """The JSON document of ``event`` with its data changed after encoding (``None`` drops a
    field): how a publisher that ignores the schema would send it."""
    document = to_document(event)
    changed = document["data"] = dict(document["data"])  # the event's own data stays as it is
    for name, value in data.items():
        if value is None:
            changed.pop(name, None)
        else:
            changed[name] = value
    return document
