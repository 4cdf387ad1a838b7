"""Payment attempts in PostgreSQL: recorded before the gateway is called, moved on by outcomes.

`record_outcome` is the only way an attempt's status changes after it was recorded; the worker,
the webhook endpoint and the SEPA return import all go through it, so whichever answer comes
first is published once, in the same transaction as the change.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from payments.domain.outcomes import AttemptStatus, Outcome, transition
from payments.domain.requests import GatewayName, PaymentRequest
from payments.messages import payment_result
from shared.messaging.outbox import Outbox, outgoing

_INSERT = text(
    """
    INSERT INTO payment_attempts (request_id, message_id, partner_id, kind, amount_minor,
        currency, gateway, method_key, request, idempotency_key, status)
    VALUES (:request_id, :message_id, :partner_id, :kind, :amount_minor, :currency, :gateway,
        :method_key, CAST(:request AS jsonb), :idempotency_key, 'charging')
    ON CONFLICT (request_id) DO NOTHING
    RETURNING request_id
    """
)
_COLUMNS = (
    "request_id, partner_id, kind, amount_minor, currency, gateway, gateway_reference, status,"
    " request, idempotency_key, tries, created_at"
)
_LOCK = text(f"SELECT {_COLUMNS} FROM payment_attempts WHERE request_id = :id FOR UPDATE")
_BY_REFERENCE = text("SELECT request_id FROM payment_attempts WHERE gateway_reference = :ref")
_UPDATE = text(
    """
    UPDATE payment_attempts
    SET status = :status, gateway_reference = COALESCE(:reference, gateway_reference),
        code = :code, reason = :reason, retryable = :retryable, last_error = NULL,
        updated_at = now()
    WHERE request_id = :id
    """
)
_DUE = text(
    "SELECT request_id FROM payment_attempts WHERE status = 'charging' AND next_try_at <= :now"
    " ORDER BY next_try_at LIMIT :limit"
)
# Before a call that may reach the gateway: count it, and set when to try again should this
# process die during the call (the advisory lock keeps others away while it lives).
_BEGIN_TRY = text(
    """
    UPDATE payment_attempts
    SET tries = tries + 1, next_try_at = :retry_at, updated_at = now()
    WHERE request_id = :id AND status = 'charging'
    RETURNING tries
    """
)
_RETRY_LATER = text(
    "UPDATE payment_attempts SET next_try_at = :retry_at, last_error = :error, updated_at = now()"
    " WHERE request_id = :id AND status = 'charging'"
)
_DECLINES = text(
    """
    SELECT count(*) FROM payment_attempts
    WHERE method_key = :method_key AND status = 'failed' AND gateway <> 'none'
      AND updated_at >= :since
    """
)


@dataclass(frozen=True, slots=True)
class Attempt:
    request: PaymentRequest
    gateway: GatewayName
    status: AttemptStatus
    tries: int
    created_at: datetime


async def insert(
    connection: AsyncConnection, request: PaymentRequest, gateway: GatewayName
) -> bool:
    """Record a new attempt as `charging`; False when the request id was recorded before."""
    result = await connection.execute(
        _INSERT,
        {
            "request_id": request.request_id,
            "message_id": request.message_id,
            "partner_id": request.partner_id,
            "kind": request.kind,
            "amount_minor": request.amount_minor,
            "currency": request.currency,
            "gateway": gateway,
            "method_key": request.method_key,
            "request": orjson.dumps(request.to_json()).decode(),
            "idempotency_key": request.idempotency_key,
        },
    )
    return result.first() is not None


async def record_outcome(
    connection: AsyncConnection, request_id: str, outcome: Outcome, now: datetime
) -> AttemptStatus | None:
    """Apply `outcome` to the attempt (locked until commit) and queue its result; returns the
    new status, or None when the outcome changes nothing (unknown request, repeat, late copy)."""
    row = (await connection.execute(_LOCK, {"id": request_id})).mappings().first()
    if row is None:
        return None
    status = transition(row["status"], outcome.status)
    if status is None:
        return None
    failure = status in ("failed", "returned")
    await connection.execute(
        _UPDATE,
        {
            "id": request_id,
            "status": status,
            "reference": outcome.reference,
            "code": outcome.code if failure else None,
            "reason": outcome.reason if failure else None,
            "retryable": outcome.retryable if status == "failed" else None,
        },
    )
    result = payment_result(dict(row), status, outcome, now)
    await Outbox(connection).write([outgoing(result, row["partner_id"])])
    return status


async def request_for_reference(connection: AsyncConnection, reference: str) -> str | None:
    """The request a gateway reference (a PaymentIntent id) belongs to."""
    return (await connection.execute(_BY_REFERENCE, {"ref": reference})).scalar()


async def load(connection: AsyncConnection, request_id: str) -> Attempt | None:
    row = (
        (
            await connection.execute(
                text(f"SELECT {_COLUMNS} FROM payment_attempts WHERE request_id = :id"),
                {"id": request_id},
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return _attempt(row)


def _attempt(row: Any) -> Attempt:
    return Attempt(
        request=PaymentRequest.from_json(row["request"]),
        gateway=row["gateway"],
        status=row["status"],
        tries=row["tries"],
        created_at=row["created_at"],
    )


async def due(connection: AsyncConnection, now: datetime, limit: int) -> list[str]:
    """Attempts still waiting for a gateway answer whose time has come."""
    result = await connection.execute(_DUE, {"now": now, "limit": limit})
    return [row.request_id for row in result]


async def begin_try(connection: AsyncConnection, request_id: str, retry_at: datetime) -> int | None:
    """Count one more call; returns the number of calls so far, None if no longer charging."""
    return (await connection.execute(_BEGIN_TRY, {"id": request_id, "retry_at": retry_at})).scalar()


async def retry_later(
    connection: AsyncConnection, request_id: str, retry_at: datetime, error: str
) -> None:
    await connection.execute(_RETRY_LATER, {"id": request_id, "retry_at": retry_at, "error": error})


async def recent_declines(connection: AsyncConnection, method_key: str, now: datetime) -> int:
    """Declined attempts of one payment method in the last 30 days."""
    since = now - timedelta(days=30)
    return int(
        (
            await connection.execute(_DECLINES, {"method_key": method_key, "since": since})
        ).scalar_one()
    )
