"""The composition root: settings in, wired adapters out. Tests build one with their settings."""

from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ledger.adapters.pricing_client import PricingClient
from ledger.ingest import MailingSentHandler
from ledger.payment_results import PaymentResultHandler
from ledger.settings import LedgerSettings
from shared.database import create_engine, sessionmaker_for


@dataclass
class LedgerContainer:
    settings: LedgerSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    pricing: PricingClient

    def mailing_sent_handler(self) -> MailingSentHandler:
        return MailingSentHandler(
            self.pricing,
            self.settings.minimum_charge_minor,
            timedelta(seconds=self.settings.max_sent_at_ahead_seconds),
        )

    def payment_result_handler(self) -> PaymentResultHandler:
        return PaymentResultHandler()

    async def close(self) -> None:
        await self.http.aclose()
        await self.engine.dispose()


def bootstrap(settings: LedgerSettings) -> LedgerContainer:
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    http = httpx.AsyncClient(base_url=settings.pricing_url, timeout=httpx.Timeout(10.0))
    return LedgerContainer(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker_for(engine),
        http=http,
        pricing=PricingClient(http),
    )
