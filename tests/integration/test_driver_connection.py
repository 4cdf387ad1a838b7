"""What goes straight to the driver (COPY, a setting) is part of the SQLAlchemy transaction it
came from, even when it is the transaction's first statement."""

from typing import Any

import pytest
from sqlalchemy import text

from shared.database import create_engine, driver_connection
from tests.integration.databases import database_url, recreate_database


@pytest.fixture(scope="module")
async def engine() -> Any:
    await recreate_database("driver_connection")
    engine = create_engine(database_url("driver_connection"))
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (body text NOT NULL)"))
    yield engine
    await engine.dispose()


class Undo(Exception):
    pass


async def test_a_copy_as_the_first_statement_is_rolled_back_with_its_transaction(
    engine: Any,
) -> None:
    with pytest.raises(Undo):
        async with engine.begin() as connection:
            raw = await driver_connection(connection)
            await raw.copy_records_to_table("notes", records=[("kept?",)])
            raise Undo
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM notes"))).scalar() == 0


async def test_a_local_setting_made_first_holds_for_the_rest_of_the_transaction(
    engine: Any,
) -> None:
    async with engine.begin() as connection:
        raw = await driver_connection(connection)
        await raw.execute("SELECT set_config('mailbill.probe', 'set', true)")
        seen = await connection.execute(text("SELECT current_setting('mailbill.probe', true)"))
        assert seen.scalar() == "set"
