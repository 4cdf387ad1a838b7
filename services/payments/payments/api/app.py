"""`create_app(settings)`: the Stripe webhook endpoint, `/healthz` and `/metrics`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import stripe
from fastapi import FastAPI, Header, Request

from payments.settings import PaymentsSettings
from payments.webhooks import apply_event
from shared.database import create_engine, ping, sessionmaker_for
from shared.http_guard import RequestGuard
from shared.observability import install_observability
from shared.problems import Problem, install_problem_handlers


def create_app(settings: PaymentsSettings | None = None) -> FastAPI:
    settings = settings or PaymentsSettings()
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(
        title="mailbill payments",
        version="1.0.0",
        summary="Stripe webhooks for the payment worker.",
        lifespan=lifespan,
    )
    app.state.sessionmaker = sessionmaker_for(engine)
    install_problem_handlers(app)
    # Inside the metrics middleware (added before it), so refusals are counted too.
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    install_observability(app, "payments", lambda: ping(engine))

    @app.post("/v1/webhooks/stripe", tags=["webhooks"])
    async def stripe_webhook(
        request: Request, stripe_signature: str | None = Header(default=None)
    ) -> dict[str, Any]:
        """Verify Stripe's signature, then apply the event once (by event id)."""
        payload = await request.body()
        try:
            verified = stripe.Webhook.construct_event(
                payload.decode("utf-8"),
                stripe_signature,
                settings.stripe_webhook_secret,
                settings.stripe_webhook_tolerance_seconds,
            )
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise Problem(400, "Bad Request", f"webhook refused: {exc}") from exc
        event: dict[str, Any] = verified.to_dict()
        if "id" not in event or "type" not in event:
            raise Problem(400, "Bad Request", "webhook refused: not a Stripe event")
        async with engine.begin() as connection:
            status = await apply_event(connection, event, datetime.now(UTC))
        return {"received": True, "event_id": event["id"], "result": status}

    return app
