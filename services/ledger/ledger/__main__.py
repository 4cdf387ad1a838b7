"""`python -m ledger serve|consume|relay|webhooks|migrate`: the ledger's processes."""

import sys

import typer

from ledger.settings import LedgerSettings
from shared.logging import configure_logging
from shared.messaging.runtime import run_until_signal
from shared.secrets import run_refusing_weak_secrets

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
    from shared.serving import serve_http

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
def webhooks() -> None:
    """Deliver the ledger's outgoing messages to partners' webhook endpoints (signed)."""
    settings = _settings()
    from ledger.webhook_worker import run_webhooks

    run_until_signal(lambda stop: run_webhooks(settings, stop))


@cli.command()
def migrate(revision: str = "head") -> None:
    """Apply the database migrations up to REVISION; then, if the events table has rows but the
    read models are empty (a database written before migration 0003), rebuild the read models
    and snapshots from the events."""
    settings = _settings()
    from ledger.migrations import MIGRATIONS_DIR
    from ledger.ops import backfill_read_models
    from shared import migrations

    migrations.upgrade(MIGRATIONS_DIR, settings.database_url, revision)
    backfill_read_models(settings)


def _ops() -> typer.Typer:
    from ledger.ops import ops

    return ops


# The long-running processes start without importing the ops tools (alembic, rich tables,
# the Stripe client): a consumer restarted after a crash is back at work sooner.
_PROCESSES = ("serve", "consume", "relay", "webhooks")
if sys.argv[1:2] not in ([p] for p in _PROCESSES):
    cli.add_typer(_ops(), name="ops", help="Ops tools: replay, audit export/verify, reingest.")

if __name__ == "__main__":
    run_refusing_weak_secrets(cli)
