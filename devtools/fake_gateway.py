"""An in-process gateway for what the local Stripe server cannot produce: declines with a
specific `decline_code`, `authentication_required` as Stripe answers it (402), outages, and
answers for SEPA returns. It behaves like Stripe where it matters: idempotent by key."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from payments.domain.outcomes import Outcome
from payments.domain.requests import PaymentRequest

Script = Callable[[PaymentRequest], Outcome]


@dataclass
class FakeGateway:
    """`script` decides each new charge's outcome, or raises `GatewayUnavailable` for an
    outage (then nothing was charged)."""

    name: str = "stripe"
    script: Script = lambda request: Outcome("succeeded", f"pi_fake_{request.request_id}")
    charges: list[str] = field(default_factory=list)  # idempotency keys that charged
    calls: list[tuple[str, str]] = field(default_factory=list)  # (operation, key)
    _answers: dict[str, Outcome] = field(default_factory=dict)

    async def charge(self, request: PaymentRequest, idempotency_key: str) -> Outcome:
        self.calls.append(("charge", idempotency_key))
        if idempotency_key not in self._answers:
            self._answers[idempotency_key] = self.script(request)
            self.charges.append(idempotency_key)
        return self._answers[idempotency_key]

    async def lookup(
        self, request: PaymentRequest, idempotency_key: str, since: datetime
    ) -> Outcome | None:
        self.calls.append(("lookup", idempotency_key))
        return self._answers.get(idempotency_key)
