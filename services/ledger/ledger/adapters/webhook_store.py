"""Webhook endpoints and deliveries in PostgreSQL: the API's reads and writes, the intake of
outgoing messages (on the batch consumer's transaction), and the delivery loop's claims.

Signing secrets are read by two queries only: the one that creates or rotates an endpoint
(which returns the new secret once) and the delivery loop's claim. No read behind a GET
selects them.
"""

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.service_layer.ports import (
    DueWebhook,
    NewWebhookDelivery,
    WebhookAnswer,
    WebhookTarget,
)
from ledger.service_layer.webhooks import record_deliveries
from shared.codec import InvalidMessage, decode
from shared.messaging.consumer import BatchResult
from shared.messaging.inbox import Inbox, IncomingRecord
from shared.messaging.outbox import printable

# --- the API's side -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndpointRow:
    id: str
    partner_id: str
    url: str
    event_types: list[str] | None
    enabled: bool
    disabled_reason: str | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AttemptRow:
    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: str
    endpoint_id: str
    event_type: str
    message_id: str
    sequence: int
    stream_version: int | None
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[AttemptRow]


_ENDPOINT_COLUMNS = (
    "id, partner_id, url, event_types, enabled, disabled_reason, previous_secret_expires_at,"
    " created_at, updated_at"
)
_DELIVERY_COLUMNS = (
    "id, endpoint_id, event_type, message_id, sequence, stream_version, status, attempts,"
    " last_status_code, last_error, next_attempt_at, created_at, delivered_at"
)


def _endpoint(row: Any) -> EndpointRow:
    return EndpointRow(*row)


def _delivery(row: Any, attempts: list[AttemptRow]) -> DeliveryRow:
    names = [f.name for f in fields(DeliveryRow)][:-1]
    return DeliveryRow(**dict(zip(names, row, strict=True)), attempt_log=attempts)


