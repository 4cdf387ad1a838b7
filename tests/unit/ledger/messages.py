"""Incoming Kafka records for the handler tests, built by the same builders and codec as the
simulators use, so they speak the contract in ``shared/schemas``."""

from __future__ import annotations

from datetime import datetime
from itertools import count
from typing import Any

import orjson

from shared.codec import encode
from shared.envelope import CloudEvent
from shared.messaging.inbox import IncomingRecord
from shared.topics import MAILING_SENT, PAYMENT_RESULTS
from tests.support.messages import as_published, mailing_sent

from .scenarios import CUSTOMER, PARTNER, T0, minutes

_offsets = count()


def record(topic: str, value: bytes | None, key: str = PARTNER) -> IncomingRecord:
    """A record as the consumer reads it, at the next offset of partition 0."""
    return IncomingRecord(topic, 0, next(_offsets), key.encode(), value)


def sent(
    mailing_id: str,
    recipients: int,
    *,
    partner_id: str = PARTNER,
    customer_id: str = CUSTOMER,
    event_id: str | None = None,
    reservation_id: str | None = None,
    sent_at: datetime | None = None,
) -> IncomingRecord:
    """A ``mailing.sent`` record; the event id is ``ev-<mailing id>`` unless given."""
    event = mailing_sent(
        partner_id,
        customer_id,
        recipients,
        mailing_id=mailing_id,
        sent_at=sent_at or T0 + minutes(10),
        reservation_id=reservation_id,
        event_id=event_id or f"ev-{mailing_id}",
    )
    return record(MAILING_SENT.name, encode(event), partner_id)


def sent_with(changes: dict[str, Any]) -> IncomingRecord:
    """A ``mailing.sent`` record whose data is changed after encoding (``None`` drops a
    field): how a publisher that ignores the schema would send it."""
    event = mailing_sent(PARTNER, CUSTOMER, 10, mailing_id="m-bad")
    return record(MAILING_SENT.name, orjson.dumps(as_published(event, **changes)))


def payment_result(
    request_id: str,
    status: str,
    *,
    kind: str = "purchase",
    amount_minor: int = 5_000,
    event_id: str | None = None,
    partner_id: str = PARTNER,
    reason: str | None = None,
) -> IncomingRecord:
    """A ``payments.payment_result`` record; the event id is ``<request>/<status>`` unless
    given (the payment worker sends one event per outcome)."""
    event = CloudEvent.new(
        "payments.payment_result",
        "/payments",
        {
            "partner_id": partner_id,
            "request_id": request_id,
            "kind": kind,
            "status": status,
            "amount_minor": amount_minor,
            "currency": "EUR",
            "reason": reason,
            "code": None,
            "retryable": True,
            "gateway": "stripe_card",
            "occurred_at": T0.isoformat(),
        },
        subject=partner_id,
        id=event_id or f"{request_id}/{status}",
        time=T0,
    )
    return record(PAYMENT_RESULTS.name, encode(event), partner_id)
