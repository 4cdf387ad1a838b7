"""`python -m payments serve|work|notify|migrate|sepa-batch|sepa-returns`."""

import asyncio
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import typer

from payments.settings import PaymentsSettings
from shared.logging import configure_logging
from shared.messaging.runtime import run_until_signal
from shared.secrets import run_refusing_weak_secrets
from shared.serving import serve_http

cli = typer.Typer(
    help="The payment worker, its webhook server and the notifier.", no_args_is_help=True
)


def _settings() -> PaymentsSettings:
    settings = PaymentsSettings()
    configure_logging(settings.log_level, settings.log_json)
    return settings


@cli.command()
def serve() -> None:
    """Serve the Stripe webhook endpoint, /healthz and /metrics on PAYMENTS_HOST:PAYMENTS_PORT."""
    settings = _settings()

    from payments.api.app import create_app

    serve_http(create_app(settings), settings.host, settings.port)


@cli.command()
def work() -> None:
    """Consume payment requests, charge each once, publish the results (outbox relay)."""
    settings = _settings()
    from payments.entrypoints import run_worker

    run_until_signal(lambda stop: run_worker(settings, stop))


@cli.command()
def notify() -> None:
    """Consume the ledger's notifications and send the reminder e-mails."""
    settings = _settings()
    from payments.entrypoints import run_notifier

    run_until_signal(lambda stop: run_notifier(settings, stop))


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
    settings = _settings()
    from payments.gateways.sepa_file import Batch, build_batch, creditor_from
    from shared.database import create_engine

    creditor = creditor_from(settings)

    async def main() -> Batch | None:
        engine = create_engine(settings.database_url, pool_size=2)
        try:
            return await build_batch(
                engine, creditor, date.fromisoformat(day), settings.sepa_lead_business_days
            )
        finally:
            await engine.dispose()

    batch = asyncio.run(main())
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
    settings = _settings()
    from payments.gateways.sepa_file import import_bank_file
    from shared.database import create_engine

    document = file.read_bytes()

    async def main() -> list[tuple[str, str]]:
        engine = create_engine(settings.database_url, pool_size=2)
        try:
            changes = await import_bank_file(engine, document, datetime.now(UTC))
            return [(request_id, str(status)) for request_id, status in changes]
        finally:
            await engine.dispose()

    try:
        changes = asyncio.run(main())
    except ValueError as exc:
        print(f"{file}: {exc}", file=sys.stderr)
        raise typer.Exit(1) from exc
    for request_id, status in changes:
        print(f"{request_id}: {status}")
    print(f"{len(changes)} payments changed")


if __name__ == "__main__":
    run_refusing_weak_secrets(cli)
