"""`python -m pricing serve|migrate`."""

import typer
import uvicorn

from pricing.migrations import MIGRATIONS_DIR
from pricing.settings import PricingSettings
from shared import migrations
from shared.logging import configure_logging

cli = typer.Typer(help="The pricing service.", no_args_is_help=True)


@cli.command()
def serve() -> None:
    """Serve the HTTP API on PRICING_HOST:PRICING_PORT."""
    settings = PricingSettings()
    configure_logging(settings.log_level, settings.log_json)
    from pricing.api.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
    )


@cli.command()
def migrate(revision: str = "head") -> None:
    """Apply the database migrations up to REVISION."""
    settings = PricingSettings()
    configure_logging(settings.log_level, settings.log_json)
    migrations.upgrade(MIGRATIONS_DIR, settings.database_url, revision)


if __name__ == "__main__":
    cli()
