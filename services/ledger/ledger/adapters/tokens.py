"""Partner API tokens: secrets, so not events; only their SHA-256 hashes are kept."""

import hashlib
from collections import OrderedDict

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.adapters.views.reads import ReadPool


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


class TokenLookup:
    """Which partner a token belongs to. A token never changes owner, so an answer found is
    kept (a bounded number of them) and the next request with it needs no query."""

    def __init__(self, reads: ReadPool, max_tokens: int = 10_000) -> None:
        self._reads = reads
        self._known: OrderedDict[str, str] = OrderedDict()
        self._max = max_tokens

    async def partner_for(self, token: str) -> str | None:
        digest = token_hash(token)
        partner_id = self._known.get(digest)
        if partner_id is not None:
            self._known.move_to_end(digest)
            return partner_id
        row = await self._reads.fetchrow(
            "SELECT partner_id FROM partner_tokens WHERE token_hash = $1", digest
        )
        if row is None:
            return None  # unknown tokens are not remembered: a flood of them costs no memory
        self._known[digest] = partner_id = str(row[0])
        if len(self._known) > self._max:
            self._known.popitem(last=False)
        return partner_id
