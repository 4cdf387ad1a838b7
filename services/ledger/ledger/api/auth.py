"""Bearer tokens: the ops token may do everything; a partner token only its own partner.

Another partner's resources answer 404, not 403, so a token cannot probe which partners exist.
The token is checked by :func:`authenticate` in the request guard, before FastAPI reads the
body; the route's dependency then takes the caller it found.
"""

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Scope

from shared.http_guard import bearer_token
from shared.problems import Problem, not_found


@dataclass(frozen=True, slots=True)
class Caller:
    partner_id: str | None  # None: ops

    @property
    def is_ops(self) -> bool:
        return self.partner_id is None

    @property
    def actor(self) -> str:
        return "ops" if self.partner_id is None else f"partner:{self.partner_id}"

    def require_partner(self, partner_id: str) -> None:
        if not self.is_ops and self.partner_id != partner_id:
            raise not_found(f"partner {partner_id!r}")

    def require_ops(self) -> None:
        if not self.is_ops:
            raise Problem(403, "Forbidden", "only ops may do this")


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


async def _caller_of(scope: Scope) -> Caller | Problem:
    token = bearer_token(scope)
    if token is None:
        return _unauthorized("send Authorization: Bearer <token>")
    container = scope["app"].state.container
    if hmac.compare_digest(token.encode(), container.settings.ops_token.encode()):
        return Caller(None)
    partner_id = await container.tokens.partner_for(token)
    if partner_id is None:
        return _unauthorized("unknown token")
    return Caller(partner_id)


async def authenticate(scope: Scope) -> Problem | None:
    """The request guard's check of every `/v1/` request; keeps the caller for the route."""
    if not scope["path"].startswith("/v1/"):
        return None
    caller = await _caller_of(scope)
    if isinstance(caller, Problem):
        return caller
    scope.setdefault("state", {})["caller"] = caller
    return None


_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="Token",
    description="The ops token (`LEDGER_OPS_TOKEN`) or a partner's token.",
)


async def current_caller(
    request: Request,
    # Declared for the OpenAPI document (the security scheme); the guard read the header.
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> Caller:
    caller = getattr(request.state, "caller", None)
    if isinstance(caller, Caller):
        return caller
    # Not through the guard (an app without it): check here, later but still checked.
    found = await _caller_of(request.scope)
    if isinstance(found, Problem):
        raise found
    return found


CurrentCaller = Annotated[Caller, Depends(current_caller)]
