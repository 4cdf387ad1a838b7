"""The service's errors as RFC 9457 problem details: 422/404 with the field, 409."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pricing.domain import PricingError
from pricing.service_layer.errors import Conflict, status_of
from shared.problems import PROBLEM_JSON, Problem, ProblemDetails, invalid

PROBLEMS: dict[int | str, dict[str, Any]] = {
    422: {"model": ProblemDetails, "description": "Invalid request; `errors[].field` says where."}
}
ADMIN_ONLY: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ProblemDetails,
        "description": "No `Authorization: Bearer <PRICING_ADMIN_TOKEN>`, or another token.",
    }
}


def not_found(description: str) -> dict[int | str, dict[str, Any]]:
    """``responses`` of a route that may answer 404 (and 422)."""
    return {**PROBLEMS, 404: {"model": ProblemDetails, "description": description}}


def conflict(description: str) -> dict[int | str, dict[str, Any]]:
    """``responses`` of a write that may answer 409."""
    return {409: {"model": ProblemDetails, "description": description}}


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
