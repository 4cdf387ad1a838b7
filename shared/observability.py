"""`/healthz` and `/metrics`, the same on every service."""

import time
from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request", ["service", "route"]
)

HealthCheck = Callable[[], Awaitable[None]]


class Health(BaseModel):
    """`GET /healthz`'s body (for the OpenAPI document; the route writes it by hand)."""

    status: Literal["ok", "unavailable"]
    service: str
    reason: str | None = None


class RequestMetrics:
    """Counts and times requests; plain ASGI because it sits on every request's path."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def remember_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, remember_status)
        finally:
            # The route template, not the raw path, keeps label cardinality bounded.
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(self.service, scope["method"], route, str(status)).inc()
            HTTP_LATENCY.labels(self.service, route).observe(time.perf_counter() - started)


def install_observability(app: FastAPI, service: str, health_check: HealthCheck) -> None:
    """Add request metrics, `GET /metrics` and `GET /healthz` (503 when `health_check` raises)."""

    app.add_middleware(RequestMetrics, service=service)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["operations"], responses={200: {"model": Health}})
    async def healthz() -> Response:
        try:
            await health_check()
        except Exception as exc:
            return Response(
                f'{{"status":"unavailable","service":"{service}","reason":"{type(exc).__name__}"}}',
                status_code=503,
                media_type="application/json",
            )
        return Response(f'{{"status":"ok","service":"{service}"}}', media_type="application/json")
