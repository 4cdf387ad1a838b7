"""The pricing service's FastAPI app: `create_app(settings)` with a lifespan owning the engine."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from pricing.bootstrap import bootstrap
from pricing.settings import PricingSettings
from shared.database import ping
from shared.observability import install_observability
from shared.problems import install_problem_handlers


def create_app(settings: PricingSettings | None = None) -> FastAPI:
    settings = settings or PricingSettings()
    container = bootstrap(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await container.close()

    app = FastAPI(
        title="mailbill pricing",
        version="1.0.0",
        summary="Price models, versioned price lists and quotes.",
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.sessionmaker = container.sessionmaker
    install_problem_handlers(app)
    install_observability(app, "pricing", lambda: ping(container.engine))
    return app
