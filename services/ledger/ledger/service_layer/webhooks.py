"""Webhooks to partner portals: which outgoing messages become deliveries, the body a partner
receives, and one delivery attempt with what follows from its answer.

Every ledger topic that carries message types is read, so a message type added to the ledger's
topics (`shared/topics.py`) reaches partners without a change here.
"""

import base64
import random
import secrets
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime

import orjson

from ledger.domain.webhooks import NextAttempt, after_attempt, gone
from ledger.service_layer.ports import (
    DueWebhook,
    NewWebhookDelivery,
    WebhookAnswer,
    WebhookDeliveries,
    WebhookIntake,
    WebhookSender,
    WebhookTarget,
)
from shared.envelope import CloudEvent
from shared.topics import ALL_TOPICS, Topic

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # Standard Webhooks: between 24 and 64 random bytes

# The ledger's own outgoing topics: named `ledger.*` and carrying message types (dead-letter
# topics carry none).
WEBHOOK_TOPICS: tuple[Topic, ...] = tuple(
    t for t in ALL_TOPICS if t.name.startswith("ledger.") and t.message_types
)
WEBHOOK_EVENT_TYPES: frozenset[str] = frozenset(
    message_type for topic in WEBHOOK_TOPICS for message_type in topic.message_types
)


def new_secret() -> str:
    """A signing secret as Standard Webhooks serializes it: `whsec_` + base64 of the key."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_webhook_id() -> str:
    """A `webhook-id`: ours, never the partner's (it is signed, so it must hold no `.`)."""
    return f"msg_{uuid.uuid4().hex}"


def new_endpoint_id() -> str:
    return f"ep_{uuid.uuid4().hex}"


def partner_of(event: CloudEvent) -> str | None:
    """The partner a ledger message belongs to: its subject (the ledger sets it to the
    partner id), else the partner id in its data."""
    if event.subject:
        return event.subject
    partner = event.data.get("partner_id")
    return partner if isinstance(partner, str) and partner else None


def stream_version_of(event: CloudEvent) -> int | None:
    """The partner's stream version the message was recorded at: the ledger names each
    message `{partner_id}/{version}` (`outgoing_messages`)."""
    _, _, version = event.id.rpartition("/")
    return int(version) if version.isdigit() else None


def wanted(target: WebhookTarget, event: CloudEvent) -> bool:
    """An endpoint gets its partner's messages of the types it asked for, from its
    registration on (a replay of old messages sends it nothing from before)."""
    if target.event_types is not None and event.type not in target.event_types:
        return False
    return event.time >= target.created_at


def webhook_body(event: CloudEvent, partner_id: str, sequence: int) -> str:
    """The JSON a partner receives. `type`, `timestamp` and `data` as Standard Webhooks
    recommends; `id` is the message's own id; `stream_version` the partner's account version
    it was recorded at; `sequence` counts this endpoint's deliveries from 1 without gaps."""
    return orjson.dumps(
        {
            "id": event.id,
            "type": event.type,
            "timestamp": event.time.isoformat(),
            "partner_id": partner_id,
            "stream_version": stream_version_of(event),
            "sequence": sequence,
            "data": event.data,
        }
    ).decode()


async def record_deliveries(
    intake: WebhookIntake, events: Sequence[CloudEvent], now: datetime
) -> int:
    """One delivery per message and endpoint that wants it; none twice (a redelivered
    message finds its deliveries recorded). Returns how many were recorded."""
    by_partner: dict[str, list[CloudEvent]] = {}
    for event in events:
        partner = partner_of(event)
        if partner is not None:
            by_partner.setdefault(partner, []).append(event)
    if not by_partner:
        return 0
    targets = await intake.targets(sorted(by_partner))
    pairs = [
        (target, event)
        for target in targets
        for event in by_partner.get(target.partner_id, [])
        if wanted(target, event)
    ]
    pairs = list({(t.endpoint_id, e.source, e.id): (t, e) for t, e in pairs}.values())
    if not pairs:
        return 0
    seen = await intake.recorded([(t.endpoint_id, e.source, e.id) for t, e in pairs])
    fresh = [(t, e) for t, e in pairs if (t.endpoint_id, e.source, e.id) not in seen]
    if not fresh:
        return 0
    next_sequence = await intake.reserve_sequences(Counter(t.endpoint_id for t, _ in fresh))
    deliveries = []
    for target, event in fresh:
        sequence = next_sequence[target.endpoint_id]
        next_sequence[target.endpoint_id] = sequence + 1
        deliveries.append(
            NewWebhookDelivery(
                webhook_id=new_webhook_id(),
                endpoint_id=target.endpoint_id,
                message_source=event.source,
                message_id=event.id,
                event_type=event.type,
                sequence=sequence,
                stream_version=stream_version_of(event),
                body=webhook_body(event, target.partner_id, sequence),
            )
        )
    return await intake.add(deliveries, now)


async def attempt_delivery(
    deliveries: WebhookDeliveries,
    sender: WebhookSender,
    delivery: DueWebhook,
    clock: Callable[[], datetime],
    jitter: Callable[[], float] = random.random,
) -> tuple[str, WebhookAnswer]:
    """Send once and record what follows: delivered, failed, or tried again later (with
    backoff and jitter, until the retry horizon). Returns the verdict and the answer."""
    answer = await sender.send(delivery, clock())
    now = clock()
    step = after_attempt(
        answer.status_code,
        failed_attempts=delivery.window_attempt,
        now=now,
        window_started_at=delivery.window_started_at,
        jitter=jitter(),
        retry_after_seconds=answer.retry_after_seconds,
    )
    if answer.refused:
        step = NextAttempt("failed", None)
    status = "pending" if step.verdict == "retry" else step.verdict
    await deliveries.record_attempt(
        delivery,
        answer,
        attempted_at=now,
        status=status,
        next_attempt_at=step.at,
        disable_endpoint=gone(answer.status_code),
    )
    return step.verdict, answer
