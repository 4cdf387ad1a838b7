"""The one interface every payment gateway implements, and the gateways behind it."""

from datetime import datetime
from typing import Protocol

from payments.domain.outcomes import Outcome
from payments.domain.requests import PaymentRequest


class GatewayUnavailable(Exception):
    """The gateway could not answer (network, 5xx, rate limit): the payment is in doubt and
    must be looked up, then tried again later with the same idempotency key."""


class Gateway(Protocol):
    """Charges a request at most once per idempotency key, and finds such a charge again."""

    name: str

    async def charge(self, request: PaymentRequest, idempotency_key: str) -> Outcome:
        """Charge once; a repeated call with the same key must not charge again. A decline is
        an outcome (`failed`); only an unanswered call raises `GatewayUnavailable`."""
        ...

    async def lookup(
        self, request: PaymentRequest, idempotency_key: str, since: datetime
    ) -> Outcome | None:
        """The payment made for this request (created at or after `since`), or None if the
        gateway has none: then charging is safe."""
        ...
