"""The composition root: settings in, wired adapters out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from pricing.adapters.memory import InMemoryPriceLists
from pricing.adapters.postgres import PostgresPriceLists
from pricing.adapters.version_cache import VersionCache
from pricing.service_layer import PricingService
from pricing.settings import PricingSettings
from shared.database import create_engine, sessionmaker_for

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker


@dataclass
class PricingContainer:
    """What lives as long as the process: the engine and the cache of parsed versions."""

    settings: PricingSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    versions: VersionCache = field(default_factory=VersionCache)

    def service(self, session: AsyncSession) -> PricingService:
        """The use cases on one request's session."""
        return PricingService(PostgresPriceLists(session), self.versions)

    async def close(self) -> None:
        """Close the database connections."""
        await self.engine.dispose()


def bootstrap(settings: PricingSettings) -> PricingContainer:
    """Build the container from settings (the engine connects lazily)."""
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    return PricingContainer(settings, engine, sessionmaker_for(engine))


def in_memory_service(clock: Callable[[], datetime]) -> PricingService:
    """The use cases on an empty in-memory repository (the OpenAPI document's examples)."""
    return PricingService(InMemoryPriceLists(), VersionCache(), clock)
