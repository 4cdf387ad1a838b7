"""RFC 9457 problem details for every HTTP error, with the field at fault where there is one."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"


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
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.errors = errors
        self.headers = headers

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
        return body


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

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
