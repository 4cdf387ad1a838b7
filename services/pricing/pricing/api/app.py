"""The pricing service's FastAPI app: `create_app(settings)` with a lifespan owning the engine."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from pricing.api.openapi import EXAMPLES_AT, install_openapi
from pricing.api.problems import install_pricing_problems
from pricing.api.routes import router
from pricing.bootstrap import bootstrap, in_memory_service
from pricing.settings import PricingSettings
from shared.database import ping
from shared.http_guard import RequestGuard
from shared.observability import install_observability
from shared.problems import document_problems, install_problem_handlers


def create_app(settings: PricingSettings | None = None) -> FastAPI:
    """The app on its own engine (connected lazily, disposed when the app stops)."""
    settings = settings or PricingSettings()
    container = bootstrap(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything alive now (modules, the app) lives as long as the process: keep it out
        # of the collector's full passes, which otherwise walk it again and again (a batch
        # quote allocates enough to trigger one every few calls, ~70 ms each).
        gc.freeze()
        yield
        await container.close()

    app = FastAPI(
        title="mailbill pricing",
        version="1.0.0",
        summary="Price models, versioned price lists and quotes.",
        lifespan=lifespan,
        # One schema per model for requests and answers alike (the routes encode their
        # answers themselves; the models only document them).
        separate_input_output_schemas=False,
    )
    app.state.container = container
    app.state.sessionmaker = container.sessionmaker
    install_problem_handlers(app)
    install_pricing_problems(app)
    # Added before the metrics middleware, so it sits inside it: refusals are counted too.
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    install_observability(app, "pricing", lambda: ping(container.engine))
    app.include_router(router)
    install_openapi(app, lambda: in_memory_service(lambda: EXAMPLES_AT))
    document_problems(app, problems_of_operation)
    return app


def problems_of_operation(method: str, path: str, operation: dict[str, Any]) -> list[int]:
    """Error statuses every operation may answer besides those its route declares: any URL may
    be refused (U+0000, a bad parameter), any body may be too large, and any may find the
    database out of reach (503)."""
    statuses = [422, 503] if path.startswith("/v1/") else []
    if "requestBody" in operation:
        statuses.append(413)
    return statuses
