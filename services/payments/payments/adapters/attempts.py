"""Payment attempts in PostgreSQL (`payment_attempts`): recorded before the gateway is called,
moved on by outcomes (`service_layer.outcomes.record_outcome` decides, this only stores)."""

from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from payments.domain.outcomes import AttemptStatus, Outcome
from payments.domain.requests import GatewayName, PaymentRequest
from payments.service_layer.ports import Attempt

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
_COLUMNS = "request, gateway, gateway_reference, status, tries, created_at"
_GET = text(f"SELECT {_COLUMNS} FROM payment_attempts WHERE request_id = :id")
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


class PostgresAttempts:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, request: PaymentRequest, gateway: GatewayName) -> bool:
        result = await self._connection.execute(
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

    async def get(self, request_id: str, *, for_update: bool = False) -> Attempt | None:
        query = _LOCK if for_update else _GET
        row = (await self._connection.execute(query, {"id": request_id})).mappings().first()
        return None if row is None else _attempt(row)

    async def request_for_reference(self, reference: str) -> str | None:
        return (await self._connection.execute(_BY_REFERENCE, {"ref": reference})).scalar()

    async def save_outcome(self, request_id: str, status: AttemptStatus, outcome: Outcome) -> None:
        failure = status in ("failed", "returned")
        await self._connection.execute(
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

    async def due(self, now: datetime, limit: int) -> list[str]:
        result = await self._connection.execute(_DUE, {"now": now, "limit": limit})
        return [row.request_id for row in result]

    async def begin_try(self, request_id: str, retry_at: datetime) -> int | None:
        return (
            await self._connection.execute(_BEGIN_TRY, {"id": request_id, "retry_at": retry_at})
        ).scalar()

    async def retry_later(self, request_id: str, retry_at: datetime, error: str) -> None:
        await self._connection.execute(
            _RETRY_LATER, {"id": request_id, "retry_at": retry_at, "error": error}
        )

    async def recent_declines(self, method_key: str, now: datetime) -> int:
        since = now - timedelta(days=30)
        result = await self._connection.execute(
            _DECLINES, {"method_key": method_key, "since": since}
        )
        return int(result.scalar_one())


def _attempt(row: Any) -> Attempt:
    return Attempt(
        request=PaymentRequest.from_json(row["request"]),
        gateway=row["gateway"],
        status=row["status"],
        tries=row["tries"],
        created_at=row["created_at"],
        gateway_reference=row["gateway_reference"],
    )
