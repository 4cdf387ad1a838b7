"""Partners' webhook endpoints: register, list, disable, rotate the secret, the delivery log
and a re-send by hand (docs/webhooks.md).

Authorised like every partner route: a partner's token reaches its own endpoints only, another
partner's answer 404. The signing secret is in the answer of the request that creates it
(registration, rotation) and in no other answer.
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from ledger.adapters.webhook_sender import UnresolvedHost, UrlRefused, check_url
from ledger.adapters.webhook_store import DeliveryRow, EndpointRow, WebhookEndpoints
from ledger.api.auth import CurrentCaller
from ledger.api.routes import _container
from ledger.api.schemas import Strict
from ledger.service_layer.webhooks import WEBHOOK_EVENT_TYPES, new_endpoint_id, new_secret
from shared.problems import Problem, invalid, not_found

router = APIRouter(prefix="/v1", tags=["webhooks"])


class NewWebhookEndpoint(Strict):
    url: str = Field(
        min_length=1,
        max_length=2000,
        description="https URL that receives the webhooks (POST); public addresses only.",
    )
    event_types: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=len(WEBHOOK_EVENT_TYPES) or 1,
        description="Only these types; omitted or null: every type. Known types: "
        + ", ".join(sorted(WEBHOOK_EVENT_TYPES)),
    )


class WebhookEndpoint(BaseModel):
    id: str
    partner_id: str
    url: str
    event_types: list[str] | None
    enabled: bool
    disabled_reason: str | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until then, webhooks are signed with the previous secret too."
    )
    created_at: datetime
    updated_at: datetime


class WebhookEndpointCreated(WebhookEndpoint):
    secret: str = Field(description="`whsec_...`: shown in this answer only; keep it safe.")


class WebhookEndpointList(BaseModel):
    endpoints: list[WebhookEndpoint]


class RotatedSecret(BaseModel):
    id: str
    secret: str = Field(description="The new `whsec_...`: shown in this answer only.")
    previous_secret_expires_at: datetime = Field(
        description="The old secret signs too until then (both signatures are sent)."
    )


class WebhookAttempt(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class WebhookDelivery(BaseModel):
    id: str = Field(description="The `webhook-id` header, the same on every attempt.")
    endpoint_id: str
    event_type: str
    message_id: str
    sequence: int
    stream_version: int | None
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[WebhookAttempt]


class WebhookDeliveryPage(BaseModel):
    deliveries: list[WebhookDelivery]
    next_before: int | None = Field(description="`before` for the next (older) page; null: none")


class ResendAccepted(BaseModel):
    id: str
    status: str


def _store(request: Request) -> WebhookEndpoints:
    return WebhookEndpoints(_container(request).engine)


def _now() -> datetime:
    return datetime.now(UTC)


def _view(row: EndpointRow) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row.id,
        partner_id=row.partner_id,
        url=row.url,
        event_types=row.event_types,
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        previous_secret_expires_at=row.previous_secret_expires_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _delivery(row: DeliveryRow) -> WebhookDelivery:
    return WebhookDelivery(
        id=row.id,
        endpoint_id=row.endpoint_id,
        event_type=row.event_type,
        message_id=row.message_id,
        sequence=row.sequence,
        stream_version=row.stream_version,
        status=row.status,
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        attempt_log=[
            WebhookAttempt(
                attempt=a.attempt,
                attempted_at=a.attempted_at,
                status_code=a.status_code,
                error=a.error,
                duration_ms=a.duration_ms,
            )
            for a in row.attempt_log
        ],
    )


def _event_types(types: list[str] | None) -> list[str] | None:
    if types is None:
        return None
    for index, event_type in enumerate(types):
        if event_type not in WEBHOOK_EVENT_TYPES:
            raise invalid(
                f"$.event_types[{index}]",
                f"unknown event type; known: {', '.join(sorted(WEBHOOK_EVENT_TYPES))}",
            )
    return sorted(set(types))


async def _own_endpoint(request: Request, partner_id: str, endpoint_id: str) -> EndpointRow:
    endpoint = await _store(request).find(partner_id, endpoint_id)
    if endpoint is None:
        raise not_found(f"webhook endpoint {endpoint_id!r}")
    return endpoint


@router.post(
    "/partners/{partner_id}/webhook-endpoints",
    status_code=201,
    response_model=WebhookEndpointCreated,
)
async def register_endpoint(
    partner_id: str, body: NewWebhookEndpoint, caller: CurrentCaller, request: Request
) -> WebhookEndpointCreated:
    """Register an endpoint; the answer carries its signing secret, once."""
    caller.require_partner(partner_id)
    store = _store(request)
    if not await store.partner_exists(partner_id):
        raise not_found(f"partner {partner_id!r}")
    event_types = _event_types(body.event_types)
    try:
        await check_url(body.url, _container(request).webhook_url_policy())
    except UrlRefused as exc:
        raise invalid("$.url", str(exc)) from None
    except UnresolvedHost as exc:
        raise invalid("$.url", str(exc)) from None
    secret = new_secret()
    settings = _container(request).settings
    created = await store.create(
        new_endpoint_id(),
        partner_id,
        body.url,
        event_types,
        secret,
        _now(),
        settings.webhook_max_endpoints_per_partner,
    )
    if created is None:
        raise Problem(
            409,
            "Conflict",
            f"a partner may have {settings.webhook_max_endpoints_per_partner} enabled webhook"
            " endpoints; disable one first",
            type="https://mailbill.dev/problems/webhook-endpoint-limit",
        )
    return WebhookEndpointCreated(**_view(created).model_dump(), secret=secret)


@router.get("/partners/{partner_id}/webhook-endpoints", response_model=WebhookEndpointList)
async def list_endpoints(
    partner_id: str, caller: CurrentCaller, request: Request
) -> WebhookEndpointList:
    """The partner's endpoints, oldest first (without secrets)."""
    caller.require_partner(partner_id)
    store = _store(request)
    endpoints = await store.of_partner(partner_id)
    if not endpoints and not await store.partner_exists(partner_id):
        raise not_found(f"partner {partner_id!r}")
    return WebhookEndpointList(endpoints=[_view(e) for e in endpoints])


