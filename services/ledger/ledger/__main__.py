"""`python -m ledger serve|consume|relay|migrate`: the ledger's processes."""

import typer

from ledger.migrations import MIGRATIONS_DIR
from ledger.settings import LedgerSettings
from shared import migrations
from shared.logging import configure_logging
from shared.messaging.runtime import run_until_signal
from shared.secrets import run_refusing_weak_secrets
from shared.serving import serve_http

cli = typer.Typer(help="The ledger service.", no_args_is_help=True)


def _settings() -> LedgerSettings:
    settings = LedgerSettings()
    configure_logging(settings.log_level, settings.log_json)
    return settings


@cli.command()
def serve() -> None:
    """Serve the HTTP API on LEDGER_HOST:LEDGER_PORT."""
    settings = _settings()
    from ledger.api.app import create_app

    serve_http(create_app(settings), settings.host, settings.port)


@cli.command()
def consume() -> None:
    """Consume mailing.sent and payments.results; each message takes effect exactly once."""
    settings = _settings()
    from ledger.entrypoints import run_consumers

    run_until_signal(lambda stop: run_consumers(settings, stop))


@cli.command()
def relay() -> None:
    """Publish the outbox to Kafka and expire reservations whose time is up."""
    settings = _settings()
    from ledger.entrypoints import run_relay_and_expiry

    run_until_signal(lambda stop: run_relay_and_expiry(settings, stop))


@cli.command()
def migrate(revision: str = "head") -> None:
    """Apply the database migrations up to REVISION."""
    settings = _settings()
    migrations.upgrade(MIGRATIONS_DIR, settings.database_url, revision)


def _ops() -> typer.Typer:
    from ledger.ops import ops

    return ops


cli.add_typer(_ops(), name="ops", help="Ops tools: replay, audit export/verify, reingest.")

if __name__ == "__main__":
    run_refusing_weak_secrets(cli)
