"""Bearer tokens: the ops token may do everything; a partner token only its own partner.

Another partner's resources answer 404, not 403, so a token cannot probe which partners exist.
"""

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

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


async def current_caller(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("send Authorization: Bearer <token>")
    container = request.app.state.container
    if hmac.compare_digest(token.encode(), container.settings.ops_token.encode()):
        return Caller(None)
    partner_id = await container.tokens.partner_for(token)
    if partner_id is None:
        raise _unauthorized("unknown token")
    return Caller(partner_id)


CurrentCaller = Annotated[Caller, Depends(current_caller)]
