"""Commands on one partner account: load it, let the domain decide, append events, read models
and outgoing messages (and the idempotency record) in one unit of work; try again when another
writer got there first."""

import asyncio
import random
import secrets
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.domain import Event, PartnerAccount, Record, RecordKind, record_change
from ledger.service_layer.accounts import ChangeSet, load_account_as_of, load_accounts
from ledger.service_layer.ports import ConcurrencyConflict, StoredResponse, UnitOfWork

UnitOfWorkFactory = Callable[[], AbstractAsyncContextManager[UnitOfWork]]
Decide = Callable[[PartnerAccount | None, Record | None], list[Event]]
Respond = Callable[[PartnerAccount | None, list[Event], Record | None], tuple[int, dict[str, Any]]]
AfterDecide = Callable[[UnitOfWork, PartnerAccount], Awaitable[None]]
BeforeDecide = Callable[[UnitOfWork], Awaitable[None]]

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
    """One change to one partner account, as the API asks for it.

    ``record`` names a reservation, purchase or charge whose record ``decide`` needs (one that
    may have left the account's state when it closed); ``decide`` gets it as second argument,
    ``respond`` gets it as it stands after the command's events.
    """

    partner_id: str
    decide: Decide
    metadata: dict[str, Any]
    respond: Respond
    idempotency: Idempotency | None = None
    after: AfterDecide | None = None  # extra writes in the same transaction (e.g. a token)
    record: tuple[RecordKind, str] | None = None
    # Reads ``decide`` needs besides the account, in the same transaction (after the lock).
    before: BeforeDecide | None = None


async def run_command(
    unit_of_work: UnitOfWorkFactory, command: Command, now: datetime
) -> tuple[int, dict[str, Any]]:
    """Run the command to completion; returns the HTTP status and body to answer with.
    `AccountBusy` when concurrent writers (the consumer, say) won every attempt."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return await _attempt(unit_of_work, command, now)
        except ConcurrencyConflict:
            # A concurrent append, or a twin request that stored its key first: try again,
            # after a random pause so the writers that collided do not collide again.
            if attempt == MAX_ATTEMPTS:
                raise AccountBusy(command.partner_id) from None
            await asyncio.sleep(random.uniform(0, 0.02 * attempt))
    raise AssertionError("unreachable")


async def _attempt(
    unit_of_work: UnitOfWorkFactory, command: Command, now: datetime
) -> tuple[int, dict[str, Any]]:
    async with unit_of_work() as uow:
        # API commands on one account queue up instead of racing each other into retries.
        await uow.events.wait_for_writers([command.partner_id])
        if command.idempotency is not None:
            stored = await uow.idempotency_keys.find(
                command.idempotency.scope, command.idempotency.key
            )
            if stored is not None:
                if stored.request_hash != command.idempotency.request_hash:
                    raise IdempotencyConflict(command.idempotency.key)
                return stored.status, stored.body
        accounts = await load_accounts(uow, [command.partner_id])
        recorded: Record | None = None
        if command.record is not None:
            kind, record_id = command.record
            found = await uow.records.find(kind, [(command.partner_id, record_id)])
            recorded = found.get((command.partner_id, record_id))
        if command.before is not None:
            await command.before(uow)
        changes = ChangeSet(accounts, now)
        events = command.decide(accounts[command.partner_id], recorded)
        changes.decide(command.partner_id, events, command.metadata)
        await changes.write(uow)
        state = changes.state(command.partner_id)
        if command.after is not None and state is not None:
            await command.after(uow, state)
        for event in events:
            change = record_change(event)
            if change is not None and (change.kind, change.record_id) == command.record:
                recorded = change.applied_to(recorded)
        status, body = command.respond(state, events, recorded)
        if command.idempotency is not None:
            await uow.idempotency_keys.save(
                command.idempotency.scope,
                command.idempotency.key,
                StoredResponse(command.idempotency.request_hash, status, body),
            )
        return status, body


async def read_account(
    unit_of_work: UnitOfWorkFactory, partner_id: str, as_of: datetime | None = None
) -> PartnerAccount | None:
    """The account now, or as it stood at `as_of` (only events recorded by then)."""
    async with unit_of_work() as uow:
        if as_of is None:
            return (await load_accounts(uow, [partner_id]))[partner_id]
        return await load_account_as_of(uow, partner_id, as_of)


def new_partner_token() -> str:
    return "pt_" + secrets.token_urlsafe(32)