class WebhookEndpoints:
    """What `api/webhooks.py` reads and writes; each call is one short transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def partner_exists(self, partner_id: str) -> bool:
        async with self._engine.connect() as connection:
            found = await connection.execute(
                text("SELECT 1 FROM partners WHERE partner_id = :p"), {"p": partner_id}
            )
            return found.first() is not None

    async def create(
        self,
        endpoint_id: str,
        partner_id: str,
        url: str,
        event_types: list[str] | None,
        secret: str,
        now: datetime,
        limit: int,
    ) -> EndpointRow | None:
        """The new endpoint; None when the partner already has `limit` enabled ones."""
        async with self._engine.begin() as connection:
            # One partner's registrations queue behind each other, so the limit holds.
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(hashtext('webhook_endpoints:' || :p))"),
                {"p": partner_id},
            )
            count = await connection.scalar(
                text("SELECT count(*) FROM webhook_endpoints WHERE partner_id = :p AND enabled"),
                {"p": partner_id},
            )
            if count is not None and count >= limit:
                return None
            row = await connection.execute(
                text(
                    "INSERT INTO webhook_endpoints (id, partner_id, url, event_types, secret,"
                    " created_at, updated_at) VALUES (:id, :p, :url, :types, :secret, :now, :now)"
                    f" RETURNING {_ENDPOINT_COLUMNS}"
                ),
                {
                    "id": endpoint_id,
                    "p": partner_id,
                    "url": url,
                    "types": event_types,
                    "secret": secret,
                    "now": now,
                },
            )
            return _endpoint(row.one())

    async def of_partner(self, partner_id: str) -> list[EndpointRow]:
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                text(
                    f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE partner_id = :p"
                    " ORDER BY created_at, id"
                ),
                {"p": partner_id},
            )
            return [_endpoint(r) for r in rows]

    async def find(self, partner_id: str, endpoint_id: str) -> EndpointRow | None:
        async with self._engine.connect() as connection:
            row = await connection.execute(
                text(
                    f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints"
                    " WHERE partner_id = :p AND id = :id"
                ),
                {"p": partner_id, "id": endpoint_id},
            )
            found = row.first()
            return None if found is None else _endpoint(found)

    async def disable(
        self, partner_id: str, endpoint_id: str, reason: str, now: datetime
    ) -> EndpointRow | None:
        async with self._engine.begin() as connection:
            row = await connection.execute(
                text(
                    "UPDATE webhook_endpoints SET enabled = false,"
                    " disabled_reason = COALESCE(disabled_reason, :reason), updated_at = :now"
                    f" WHERE partner_id = :p AND id = :id RETURNING {_ENDPOINT_COLUMNS}"
                ),
                {"p": partner_id, "id": endpoint_id, "reason": reason, "now": now},
            )
            found = row.first()
            return None if found is None else _endpoint(found)

    async def rotate_secret(
        self, partner_id: str, endpoint_id: str, secret: str, now: datetime, grace: timedelta
    ) -> EndpointRow | None:
        """The new secret signs from now on; the old one signs too until `now + grace`."""
        async with self._engine.begin() as connection:
            row = await connection.execute(
                text(
                    "UPDATE webhook_endpoints SET previous_secret = secret, secret = :secret,"
                    " previous_secret_expires_at = :until, updated_at = :now"
                    f" WHERE partner_id = :p AND id = :id RETURNING {_ENDPOINT_COLUMNS}"
                ),
                {
                    "p": partner_id,
                    "id": endpoint_id,
                    "secret": secret,
                    "until": now + grace,
                    "now": now,
                },
            )
            found = row.first()
            return None if found is None else _endpoint(found)

    async def deliveries(
        self, endpoint_id: str, before_sequence: int | None, limit: int
    ) -> list[DeliveryRow]:
        """The newest deliveries first (by sequence), with each one's attempts."""
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(
                    text(
                        f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries"
                        " WHERE endpoint_id = :e AND (CAST(:before AS bigint) IS NULL"
                        " OR sequence < CAST(:before AS bigint))"
                        " ORDER BY sequence DESC LIMIT :limit"
                    ),
                    {"e": endpoint_id, "before": before_sequence, "limit": limit},
                )
            ).all()
            attempts: dict[str, list[AttemptRow]] = {r[0]: [] for r in rows}
            if rows:
                found = await connection.execute(
                    text(
                        "SELECT delivery_id, attempt, attempted_at, status_code, error,"
                        " duration_ms FROM webhook_attempts WHERE delivery_id = ANY(:ids)"
                        " ORDER BY delivery_id, attempt"
                    ),
                    {"ids": list(attempts)},
                )
                for a in found:
                    attempts[a[0]].append(AttemptRow(a[1], a[2], a[3], a[4], a[5]))
            return [_delivery(r, attempts[r[0]]) for r in rows]

    async def resend(self, endpoint_id: str, delivery_id: str, now: datetime) -> bool:
        """Due again now, with a fresh retry window and the same `webhook-id`; False when
        the endpoint has no such delivery."""
        async with self._engine.begin() as connection:
            row = await connection.execute(
                text(
                    "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = :now,"
                    " window_started_at = :now, window_attempts = 0, delivered_at = NULL"
                    " WHERE endpoint_id = :e AND id = :id RETURNING id"
                ),
                {"e": endpoint_id, "id": delivery_id, "now": now},
            )
            return row.first() is not None


# --- the intake of outgoing messages --------------------------------------------------------


