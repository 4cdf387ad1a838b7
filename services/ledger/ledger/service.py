"""Use cases behind the HTTP API: load the account, decide, append events, projections and outbox
(and the idempotency record) in one transaction; retry when another writer got there first."""

import asyncio
import hashlib
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.adapters.event_store import ConcurrencyConflict
from ledger.adapters.idempotency import IdempotencyKeys, StoredResponse
from ledger.adapters.unit_of_work import UnitOfWork, unit_of_work
from ledger.changes import ChangeSet, load_accounts
from ledger.domain import Event, PartnerAccount, apply, event_from_dict

Decide = Callable[[PartnerAccount | None], list[Event]]
Respond = Callable[[PartnerAccount | None, list[Event]], tuple[int, dict[str, Any]]]
AfterDecide = Callable[[UnitOfWork, PartnerAccount], Awaitable[None]]

MAX_ATTEMPTS = 5
RETRY_AFTER_SECONDS = 1


class IdempotencyConflict(Exception):
    """The key was used before with a different request."""


class AccountBusy(Exception):
    """Other writers kept changing the account through every attempt; try again shortly."""


@dataclass(frozen=True, slots=True)
class Idempotency:
    scope: str
    key: str
    request_hash: str


@dataclass(frozen=True, slots=True)
class Command:
    """One change to one partner account, as the API asks for it."""

    partner_id: str
    decide: Decide
    metadata: dict[str, Any]
    respond: Respond
    idempotency: Idempotency | None = None
    after: AfterDecide | None = None  # extra writes in the same transaction (e.g. a token)


async def run_command(
    engine: AsyncEngine, command: Command, now: datetime
) -> tuple[int, dict[str, Any]]:
    """Run the command to completion; returns the HTTP status and body to answer with.
    `AccountBusy` when concurrent writers (the consumer, say) won every attempt."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return await _attempt(engine, command, now)
        except (ConcurrencyConflict, IntegrityError):
            # A concurrent append, or a twin request that stored its key first: try again,
            # after a random pause so the writers that collided do not collide again.
            if attempt == MAX_ATTEMPTS:
                raise AccountBusy(command.partner_id) from None
            await asyncio.sleep(random.uniform(0, 0.02 * attempt))
    raise AssertionError("unreachable")


async def _attempt(
    engine: AsyncEngine, command: Command, now: datetime
) -> tuple[int, dict[str, Any]]:
    async with unit_of_work(engine) as uow:
        await uow.events.wait_for_writers(command.partner_id)
        keys = IdempotencyKeys(uow.connection)
        if command.idempotency is not None:
            stored = await keys.find(command.idempotency.scope, command.idempotency.key)
            if stored is not None:
                if stored.request_hash != command.idempotency.request_hash:
                    raise IdempotencyConflict(command.idempotency.key)
                return stored.status, stored.body
        accounts = await load_accounts(uow, [command.partner_id])
        changes = ChangeSet(accounts, now)
        events = command.decide(accounts[command.partner_id])
        changes.decide(command.partner_id, events, command.metadata)
        await changes.write(uow)
        state = changes.state(command.partner_id)
        if command.after is not None and state is not None:
            await command.after(uow, state)
        status, body = command.respond(state, events)
        if command.idempotency is not None:
            await keys.save(
                command.idempotency.scope,
                command.idempotency.key,
                StoredResponse(command.idempotency.request_hash, status, body),
            )
        return status, body


async def read_account(
    engine: AsyncEngine, partner_id: str, as_of: datetime | None = None
) -> PartnerAccount | None:
    """The account now, or as it stood at `as_of` (only events recorded by then)."""
    async with unit_of_work(engine) as uow:
        if as_of is None:
            return (await load_accounts(uow, [partner_id]))[partner_id]
        state: PartnerAccount | None = None
        for stored in await uow.events.load(partner_id):
            if stored.recorded_at is not None and stored.recorded_at > as_of:
                break
            state = apply(state, event_from_dict(stored.type, stored.payload))
        return state


# --- partner tokens: secrets, so not events; only their hashes are kept -----------------------


def new_partner_token() -> str:
    return "pt_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def store_partner_token(uow: UnitOfWork, partner_id: str, token: str) -> None:
    await uow.connection.execute(
        text("INSERT INTO partner_tokens (partner_id, token_hash) VALUES (:p, :h)"),
        {"p": partner_id, "h": token_hash(token)},
    )


async def partner_for_token(engine: AsyncEngine, token: str) -> str | None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT partner_id FROM partner_tokens WHERE token_hash = :h"),
                {"h": token_hash(token)},
            )
        ).first()
    return None if row is None else str(row[0])
