"""RFC 9457 problem details for every HTTP error, with the field at fault where there is one."""

from collections.abc import Callable, Iterable
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.database import database_unavailable

PROBLEM_JSON = "application/problem+json"
# What a client is told to wait before it tries again when the database is out of reach.
UNAVAILABLE_RETRY_AFTER_SECONDS = 2


class Problem(Exception):
    """An error the API reports as problem details (raise it from any route or service)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type: str = "about:blank",
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.errors = errors
        self.headers = headers
        # RFC 9457 extension members: more facts of the problem, beside the standard ones.
        self.extensions = extensions or {}

    def body(self, instance: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "instance": instance,
        }
        if self.detail is not None:
            body["detail"] = self.detail
        if self.errors is not None:
            body["errors"] = self.errors
        return {**self.extensions, **body}


def invalid(field: str, message: str) -> Problem:
    """422 for one bad field, named by its JSON path (e.g. `$.price.tiers[1].up_to`)."""
    return Problem(
        422,
        "Unprocessable Content",
        f"{field}: {message}",
        type="https://mailbill.dev/problems/invalid-request",
        errors=[{"field": field, "message": message}],
    )


def not_found(what: str) -> Problem:
    return Problem(404, "Not Found", f"{what} not found")


def database_unavailable_problem() -> Problem:
    """503 while the database is out of reach or has no connection free: nothing was done,
    and the same request may be sent again (a 500 would say the request itself is at fault)."""
    return Problem(
        503,
        "Service Unavailable",
        "the database cannot be reached right now; nothing was done, try again",
        type="https://mailbill.dev/problems/database-unavailable",
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
    )


def _json_path(location: tuple[Any, ...]) -> str:
    # FastAPI reports ("body", "price", "tiers", 1); the client sent the body, so drop that part.
    parts = list(location)
    if parts and parts[0] == "body":
        parts = parts[1:]
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _response(problem: Problem, request: Request) -> JSONResponse:
    return JSONResponse(
        problem.body(request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error the app raises leave as problem details."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return _response(exc, request)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"field": _json_path(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "$", "message": "invalid request"}
        problem = Problem(
            422,
            "Unprocessable Content",
            f"{first['field']}: {first['message']}",
            type="https://mailbill.dev/problems/invalid-request",
            errors=errors,
        )
        return _response(problem, request)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        problem = Problem(exc.status_code, _title(exc.status_code), str(exc.detail))
        return _response(problem, request)

    async def on_database_error(request: Request, exc: Exception) -> JSONResponse:
        if not database_unavailable(exc):
            raise exc  # a fault of this service: a 500, logged as one
        return _response(database_unavailable_problem(), request)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    # asyncpg's own errors (the ledger's read pool) and SQLAlchemy's; connection refused.
    for kind in (SQLAlchemyError, asyncpg.PostgresError, OSError, TimeoutError):
        app.add_exception_handler(kind, on_database_error)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, as every error of the services reads."""

    type: str
    title: str
    status: int
    instance: str
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


_PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}
_DESCRIPTIONS = {
    400: "Unreadable request (e.g. a body that is not UTF-8 JSON, a bad Content-Length).",
    401: "No bearer token, or an unknown one.",
    403: "The token may not do this.",
    404: "No such resource (or not the caller's).",
    409: "Conflicts with what exists.",
    413: "The request body is over the service's limit.",
    422: "Invalid request; `errors[].field` says where.",
    503: "Busy, or the database is out of reach; try again after `Retry-After` seconds.",
}

# Which error statuses an operation may answer, beyond what its route declares.
ProblemRule = Callable[[str, str, dict[str, Any]], Iterable[int]]


def document_problems(app: FastAPI, rule: ProblemRule) -> None:
    """Make the OpenAPI document tell the truth about errors: every 4xx/5xx answer is
    `application/problem+json` (FastAPI would say `application/json` and its own validation
    shape), and each operation lists the statuses `rule(method, path, operation)` names."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        document = generate()
        if first:
            document.setdefault("components", {}).setdefault("schemas", {})["ProblemDetails"] = (
                ProblemDetails.model_json_schema()
            )
            for path, operations in document.get("paths", {}).items():
                for method, operation in operations.items():
                    _document_operation(method, path, operation, rule)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _document_operation(
    method: str, path: str, operation: dict[str, Any], rule: ProblemRule
) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for extra in rule(method.upper(), path, operation):
        responses.setdefault(str(extra), {"description": _DESCRIPTIONS.get(extra, "Error")})
    for status, response in responses.items():
        if status.isdigit() and int(status) >= 400:
            examples = response.get("content", {}).get("application/json", {}).get("examples")
            content: dict[str, Any] = {"schema": _PROBLEM_REF}
            if examples:
                content["examples"] = examples
            response["content"] = {PROBLEM_JSON: content}
            if status == "401":
                response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
            if status == "503":
                response["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
