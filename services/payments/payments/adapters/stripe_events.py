"""Stripe webhook event ids seen (`stripe_events`), so a redelivered event changes nothing."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_SEEN = text(
    "INSERT INTO stripe_events (event_id, type) VALUES (:id, :type)"
    " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)


class PostgresStripeEvents:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def first_time(self, event_id: str, event_type: str) -> bool:
        result = await self._connection.execute(_SEEN, {"id": event_id, "type": event_type})
        return result.first() is not None
