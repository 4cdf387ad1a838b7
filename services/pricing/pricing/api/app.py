"""The pricing service's FastAPI app: `create_app(settings)` with a lifespan owning the engine."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pricing.api.routes import router
from pricing.api.schemas import install_openapi
from pricing.bootstrap import bootstrap
from pricing.domain import PricingError
from pricing.service import Conflict, status_of
from pricing.settings import PricingSettings
from shared.database import ping
from shared.http_guard import RequestGuard
from shared.observability import install_observability
from shared.problems import (
    PROBLEM_JSON,
    Problem,
    document_problems,
    install_problem_handlers,
    invalid,
)


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
    )
    app.state.container = container
    app.state.sessionmaker = container.sessionmaker
    install_problem_handlers(app)
    install_pricing_problems(app)
    # Added before the metrics middleware, so it sits inside it: refusals are counted too.
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    install_observability(app, "pricing", lambda: ping(container.engine))
    app.include_router(router)
    install_openapi(app, router)
    document_problems(app, problems_of_operation)
    return app


def problems_of_operation(method: str, path: str, operation: dict[str, Any]) -> list[int]:
    """Error statuses every operation may answer besides those its route declares: any URL may
    be refused (U+0000, a bad parameter) and any body may be too large."""
    statuses = [422] if path.startswith("/v1/") else []
    if "requestBody" in operation:
        statuses.append(413)
    return statuses


def problem_of(error: PricingError) -> Problem:
    """The problem details of a pricing error: its path becomes `errors[0].field`."""
    if status_of(error) == 422:
        return invalid(error.path, error.message)
    return Problem(
        404,
        "Not Found",
        error.message,
        type="https://mailbill.dev/problems/not-found",
        errors=[{"field": error.path, "message": error.message}],
    )


def install_pricing_problems(app: FastAPI) -> None:
    """Answer the service's errors as RFC 9457 problems: 422/404 with the field, 409."""

    def respond(problem: Problem, request: Request) -> JSONResponse:
        return JSONResponse(
            problem.body(request.url.path), status_code=problem.status, media_type=PROBLEM_JSON
        )

    async def on_pricing_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PricingError)
        return respond(problem_of(exc), request)

    async def on_conflict(request: Request, exc: Exception) -> JSONResponse:
        problem = Problem(409, "Conflict", str(exc), type="https://mailbill.dev/problems/conflict")
        return respond(problem, request)

    app.add_exception_handler(PricingError, on_pricing_error)
    app.add_exception_handler(Conflict, on_conflict)
