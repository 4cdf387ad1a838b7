"""Stored answers to requests that carried an `Idempotency-Key`, kept with the events they made."""

import hashlib

import orjson
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.service_layer.ports import ConcurrencyConflict, StoredResponse


def request_fingerprint(method: str, path: str, body: object) -> str:
    """Same method, path and JSON body (key order aside) -> same fingerprint."""
    canonical = orjson.dumps([method, path, body], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def key_fingerprint(scope: str, key: str) -> str:
    """A short stable id for one caller's key (24 hex digits of its SHA-256)."""
    return hashlib.sha256(orjson.dumps([scope, key])).hexdigest()[:24]


class PostgresIdempotencyKeys:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def find(self, scope: str, key: str) -> StoredResponse | None:
        """The stored answer; the row lock makes a concurrent twin wait for the first to finish."""
        row = (
            await self._connection.execute(
                text(
                    "SELECT request_hash, response_status, response_body::text"
                    " FROM idempotency_keys WHERE scope = :scope AND key = :key FOR UPDATE"
                ),
                {"scope": scope, "key": key},
            )
        ).first()
        return None if row is None else StoredResponse(row[0], row[1], orjson.loads(row[2]))

    async def save(self, scope: str, key: str, response: StoredResponse) -> None:
        """Keep the answer; ``ConcurrencyConflict`` when a twin request stored its key first."""
        try:
            await self._save(scope, key, response)
        except IntegrityError as exc:
            raise ConcurrencyConflict(f"idempotency key {key!r} was stored meanwhile") from exc

    async def _save(self, scope: str, key: str, response: StoredResponse) -> None:
        await self._connection.execute(
            text(
                "INSERT INTO idempotency_keys (scope, key, request_hash, response_status,"
                " response_body) VALUES (:scope, :key, :hash, :status, CAST(:body AS jsonb))"
            ),
            {
                "scope": scope,
                "key": key,
                "hash": response.request_hash,
                "status": response.status,
                "body": orjson.dumps(response.body).decode(),
            },
        )
