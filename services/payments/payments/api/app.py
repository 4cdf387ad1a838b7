"""`create_app(settings)`: the Stripe webhook endpoint, `/healthz` and `/metrics`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, Header, Request

from payments.adapters.stripe_gateway import InvalidWebhook
from payments.api.schemas import WebhookReceipt
from payments.bootstrap import PaymentsContainer, bootstrap
from payments.service_layer.webhooks import apply_stripe_event
from payments.settings import PaymentsSettings
from shared.database import ping
from shared.http_guard import RequestGuard
from shared.observability import install_observability
from shared.problems import Problem, document_problems, install_problem_handlers


def create_app(
    settings: PaymentsSettings | None = None, container: PaymentsContainer | None = None
) -> FastAPI:
    """The app on a container of its own (closed when the app stops), or on `container`
    (closed by whoever built it)."""
    owned = container is None
    wired = container or bootstrap(settings or PaymentsSettings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            await wired.close()

    app = FastAPI(
        title="mailbill payments",
        version="1.0.0",
        summary="Stripe webhooks for the payment worker.",
        lifespan=lifespan,
    )
    app.state.container = wired
    install_problem_handlers(app)
    # Inside the metrics middleware (added before it), so refusals are counted too.
    app.add_middleware(RequestGuard, max_body_bytes=wired.settings.max_body_bytes)
    install_observability(app, "payments", lambda: ping(wired.engine))

    @app.post("/v1/webhooks/stripe", tags=["webhooks"])
    async def stripe_webhook(
        request: Request, stripe_signature: str | None = Header(default=None)
    ) -> WebhookReceipt:
        """Verify Stripe's signature, then apply the event once (by event id)."""
        try:
            event = wired.verify_webhook(await request.body(), stripe_signature)
        except InvalidWebhook as exc:
            raise Problem(400, "Bad Request", f"webhook refused: {exc}") from exc
        async with wired.unit_of_work() as uow:
            status = await apply_stripe_event(uow, event, datetime.now(UTC))
        return WebhookReceipt(received=True, event_id=event["id"], result=status)

    document_problems(app, problems_of_operation)
    return app


def problems_of_operation(method: str, path: str, operation: dict[str, object]) -> list[int]:
    """The webhook refuses a body without Stripe's valid signature (400) and one over the
    size limit (413), and answers 503 while the database is out of reach (Stripe then sends
    it again); the other routes answer no problem of their own."""
    return [400, 413, 503] if path == "/v1/webhooks/stripe" else []
