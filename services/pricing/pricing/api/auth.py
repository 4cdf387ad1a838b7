"""The admin token: creating a price list or adding a version changes what every mailing costs
from its `effective_from` on, so only a holder of `PRICING_ADMIN_TOKEN` may do it.

A dependency is early enough here: the pricing routes read their bodies themselves, after it.
"""

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.problems import Problem

_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="`Authorization: Bearer <PRICING_ADMIN_TOKEN>`; needed for price list writes.",
)


async def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> None:
    """Refuse with 401 unless the request carries the admin token (compared in constant time)."""
    expected: str = request.app.state.container.settings.admin_token
    if credentials is None or not hmac.compare_digest(
        credentials.credentials.encode(), expected.encode()
    ):
        raise Problem(
            401,
            "Unauthorized",
            "price list changes need Authorization: Bearer <PRICING_ADMIN_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )


AdminOnly = Depends(require_admin)
