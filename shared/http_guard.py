"""What every request passes before the app reads a byte of its body: a size limit, a refusal
of U+0000 in the URL, and (where a service asks for it) authentication.

A pure ASGI middleware, because FastAPI reads a declared body before it runs any dependency:
a token check in a dependency comes too late to spare the memory and time of a huge body.
"""

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.database import database_unavailable
from shared.problems import PROBLEM_JSON, Problem, database_unavailable_problem, invalid
from shared.text import NUL, NUL_MESSAGE

# A service's check of the caller, from the headers alone; a Problem refuses the request.
Authenticate = Callable[[Scope], Awaitable[Problem | None]]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


def body_too_large(limit: int) -> Problem:
    return Problem(
        413,
        "Content Too Large",
        f"the request body may be at most {limit} bytes",
        type="https://mailbill.dev/problems/body-too-large",
    )


class RequestGuard:
    """Refuses, before the body is read: a declared Content-Length over the limit (413), U+0000
    in the path or query (422), a caller `authenticate` turns away (e.g. 401). A body without a
    length (chunked) is counted as it streams and cut at the limit with 413."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, authenticate: Authenticate | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = _declared_length_refusal(scope, self.max_body_bytes) or _nul_in_url(scope)
        if refusal is None and self.authenticate is not None:
            try:
                refusal = await self.authenticate(scope)
            except Exception as exc:
                # A partner's token is looked up in the database: out of reach, it is a 503.
                if not database_unavailable(exc):
                    raise
                refusal = database_unavailable_problem()
        if refusal is not None:
            await send_problem(scope, send, refusal)
            return
        await self._within_limit(scope, receive, send)

    async def _within_limit(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_body_bytes
        received = 0
        cut = False
        answered = False

        async def counted_receive() -> Message:
            nonlocal received, cut
            if cut:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # The app sees a client that went away; the guard answers for it below.
                    cut = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if cut:
                return  # whatever the app makes of the cut body, the answer is 413
            if message["type"] == "http.response.start":
                answered = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not cut:
                raise
        if cut and not answered:
            await send_problem(scope, send, body_too_large(limit))


def _declared_length_refusal(scope: Scope, limit: int) -> Problem | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                return Problem(400, "Bad Request", "Content-Length is not a number")
            if declared > limit:
                return body_too_large(limit)
    return None


def _nul_in_url(scope: Scope) -> Problem | None:
    # PostgreSQL cannot store U+0000 in text; refuse it before it reaches a query (a 500).
    # Named as the services name parameters in their 422s (`$.query.after`); the route, and
    # so the name of a path parameter, is not known yet here.
    if NUL in scope["path"]:
        return invalid("$.path", NUL_MESSAGE)
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if NUL in name or NUL in value:
            return invalid(f"$.query.{name}".replace(NUL, "\\u0000"), NUL_MESSAGE)
    return None


def bearer_token(scope: Scope) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            header: str = value.decode("latin-1")
            scheme, _, token = header.partition(" ")
            if scheme.lower() == "bearer" and token:
                return token
    return None


async def send_problem(scope: Scope, send: Send, problem: Problem) -> None:
    """Answer with problem details straight from the middleware (no app involved)."""
    body = orjson.dumps(problem.body(scope.get("path", "")))
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        *[(k.lower().encode(), v.encode()) for k, v in (problem.headers or {}).items()],
    ]
    if problem.status == 413:
        # The unread body still sits in the connection; do not reuse it.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
