"""The composition root: settings in, wired adapters out. Tests pass their own gateways."""

from collections.abc import Mapping
from dataclasses import dataclass

import stripe
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.gateways import Gateway
from payments.gateways.sepa_file import SepaFileGateway
from payments.gateways.stripe_gateway import StripeGateway, create_client
from payments.settings import PaymentsSettings
from payments.worker import PaymentDriver, RequestRecorder
from shared.database import create_engine


@dataclass
class PaymentsContainer:
    settings: PaymentsSettings
    engine: AsyncEngine
    stripe: stripe.StripeClient
    gateways: Mapping[str, Gateway]

    def recorder(self) -> RequestRecorder:
        return RequestRecorder(
            self.settings.minimum_charge_minor, self.settings.declines_per_method_30_days
        )

    def driver(self) -> PaymentDriver:
        s = self.settings
        return PaymentDriver(
            self.engine,
            self.gateways,
            retry_base_seconds=s.retry_base_seconds,
            retry_max_seconds=s.retry_max_seconds,
            concurrency=s.driver_concurrency,
            hold_after_gateway=s.test_hold_after_gateway,
        )

    async def close(self) -> None:
        await self.engine.dispose()


def sepa_countries(settings: PaymentsSettings) -> frozenset[str]:
    return frozenset(c.strip().upper() for c in settings.sepa_countries.split(",") if c.strip())


def bootstrap(
    settings: PaymentsSettings, gateways: Mapping[str, Gateway] | None = None
) -> PaymentsContainer:
    """Wire everything from `settings`; `gateways` replaces the real ones by name."""
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    client = create_client(
        settings.stripe_api_key, settings.stripe_api_base, settings.stripe_timeout_seconds
    )
    wired: dict[str, Gateway] = {
        "stripe": StripeGateway(client),
        "sepa_file": SepaFileGateway(
            engine,
            countries=sepa_countries(settings),
            lead_business_days=settings.sepa_lead_business_days,
        ),
    }
    wired.update(gateways or {})
    return PaymentsContainer(settings, engine, client, wired)