class PostgresWebhookIntake:
    """`WebhookIntake` on the batch consumer's connection (its transaction)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def targets(self, partner_ids: Sequence[str]) -> list[WebhookTarget]:
        rows = await self._connection.execute(
            text(
                "SELECT id, partner_id, event_types, created_at FROM webhook_endpoints"
                " WHERE enabled AND partner_id = ANY(:p)"
            ),
            {"p": list(partner_ids)},
        )
        return [
            WebhookTarget(r[0], r[1], None if r[2] is None else frozenset(r[2]), r[3]) for r in rows
        ]

    async def recorded(self, keys: Sequence[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        rows = await self._connection.execute(
            text(
                "SELECT endpoint_id, message_source, message_id FROM webhook_deliveries"
                " WHERE (endpoint_id, message_source, message_id) IN (SELECT * FROM"
                " unnest(CAST(:e AS text[]), CAST(:s AS text[]), CAST(:m AS text[])))"
            ),
            {"e": [k[0] for k in keys], "s": [k[1] for k in keys], "m": [k[2] for k in keys]},
        )
        return {(r[0], r[1], r[2]) for r in rows}

    async def reserve_sequences(self, counts: Mapping[str, int]) -> dict[str, int]:
        ids = sorted(counts)
        # Locked in id order: two consumers (two topics) reserving for the same endpoints
        # queue instead of deadlocking.
        await self._connection.execute(
            text("SELECT id FROM webhook_endpoints WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"),
            {"ids": ids},
        )
        rows = await self._connection.execute(
            text(
                "UPDATE webhook_endpoints e SET next_sequence = e.next_sequence + t.n"
                " FROM unnest(CAST(:ids AS text[]), CAST(:ns AS bigint[])) AS t(id, n)"
                " WHERE e.id = t.id RETURNING e.id, e.next_sequence - t.n"
            ),
            {"ids": ids, "ns": [counts[i] for i in ids]},
        )
        return {r[0]: r[1] for r in rows}

    async def add(self, deliveries: Sequence[NewWebhookDelivery], now: datetime) -> int:
        rows = await self._connection.execute(
            text(
                """
                INSERT INTO webhook_deliveries (id, endpoint_id, message_source, message_id,
                    event_type, sequence, stream_version, body, status, next_attempt_at,
                    window_started_at, created_at)
                SELECT w, e, s, m, t, q, v, b, 'pending', :now, :now, :now
                FROM unnest(CAST(:w AS text[]), CAST(:e AS text[]), CAST(:s AS text[]),
                            CAST(:m AS text[]), CAST(:t AS text[]), CAST(:q AS bigint[]),
                            CAST(:v AS bigint[]), CAST(:b AS text[])) AS x(w, e, s, m, t, q, v, b)
                ON CONFLICT DO NOTHING
                RETURNING id
                """
            ),
            {
                "now": now,
                "w": [d.webhook_id for d in deliveries],
                "e": [d.endpoint_id for d in deliveries],
                "s": [d.message_source for d in deliveries],
                "m": [d.message_id for d in deliveries],
                "t": [d.event_type for d in deliveries],
                "q": [d.sequence for d in deliveries],
                "v": [d.stream_version for d in deliveries],
                "b": [d.body for d in deliveries],
            },
        )
        return len(rows.all())


class WebhookIntakeHandler:
    """The batch consumer's handler for one outgoing topic: messages it cannot read are kept
    as dead letters (the `dead_letters` table); the others become deliveries."""

    def __init__(
        self,
        topic: str,
        clock: Callable[[], datetime],
        recorded: Callable[[int], None] | None = None,
    ) -> None:
        self.topic = topic
        self._clock = clock
        self._recorded = recorded

    async def __call__(
        self, connection: AsyncConnection, inbox: Inbox, records: Sequence[IncomingRecord]
    ) -> BatchResult:
        events = []
        dead = []
        for record in records:
            try:
                event = decode(record.value, record.headers)
            except InvalidMessage as exc:
                dead.append(record.dead_letter(printable(str(exc))))
                continue
            events.append(event)
        added = await record_deliveries(PostgresWebhookIntake(connection), events, self._clock())
        if self._recorded is not None:
            self._recorded(added)
        return BatchResult(applied=len(events), dead_letters=dead)


# --- the delivery loop ---------------------------------------------------------------------

_SCAN = text(
    """
    SELECT d.id, d.endpoint_id FROM webhook_deliveries d
    JOIN webhook_endpoints e ON e.id = d.endpoint_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= :now AND e.enabled
      AND NOT (d.endpoint_id = ANY(CAST(:busy AS text[])))
    ORDER BY d.next_attempt_at, d.sequence
    LIMIT :scan
    FOR UPDATE OF d SKIP LOCKED
    """
)

_LEASE = text(
    """
    UPDATE webhook_deliveries d
    SET attempts = d.attempts + 1, window_attempts = d.window_attempts + 1,
        next_attempt_at = :lease_until
    FROM webhook_endpoints e
    WHERE d.id = ANY(:ids) AND e.id = d.endpoint_id
    RETURNING d.id, d.endpoint_id, e.url, e.secret,
              CASE WHEN e.previous_secret_expires_at > :now THEN e.previous_secret END,
              d.body, d.attempts, d.window_attempts, d.window_started_at
    """
)


class PostgresWebhookDeliveries:
    """`WebhookDeliveries`: claims take a lease (the attempt's time plus a margin); a worker
    that dies mid-attempt leaves the delivery due again once the lease runs out."""

    def __init__(self, engine: AsyncEngine, lease: timedelta) -> None:
        self._engine = engine
        self._lease = lease

    async def claim_due(
        self, now: datetime, limit: int, busy_endpoints: Collection[str]
    ) -> list[DueWebhook]:
        async with self._engine.begin() as connection:
            rows = await connection.execute(
                _SCAN, {"now": now, "busy": sorted(busy_endpoints), "scan": limit * 4}
            )
            chosen: dict[str, str] = {}  # endpoint -> its oldest due delivery
            for delivery_id, endpoint_id in rows:
                if endpoint_id not in chosen and len(chosen) < limit:
                    chosen[endpoint_id] = delivery_id
            if not chosen:
                return []
            leased = await connection.execute(
                _LEASE,
                {"ids": list(chosen.values()), "now": now, "lease_until": now + self._lease},
            )
            return [
                DueWebhook(
                    webhook_id=r[0],
                    endpoint_id=r[1],
                    url=r[2],
                    secrets=(r[3],) if r[4] is None else (r[3], r[4]),
                    body=r[5],
                    attempt=r[6],
                    window_attempt=r[7],
                    window_started_at=r[8],
                )
                for r in leased
            ]

    async def record_attempt(
        self,
        delivery: DueWebhook,
        answer: WebhookAnswer,
        attempted_at: datetime,
        status: str,
        next_attempt_at: datetime | None,
        disable_endpoint: bool,
    ) -> None:
        error = None if answer.error is None else printable(answer.error)[:1000]
        async with self._engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at,"
                    " status_code, error, duration_ms) VALUES (:id, :n, :at, :code, :error, :ms)"
                    " ON CONFLICT DO NOTHING"
                ),
                {
                    "id": delivery.webhook_id,
                    "n": delivery.attempt,
                    "at": attempted_at,
                    "code": answer.status_code,
                    "error": error,
                    "ms": answer.duration_ms,
                },
            )
            # Only while the claim is still ours: a re-send by hand meanwhile (a new window)
            # wins.
            await connection.execute(
                text(
                    "UPDATE webhook_deliveries SET status = :status, last_status_code = :code,"
                    " last_error = :error, next_attempt_at = :next,"
                    " delivered_at = CASE WHEN :status = 'delivered' THEN CAST(:at AS timestamptz)"
                    " END WHERE id = :id AND attempts = :n AND window_started_at = :window"
                ),
                {
                    "id": delivery.webhook_id,
                    "n": delivery.attempt,
                    "status": status,
                    "code": answer.status_code,
                    "error": error,
                    "next": next_attempt_at,
                    "at": attempted_at,
                    "window": delivery.window_started_at,
                },
            )
            if disable_endpoint:
                await connection.execute(
                    text(
                        "UPDATE webhook_endpoints SET enabled = false, updated_at = :at,"
                        " disabled_reason = 'the receiver answered 410 Gone' WHERE id = :e"
                    ),
                    {"e": delivery.endpoint_id, "at": attempted_at},
                )

    async def backlog(self, now: datetime) -> int:
        """Deliveries due now (pending, time come, endpoint enabled)."""
        async with self._engine.connect() as connection:
            count = await connection.scalar(
                text(
                    "SELECT count(*) FROM webhook_deliveries d JOIN webhook_endpoints e"
                    " ON e.id = d.endpoint_id"
                    " WHERE d.status = 'pending' AND d.next_attempt_at <= :now AND e.enabled"
                ),
                {"now": now},
            )
            return int(count or 0)
