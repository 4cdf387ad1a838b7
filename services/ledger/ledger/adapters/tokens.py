"""Partner API tokens: secrets, so not events; only their SHA-256 hashes are kept."""

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PostgresPartnerTokens:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def store(self, partner_id: str, token: str) -> None:
        await self._connection.execute(
            text("INSERT INTO partner_tokens (partner_id, token_hash) VALUES (:p, :h)"),
            {"p": partner_id, "h": token_hash(token)},
        )


async def partner_for_token(engine: AsyncEngine, token: str) -> str | None:
    """The partner a token belongs to, or None."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT partner_id FROM partner_tokens WHERE token_hash = :h"),
                {"h": token_hash(token)},
            )
        ).first()
    return None if row is None else str(row[0])
