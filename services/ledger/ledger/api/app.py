"""The ledger's FastAPI app: `create_app(settings)`, a lifespan owning the engine and clients."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ledger.api import customer_billing
from ledger.api.routes import router
from ledger.bootstrap import bootstrap
from ledger.domain import Conflict, InvalidCommand, LedgerError, NotFound, Refused
from ledger.service_layer.commands import IdempotencyConflict
from ledger.settings import LedgerSettings
from shared.database import ping
from shared.observability import install_observability
from shared.problems import PROBLEM_JSON, Problem, install_problem_handlers


def problem_for(error: LedgerError) -> Problem:
    """Domain errors as problem details; `type` carries the error's stable code."""
    status, title = 500, "Internal Server Error"
    if isinstance(error, InvalidCommand):
        status, title = 422, "Unprocessable Content"
    elif isinstance(error, NotFound):
        status, title = 404, "Not Found"
    elif isinstance(error, Conflict | Refused):
        status, title = 409, "Conflict"
    return Problem(status, title, str(error), type=f"https://mailbill.dev/problems/{error.code}")


def create_app(settings: LedgerSettings | None = None) -> FastAPI:
    settings = settings or LedgerSettings()
    container = bootstrap(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await container.close()

    app = FastAPI(
        title="mailbill ledger",
        version="1.0.0",
        summary="Partner credit accounts: balances, history, billing settings, purchases, holds;"
        " customers' usage, resale contracts and statements.",
        lifespan=lifespan,
    )
    app.state.container = container
    install_problem_handlers(app)
    install_observability(app, "ledger", lambda: ping(container.engine))

    async def on_ledger_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, LedgerError)
        problem = problem_for(exc)
        return JSONResponse(
            problem.body(request.url.path), status_code=problem.status, media_type=PROBLEM_JSON
        )

    async def on_idempotency_conflict(request: Request, exc: Exception) -> JSONResponse:
        problem = Problem(
            409,
            "Conflict",
            f"Idempotency-Key {exc} was used before with a different request",
            type="https://mailbill.dev/problems/idempotency_key_reused",
        )
        return JSONResponse(
            problem.body(request.url.path), status_code=409, media_type=PROBLEM_JSON
        )

    app.add_exception_handler(LedgerError, on_ledger_error)
    app.add_exception_handler(IdempotencyConflict, on_idempotency_conflict)
    app.include_router(router)
    app.include_router(customer_billing.router)
    return app
