"""`python -m payments serve|work|notify|migrate|sepa-batch|sepa-returns`."""

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from payments.settings import PaymentsSettings
from shared.logging import configure_logging
from shared.messaging.runtime import run_until_signal
from shared.secrets import run_refusing_weak_secrets
from shared.serving import serve_http

if TYPE_CHECKING:
    from payments.bootstrap import PaymentsContainer

T = TypeVar("T")

cli = typer.Typer(
    help="The payment worker, its webhook server and the notifier.", no_args_is_help=True
)


def _settings() -> PaymentsSettings:
    settings = PaymentsSettings()
    configure_logging(settings.log_level, settings.log_json)
    return settings


def _run(process: Callable[["PaymentsContainer", asyncio.Event], Awaitable[None]]) -> None:
    """Run a long-running process on a container of its own until SIGINT/SIGTERM."""
    settings = _settings()
    from payments.bootstrap import bootstrap

    async def main(stop: asyncio.Event) -> None:
        container = bootstrap(settings)
        try:
            await process(container, stop)
        finally:
            await container.close()

    run_until_signal(main)


def _once(work: Callable[["PaymentsContainer"], Awaitable[T]]) -> T:
    """Run one job on a container of its own (a small pool: one command, one connection)."""
    settings = _settings().model_copy(update={"db_pool_size": 2})
    from payments.bootstrap import bootstrap

    async def main() -> T:
        container = bootstrap(settings)
        try:
            return await work(container)
        finally:
            await container.close()

    return asyncio.run(main())


@cli.command()
def serve() -> None:
    """Serve the Stripe webhook endpoint, /healthz and /metrics on PAYMENTS_HOST:PAYMENTS_PORT."""
    settings = _settings()
    from payments.api.app import create_app

    serve_http(create_app(settings), settings.host, settings.port)


@cli.command()
def work() -> None:
    """Consume payment requests, charge each once, publish the results (outbox relay)."""
    from payments.entrypoints import run_worker

    _run(run_worker)


@cli.command()
def notify() -> None:
    """Consume the ledger's notifications and send the reminder e-mails."""
    from payments.entrypoints import run_notifier

    _run(run_notifier)


@cli.command()
def migrate(revision: str = "head") -> None:
    """Apply the database migrations up to REVISION."""
    from payments.migrations import MIGRATIONS_DIR
    from shared import migrations

    migrations.upgrade(MIGRATIONS_DIR, _settings().database_url, revision)


@cli.command("sepa-batch")
def sepa_batch(
    day: str = typer.Option(..., "--date", help="Day the file goes to the bank (YYYY-MM-DD)"),
    out: Path = typer.Option(..., "--out", help="Where to write the pain.008 file"),
) -> None:
    """Build the day's SEPA collection file (pain.008.001.08); the same day gives the same file."""
    on = date.fromisoformat(day)
    batch = _once(lambda container: container.build_sepa_batch(on))
    if batch is None:
        print(f"nothing to collect on {day}")
        return
    out.write_bytes(batch.document)
    print(
        f"{out}: {batch.transactions} debits, message id {batch.message_id},"
        f" collection date {batch.collection_date.isoformat()}"
    )


@cli.command("sepa-returns")
def sepa_returns(file: Path) -> None:
    """Read the bank's pain.002 / camt.054 file and publish the results it brings."""
    document = file.read_bytes()
    try:
        changes = _once(lambda container: container.import_bank_file(document))
    except ValueError as exc:
        print(f"{file}: {exc}", file=sys.stderr)
        raise typer.Exit(1) from exc
    for request_id, status in changes:
        print(f"{request_id}: {status}")
    print(f"{len(changes)} payments changed")


if __name__ == "__main__":
    run_refusing_weak_secrets(cli)
