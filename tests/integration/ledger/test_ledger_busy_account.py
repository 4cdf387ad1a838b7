"""A command that loses every race for a partner's stream gives up as `AccountBusy` (the API
answers 503 with Retry-After) and writes nothing, instead of failing with a 500."""

import asyncio
import threading
from datetime import UTC, datetime

import httpx
import pytest

from ledger.adapters.unit_of_work import unit_of_work
from ledger.api.app import create_app
from ledger.domain import Event, PartnerAccount, Record, adjust_credits, grant_credits
from ledger.service_layer.accounts import ChangeSet, load_accounts
from ledger.service_layer.commands import MAX_ATTEMPTS, AccountBusy, Command, run_command
from ledger.settings import LedgerSettings
from shared.database import create_engine
from tests.integration.ledger.conftest import balance, new_partner

METADATA = {"causation_id": "test", "correlation_id": None, "actor": "ops"}


async def grant_one_credit_as_the_consumer_would(database_url: str, partner_id: str) -> None:
    """Append to the stream the way the batch consumer does: without queueing behind the API."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with unit_of_work(engine) as uow:
            accounts = await load_accounts(uow, [partner_id])
            changes = ChangeSet(accounts, datetime.now(UTC))
            events = grant_credits(accounts[partner_id], credits=1, reason="rival", actor="ops")
            changes.decide(partner_id, events, METADATA)
            await changes.write(uow)
    finally:
        await engine.dispose()


async def test_a_command_that_loses_every_race_gives_up_as_busy_and_writes_nothing(
    ledger_api: httpx.AsyncClient, ledger_settings: LedgerSettings
) -> None:
    partner_id, _ = await new_partner(ledger_api)
    engine = create_engine(ledger_settings.database_url)

    def decide_while_a_rival_appends(state: PartnerAccount | None, _: Record | None) -> list[Event]:
        # Between this command's read and its append, another writer commits an event. It runs
        # on a loop of its own: `decide` is synchronous and this loop is busy running it.
        rival = threading.Thread(
            target=asyncio.run,
            args=(
                grant_one_credit_as_the_consumer_would(ledger_settings.database_url, partner_id),
            ),
        )
        rival.start()
        rival.join(30)
        return adjust_credits(state, delta=1000, reason="lost every race", actor="ops")

    command = Command(
        partner_id,
        decide_while_a_rival_appends,
        METADATA,
        lambda state, events, record: (201, {}),
    )
    try:
        with pytest.raises(AccountBusy):
            await run_command(lambda: unit_of_work(engine), command, datetime.now(UTC))
    finally:
        await engine.dispose()

    # Every attempt lost to a rival's grant; the adjustment of 1,000 never happened.
    assert (await balance(ledger_api, partner_id))["balance"] == MAX_ATTEMPTS


async def test_a_busy_account_is_answered_503_with_retry_after(
    ledger_settings: LedgerSettings,
) -> None:
    app = create_app(ledger_settings)

    async def gives_up() -> None:
        raise AccountBusy("p-1")

    app.add_api_route("/busy", gives_up)  # what a route's run_command raises when it gives up
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ledger"
    ) as client:
        answer = await client.get("/busy")

    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("account_busy")