@router.post(
    "/partners/{partner_id}/webhook-endpoints/{endpoint_id}/disable",
    response_model=WebhookEndpoint,
)
async def disable_endpoint(
    partner_id: str, endpoint_id: str, caller: CurrentCaller, request: Request
) -> WebhookEndpoint:
    """Stop sending to the endpoint (its pending deliveries wait, unsent). Idempotent."""
    caller.require_partner(partner_id)
    disabled = await _store(request).disable(
        partner_id, endpoint_id, f"disabled by {caller.actor}", _now()
    )
    if disabled is None:
        raise not_found(f"webhook endpoint {endpoint_id!r}")
    return _view(disabled)


@router.post(
    "/partners/{partner_id}/webhook-endpoints/{endpoint_id}/rotate-secret",
    response_model=RotatedSecret,
)
async def rotate_secret(
    partner_id: str, endpoint_id: str, caller: CurrentCaller, request: Request
) -> RotatedSecret:
    """A new signing secret, shown once. The old one keeps signing alongside it for
    LEDGER_WEBHOOK_ROTATION_GRACE_SECONDS (a day by default), then stops."""
    caller.require_partner(partner_id)
    secret = new_secret()
    grace = timedelta(seconds=_container(request).settings.webhook_rotation_grace_seconds)
    rotated = await _store(request).rotate_secret(partner_id, endpoint_id, secret, _now(), grace)
    if rotated is None or rotated.previous_secret_expires_at is None:
        raise not_found(f"webhook endpoint {endpoint_id!r}")
    return RotatedSecret(
        id=rotated.id, secret=secret, previous_secret_expires_at=rotated.previous_secret_expires_at
    )


@router.get(
    "/partners/{partner_id}/webhook-endpoints/{endpoint_id}/deliveries",
    response_model=WebhookDeliveryPage,
)
async def list_deliveries(
    partner_id: str,
    endpoint_id: str,
    caller: CurrentCaller,
    request: Request,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="sequence below")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> WebhookDeliveryPage:
    """The delivery log, newest first: each delivery with its attempts."""
    caller.require_partner(partner_id)
    await _own_endpoint(request, partner_id, endpoint_id)
    rows = await _store(request).deliveries(endpoint_id, before, limit)
    return WebhookDeliveryPage(
        deliveries=[_delivery(r) for r in rows],
        next_before=rows[-1].sequence if len(rows) == limit else None,
    )


@router.post(
    "/partners/{partner_id}/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/resend",
    status_code=202,
    response_model=ResendAccepted,
)
async def resend_delivery(
    partner_id: str, endpoint_id: str, delivery_id: str, caller: CurrentCaller, request: Request
) -> ResendAccepted:
    """Send a delivery again now (delivered or failed ones too), with the same `webhook-id`
    and a fresh three days of retries."""
    caller.require_partner(partner_id)
    endpoint = await _own_endpoint(request, partner_id, endpoint_id)
    if not endpoint.enabled:
        raise Problem(
            409,
            "Conflict",
            f"webhook endpoint {endpoint_id!r} is disabled",
            type="https://mailbill.dev/problems/webhook-endpoint-disabled",
        )
    if not await _store(request).resend(endpoint_id, delivery_id, _now()):
        raise not_found(f"delivery {delivery_id!r}")
    return ResendAccepted(id=delivery_id, status="pending")
