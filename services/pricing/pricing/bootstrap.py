"""The composition root: settings in, wired adapters out."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pricing.settings import PricingSettings
from shared.database import create_engine, sessionmaker_for


@dataclass
class PricingContainer:
    settings: PricingSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    async def close(self) -> None:
        await self.engine.dispose()


def bootstrap(settings: PricingSettings) -> PricingContainer:
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    return PricingContainer(settings, engine, sessionmaker_for(engine))
