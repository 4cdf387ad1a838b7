"""`python -m pricing serve|migrate`."""

import typer

from pricing.migrations import MIGRATIONS_DIR
from pricing.settings import PricingSettings
from shared import migrations
from shared.logging import configure_logging
from shared.secrets import run_refusing_weak_secrets
from shared.serving import serve_http

cli = typer.Typer(help="The pricing service.", no_args_is_help=True)


@cli.command()
def serve() -> None:
    """Serve the HTTP API on PRICING_HOST:PRICING_PORT."""
    settings = PricingSettings()
    configure_logging(settings.log_level, settings.log_json)
    from pricing.api.app import create_app

    serve_http(create_app(settings), settings.host, settings.port)


@cli.command()
def migrate(revision: str = "head") -> None:
    """Apply the database migrations up to REVISION."""
    settings = PricingSettings()
    configure_logging(settings.log_level, settings.log_json)
    migrations.upgrade(MIGRATIONS_DIR, settings.database_url, revision)


if __name__ == "__main__":
    run_refusing_weak_secrets(cli)
